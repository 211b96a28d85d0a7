"""inventory: a sequence of id blocks for the movements of a day loaded in bulk, and the
movements' (unit, clave, day) index carrying each lot's expiry and quantity

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-07 03:00:00.000000

A national day's load (``inventory.service.load_day_feed``) COPYs 25 million movements into a
table of their own; drawing each row's id from ``stock_movements``' shared sequence costs
about 30 % of that COPY. Instead each load takes one value of this sequence, the first id of a
block of 2**28 (the most rows a day's feed may have), and numbers its rows from a sequence of
its own session. Blocks start at 2**50, far above the ids the movements posted one by one will
ever reach and below 2**53, so every id stays exact in JSON. PostgreSQL only: SQLite loads a
day through the shared ids.

``ix_stock_movements_unit_clave_day`` becomes ``(unit_id, clave_id, day, lot)`` with
``expiry`` and ``quantity`` included (PostgreSQL): in a day's partition it lists the rows in the
order of the balances' key with all a lot's net change needs, so the load groups 25 million
rows by reading the index it builds anyway (an index-only scan; the COPY FREEZEs the rows, so the
visibility map is set) instead of hashing them; the 90-day series of the snapshot is read from
it alone too. SQLite gets the same key without the included columns.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0018"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

FIRST, BLOCK = 2**50, 2**28


INDEX = "ix_stock_movements_unit_clave_day"


def upgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    if postgres:
        op.execute(
            f"CREATE SEQUENCE stock_movement_blocks AS bigint START {FIRST} INCREMENT {BLOCK}"
            f" MINVALUE {FIRST} MAXVALUE {2**53 - BLOCK} NO CYCLE"
        )
        # A day's load updates millions of balances in place: room left in each page lets the
        # new version stay on it (a HOT update) instead of touching the three indexes.
        op.execute("ALTER TABLE stock_balances SET (fillfactor = 70)")
    op.drop_index(INDEX, table_name="stock_movements")
    op.create_index(
        INDEX,
        "stock_movements",
        ["unit_id", "clave_id", "day", "lot"],
        postgresql_include=["expiry", "quantity"],
    )


def downgrade() -> None:
    op.drop_index(INDEX, table_name="stock_movements")
    op.create_index(INDEX, "stock_movements", ["unit_id", "clave_id", "day"])
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE stock_balances RESET (fillfactor)")
        op.execute("DROP SEQUENCE stock_movement_blocks")
