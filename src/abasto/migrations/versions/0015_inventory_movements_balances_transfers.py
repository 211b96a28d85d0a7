"""inventory: stock movements (partitioned by month on PostgreSQL), balances per lot, transfers,
stock policies, Idempotency-Keys and the daily indicators

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-06 21:00:00.000000

``stock_movements`` grows by about ten million rows a national day. On PostgreSQL it is created
``PARTITION BY RANGE (day)`` with a default partition; ``abasto inventory partitions`` adds one
partition per month ahead of time (docs/scale.md), so old months are detached or dropped whole
and a query of one month reads one partition. Its primary key there is ``(id, day)``, since a
partitioned table's unique keys must hold the partitioning column. SQLite has no partitions:
there it is a plain table with ``id`` as its key.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_MOVEMENT_COLUMNS = """
    day date NOT NULL,
    at timestamp with time zone NOT NULL,
    unit_id integer NOT NULL REFERENCES units (id),
    clave_id integer NOT NULL REFERENCES claves (id),
    lot varchar(40) NOT NULL,
    expiry date NOT NULL,
    kind varchar(20) NOT NULL,
    quantity integer NOT NULL,
    reason varchar(300),
    source varchar(120),
    actor varchar(200) NOT NULL
"""


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "CREATE TABLE stock_movements (id bigserial NOT NULL,"
            + _MOVEMENT_COLUMNS
            + ", CONSTRAINT pk_stock_movements PRIMARY KEY (id, day)) PARTITION BY RANGE (day)"
        )
        op.execute("CREATE TABLE stock_movements_default PARTITION OF stock_movements DEFAULT")
    else:
        op.execute(
            "CREATE TABLE stock_movements (id INTEGER NOT NULL,"
            + _MOVEMENT_COLUMNS
            + ", CONSTRAINT pk_stock_movements PRIMARY KEY (id))"
        )
    op.create_index(
        "ix_stock_movements_unit_clave_day", "stock_movements", ["unit_id", "clave_id", "day"]
    )
    op.create_index("ix_stock_movements_source", "stock_movements", ["source"])

    op.create_table(
        "stock_balances",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("unit_id", sa.Integer(), nullable=False),
        sa.Column("clave_id", sa.Integer(), nullable=False),
        sa.Column("lot", sa.String(length=40), nullable=False),
        sa.Column("expiry", sa.Date(), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("quantity >= 0", name=op.f("ck_stock_balances_not_negative")),
        sa.ForeignKeyConstraint(
            ["clave_id"], ["claves.id"], name=op.f("fk_stock_balances_clave_id_claves")
        ),
        sa.ForeignKeyConstraint(
            ["unit_id"],
            ["units.id"],
            name=op.f("fk_stock_balances_unit_id_units"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_stock_balances")),
        sa.UniqueConstraint("unit_id", "clave_id", "lot", name="uq_stock_balances_lot"),
    )
    op.create_index("ix_stock_balances_clave", "stock_balances", ["clave_id"])

    op.create_table(
        "stock_policies",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("unit_kind", sa.String(length=40), nullable=False),
        sa.Column("min_months", sa.Numeric(6, 2), nullable=False),
        sa.Column("max_months", sa.Numeric(6, 2), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_stock_policies")),
        sa.UniqueConstraint("unit_kind", name=op.f("uq_stock_policies_unit_kind")),
    )

    op.create_table(
        "inventory_requests",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("unit_id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("response", sa.JSON(), nullable=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["unit_id"],
            ["units.id"],
            name=op.f("fk_inventory_requests_unit_id_units"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_inventory_requests")),
        sa.UniqueConstraint("unit_id", "key", name="uq_inventory_requests_key"),
    )

    op.create_table(
        "stock_transfers",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("clave_id", sa.Integer(), nullable=False),
        sa.Column("from_unit_id", sa.Integer(), nullable=False),
        sa.Column("to_unit_id", sa.Integer(), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("lot", sa.String(length=40), nullable=True),
        sa.Column("lots", sa.JSON(), nullable=True),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("origin", sa.String(length=120), nullable=False),
        sa.Column("cost", sa.Numeric(14, 2), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("issued_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.CheckConstraint("quantity > 0", name=op.f("ck_stock_transfers_positive")),
        sa.ForeignKeyConstraint(
            ["clave_id"], ["claves.id"], name=op.f("fk_stock_transfers_clave_id_claves")
        ),
        sa.ForeignKeyConstraint(
            ["from_unit_id"], ["units.id"], name=op.f("fk_stock_transfers_from_unit_id_units")
        ),
        sa.ForeignKeyConstraint(
            ["to_unit_id"], ["units.id"], name=op.f("fk_stock_transfers_to_unit_id_units")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_stock_transfers")),
    )
    for column in ("clave_id", "from_unit_id", "to_unit_id"):
        op.create_index(f"ix_stock_transfers_{column}", "stock_transfers", [column])

    op.create_table(
        "inventory_daily",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("unit_id", sa.Integer(), nullable=False),
        sa.Column("clave_id", sa.Integer(), nullable=False),
        sa.Column("on_hand", sa.Integer(), nullable=False),
        sa.Column("amc", sa.Numeric(14, 2), nullable=True),
        sa.Column("months", sa.Numeric(12, 2), nullable=True),
        sa.Column("stockout_days", sa.Integer(), nullable=False),
        sa.Column("expiring", sa.Integer(), nullable=False),
        sa.Column("expired", sa.Integer(), nullable=False),
        sa.Column("level", sa.String(length=12), nullable=False),
        sa.ForeignKeyConstraint(
            ["clave_id"], ["claves.id"], name=op.f("fk_inventory_daily_clave_id_claves")
        ),
        sa.ForeignKeyConstraint(
            ["unit_id"],
            ["units.id"],
            name=op.f("fk_inventory_daily_unit_id_units"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("day", "unit_id", "clave_id", name=op.f("pk_inventory_daily")),
    )

    op.create_table(
        "abasto_daily",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("scope", sa.String(length=12), nullable=False),
        sa.Column("key", sa.String(length=60), nullable=False),
        sa.Column("listed", sa.Integer(), nullable=False),
        sa.Column("with_stock", sa.Integer(), nullable=False),
        sa.Column("at_minimum", sa.Integer(), nullable=False),
        sa.Column("below_min", sa.Integer(), nullable=False),
        sa.Column("above_max", sa.Integer(), nullable=False),
        sa.Column("expiring", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("day", "scope", "key", name=op.f("pk_abasto_daily")),
    )


def downgrade() -> None:
    for table in (
        "abasto_daily",
        "inventory_daily",
        "stock_transfers",
        "inventory_requests",
        "stock_policies",
        "stock_balances",
        "stock_movements",
    ):
        op.drop_table(table)
