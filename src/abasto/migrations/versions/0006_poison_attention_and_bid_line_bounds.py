"""a tender held for the buyer's attention; bid lines bounded in the database too

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-06 08:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("tenders", schema=None) as batch_op:
        batch_op.add_column(sa.Column("attention_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("attention", sa.Text(), nullable=True))
    # SQLite keeps any 64-bit integer in an INTEGER column; PostgreSQL refuses past int32. The
    # same check on both, so a line out of range fails the same way everywhere.
    with op.batch_alter_table("bid_lines", schema=None) as batch_op:
        batch_op.create_check_constraint("quantity_range", "quantity BETWEEN 1 AND 2147483647")
        batch_op.create_check_constraint("unit_price_positive", "unit_price > 0")


def downgrade() -> None:
    with op.batch_alter_table("bid_lines", schema=None) as batch_op:
        batch_op.drop_constraint("unit_price_positive", type_="check")
        batch_op.drop_constraint("quantity_range", type_="check")
    with op.batch_alter_table("tenders", schema=None) as batch_op:
        batch_op.drop_column("attention")
        batch_op.drop_column("attention_at")
