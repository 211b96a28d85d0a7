"""demand lines carry their period; a sanction keeps its notification date as published

Revision ID: 0010
Revises: 0008
Create Date: 2026-12-06 08:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # "" is the whole round, as every line was before periods; existing lines keep meaning it.
    with op.batch_alter_table("demand_lines", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("period", sa.String(length=20), nullable=False, server_default="")
        )
        batch_op.drop_constraint(
            batch_op.f("uq_demand_lines_round_id_institution_id_clave_id_unit_code"),
            type_="unique",
        )
        batch_op.create_unique_constraint(
            "uq_demand_lines_line",
            ["round_id", "institution_id", "clave_id", "unit_code", "period"],
        )
    with op.batch_alter_table("sanctions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("notified_text", sa.String(length=100), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("sanctions", schema=None) as batch_op:
        batch_op.drop_column("notified_text")
    with op.batch_alter_table("demand_lines", schema=None) as batch_op:
        batch_op.drop_constraint("uq_demand_lines_line", type_="unique")
        batch_op.create_unique_constraint(
            batch_op.f("uq_demand_lines_round_id_institution_id_clave_id_unit_code"),
            ["round_id", "institution_id", "clave_id", "unit_code"],
        )
        batch_op.drop_column("period")
