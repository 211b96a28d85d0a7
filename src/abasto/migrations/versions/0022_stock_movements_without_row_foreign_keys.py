"""inventory: stock movements and balances without per-row foreign keys on PostgreSQL

Revision ID: 0022
Revises: 0015
Create Date: 2026-12-07 00:25:00.000000

A foreign key is checked by a trigger per inserted row (a lookup of the unit and of the clave,
each locking the row it finds): on a national day of 25 million movements that is most of the
load's time (on the shared development machine an INSERT … SELECT of 300,000 rows took 13×
longer with the two keys than without). Every path that writes movements takes its unit and
clave from the database (the services resolve them; ``load_day_feed`` refuses a feed naming an
unknown one in one set-based scan before inserting), and units and claves are never deleted (a
unit is retired), so the keys are dropped on PostgreSQL from the append-only movements and from
the balances derived from them (whose first national load inserts 15 million lots). SQLite
keeps them.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0022"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_KEYS = (
    ("stock_movements", "stock_movements_unit_id_fkey", "unit_id", "units", ""),
    ("stock_movements", "stock_movements_clave_id_fkey", "clave_id", "claves", ""),
    ("stock_balances", "fk_stock_balances_unit_id_units", "unit_id", "units", " ON DELETE CASCADE"),
    ("stock_balances", "fk_stock_balances_clave_id_claves", "clave_id", "claves", ""),
)


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table, name, *_ in _KEYS:
        op.execute(f"ALTER TABLE {table} DROP CONSTRAINT IF EXISTS {name}")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table, name, column, target, action in _KEYS:
        op.execute(
            f"ALTER TABLE {table} ADD CONSTRAINT {name} FOREIGN KEY ({column})"
            f" REFERENCES {target} (id){action}"
        )
