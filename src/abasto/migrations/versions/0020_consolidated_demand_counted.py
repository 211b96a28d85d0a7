"""consolidated demand: how many institutions count in each clave's total, so the page lists
the claves without reading their breakdowns (each clave's breakdown is loaded when opened)

Revision ID: 0020
Revises: 0018
Create Date: 2026-12-07 00:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0020"
down_revision: str | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("consolidated_demand", schema=None) as batch_op:
        batch_op.add_column(sa.Column("counted", sa.Integer(), nullable=True))
    # The kept rows count their breakdown's «counted» list (JSON on both databases).
    if op.get_bind().dialect.name == "postgresql":
        length = "json_array_length(breakdown -> 'counted')"
    else:
        length = "json_array_length(breakdown, '$.counted')"
    op.execute(f"UPDATE consolidated_demand SET counted = {length}")
    with op.batch_alter_table("consolidated_demand", schema=None) as batch_op:
        batch_op.alter_column("counted", existing_type=sa.Integer(), nullable=False)


def downgrade() -> None:
    with op.batch_alter_table("consolidated_demand", schema=None) as batch_op:
        batch_op.drop_column("counted")
