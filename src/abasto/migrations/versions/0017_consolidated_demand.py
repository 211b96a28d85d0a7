"""consolidated demand kept per round: the page sorts, searches and pages it in SQL

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-07 00:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Rounds consolidated before this revision get their rows on the first read of the page.
    op.create_table(
        "consolidated_rounds",
        sa.Column("round_id", sa.Integer(), nullable=False),
        sa.Column("institutions", sa.JSON(), nullable=False),
        sa.Column("columns", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["round_id"],
            ["demand_rounds.id"],
            name=op.f("fk_consolidated_rounds_round_id_demand_rounds"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("round_id", name=op.f("pk_consolidated_rounds")),
    )
    op.create_table(
        "consolidated_demand",
        sa.Column("round_id", sa.Integer(), nullable=False),
        sa.Column("clave_id", sa.Integer(), nullable=False),
        sa.Column("clave", sa.String(length=20), nullable=False),
        sa.Column("total_min", sa.BigInteger(), nullable=False),
        sa.Column("total_max", sa.BigInteger(), nullable=False),
        sa.Column("breakdown", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["clave_id"], ["claves.id"], name=op.f("fk_consolidated_demand_clave_id_claves")
        ),
        sa.ForeignKeyConstraint(
            ["round_id"],
            ["demand_rounds.id"],
            name=op.f("fk_consolidated_demand_round_id_demand_rounds"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("round_id", "clave_id", name=op.f("pk_consolidated_demand")),
    )
    with op.batch_alter_table("consolidated_demand", schema=None) as batch_op:
        batch_op.create_index(
            "ix_consolidated_demand_round_clave", ["round_id", "clave"], unique=False
        )
        batch_op.create_index(
            "ix_consolidated_demand_round_total", ["round_id", "total_max"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("consolidated_demand", schema=None) as batch_op:
        batch_op.drop_index("ix_consolidated_demand_round_total")
        batch_op.drop_index("ix_consolidated_demand_round_clave")
    op.drop_table("consolidated_demand")
    op.drop_table("consolidated_rounds")
