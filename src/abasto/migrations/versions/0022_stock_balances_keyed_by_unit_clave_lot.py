"""inventory: the balances keyed by (unit_id, clave_id, lot), without a surrogate id

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-07 05:30:00.000000

A balance is found by its unit, clave and lot, never by an id: nothing referenced
``stock_balances.id``. A national first day (``inventory.service.load_day_feed``) inserts
15 million balances and then builds their indexes; the id cost a sequence value per row and a
whole index build beside the unique key's. The unique key ``uq_stock_balances_lot`` becomes the
primary key ``pk_stock_balances``, and ``id`` (with its sequence, on PostgreSQL) is dropped. The
CHECK, the clave's index and the two foreign keys stay. SQLite rebuilds the table (batch mode).
Going down numbers the balances again: a new serial on PostgreSQL, the rowid on SQLite.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0022"
down_revision: str | None = "0021"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLE = "stock_balances"
KEY = ["unit_id", "clave_id", "lot"]


def upgrade() -> None:
    with op.batch_alter_table(TABLE) as batch:
        batch.drop_constraint("uq_stock_balances_lot", type_="unique")
        batch.drop_constraint(op.f("pk_stock_balances"), type_="primary")
        batch.drop_column("id")
        batch.create_primary_key(op.f("pk_stock_balances"), KEY)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        # Owned by the column, as the table's first serial was: dropped with it.
        op.execute(f"ALTER TABLE {TABLE} ADD COLUMN id serial")
    else:
        op.add_column(TABLE, sa.Column("id", sa.Integer(), nullable=True))
        op.execute(f"UPDATE {TABLE} SET id = rowid")
    with op.batch_alter_table(TABLE) as batch:
        batch.drop_constraint(op.f("pk_stock_balances"), type_="primary")
        batch.alter_column("id", existing_type=sa.Integer(), nullable=False)
        batch.create_primary_key(op.f("pk_stock_balances"), ["id"])
        batch.create_unique_constraint("uq_stock_balances_lot", KEY)
