"""inventory: the balances without an index of their own on clave_id

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-07 18:30:00.000000

Only the redistribution read a clave's balances across units, and it now finds them by the
primary key ``(unit_id, clave_id, lot)``, one probe per unit (``inventory.service
.suggest_redistribution``: 15,000 probes, about 0.07 s warm and 1.3 s cold on 15 M balances,
where the same clave's AMCs, read from ``inventory_daily``, already take longer). The index
cost a national first day 5.3–5.7 s to build (``inventory.service.load_day_feed``) and every
posting a write of its own. Going down builds it again.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0023"
down_revision: str | None = "0022"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.drop_index("ix_stock_balances_clave", table_name="stock_balances")


def downgrade() -> None:
    op.create_index("ix_stock_balances_clave", "stock_balances", ["clave_id"])
