"""demand observations: lines imported as the official file has them, below the minimum share

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-06 21:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "demand_observations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("round_id", sa.Integer(), nullable=False),
        sa.Column("institution_id", sa.Integer(), nullable=False),
        sa.Column("clave_id", sa.Integer(), nullable=False),
        sa.Column("unit_code", sa.String(length=60), nullable=False),
        sa.Column("period", sa.String(length=20), nullable=False),
        sa.Column("min_qty", sa.Integer(), nullable=False),
        sa.Column("max_qty", sa.Integer(), nullable=False),
        sa.Column("expected_min", sa.Integer(), nullable=False),
        sa.Column("sheet", sa.String(length=100), nullable=False),
        sa.Column("row", sa.Integer(), nullable=False),
        sa.Column("column", sa.String(length=400), nullable=False),
        sa.Column("source", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("decided_by", sa.String(length=200), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["clave_id"], ["claves.id"], name=op.f("fk_demand_observations_clave_id_claves")
        ),
        sa.ForeignKeyConstraint(
            ["institution_id"],
            ["institutions.id"],
            name=op.f("fk_demand_observations_institution_id_institutions"),
        ),
        sa.ForeignKeyConstraint(
            ["round_id"],
            ["demand_rounds.id"],
            name=op.f("fk_demand_observations_round_id_demand_rounds"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_demand_observations")),
        sa.UniqueConstraint(
            "round_id",
            "institution_id",
            "clave_id",
            "unit_code",
            "period",
            name="uq_demand_observations_line",
        ),
    )
    with op.batch_alter_table("demand_observations", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_demand_observations_round_id"), ["round_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("demand_observations", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_demand_observations_round_id"))
    op.drop_table("demand_observations")
