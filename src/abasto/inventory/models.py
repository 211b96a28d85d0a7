"""Tables of inventory: movements (the facts), balances per lot (derived), transfers, indicators.

``stock_movements`` is the only source of stock: every balance equals the sum of its movements.
On PostgreSQL it is partitioned by month of ``day`` (migration 0015; docs/scale.md), which is
why its primary key there is ``(id, day)``; the ORM needs only ``id``, unique on both databases.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import (
    JSON,
    BigInteger,
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from abasto.catalog.models import Clave
from abasto.core.db import Base, UTCDateTime
from abasto.identity.models import Unit

BigId = BigInteger().with_variant(Integer, "sqlite")
"""SQLite autoincrements only an ``INTEGER PRIMARY KEY``."""


class StockMovement(Base):
    """One movement of one lot of a clave in a unit; ``quantity`` is signed (+ in, − out).

    ``source`` names what caused it, so it can be traced and never posted twice: ``receipt:<id>``
    (a receipt of an accepted delivery), ``transfer:<id>``, ``count:<ledger seq>``,
    ``request:<id>`` (an API request with its Idempotency-Key), ``upload:<sha256>``.
    """

    __tablename__ = "stock_movements"
    __table_args__ = (
        # The lot, its expiry and quantity too (migration 0018): a day's partition lists its
        # rows in the balances' key order with what each lot's net change needs.
        Index(
            "ix_stock_movements_unit_clave_day",
            "unit_id",
            "clave_id",
            "day",
            "lot",
            postgresql_include=["expiry", "quantity"],
        ),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    day: Mapped[date] = mapped_column(Date)
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"))
    clave_id: Mapped[int] = mapped_column(ForeignKey("claves.id"))
    lot: Mapped[str] = mapped_column(String(40))
    expiry: Mapped[date] = mapped_column(Date)
    kind: Mapped[str] = mapped_column(String(20))
    quantity: Mapped[int] = mapped_column(Integer)
    reason: Mapped[str | None] = mapped_column(String(300))
    source: Mapped[str | None] = mapped_column(String(120))
    actor: Mapped[str] = mapped_column(String(200))


class StockSource(Base):
    """A source of movements (``StockMovement.source``) already posted, once: what refuses a
    source posted twice, instead of an index over every movement's source (a day loaded in bulk
    would carry 25 million copies of one; migration 0021)."""

    __tablename__ = "stock_sources"

    source: Mapped[str] = mapped_column(String(120), primary_key=True)


class StockBalance(Base):
    """What a unit has of one lot of a clave now: the sum of that lot's movements, kept in the
    movement's transaction under a row lock, and never below zero (also a CHECK). Keyed by
    (unit, clave, lot), without a surrogate id: nothing finds a balance otherwise, and a day
    loaded in bulk inserts millions of them (migration 0022)."""

    __tablename__ = "stock_balances"
    # No index on clave_id of its own: a clave's balances across units are found by the primary
    # key, one unit at a time (``service.suggest_redistribution``; migration 0023).
    __table_args__ = (CheckConstraint("quantity >= 0", name="not_negative"),)

    unit_id: Mapped[int] = mapped_column(
        ForeignKey("units.id", ondelete="CASCADE"), primary_key=True
    )
    clave_id: Mapped[int] = mapped_column(ForeignKey("claves.id"), primary_key=True)
    lot: Mapped[str] = mapped_column(String(40), primary_key=True)
    expiry: Mapped[date] = mapped_column(Date)
    quantity: Mapped[int] = mapped_column(Integer)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())

    unit: Mapped[Unit] = relationship()
    clave: Mapped[Clave] = relationship()


class StockPolicyRow(Base):
    """The max-min of a kind of unit in months of consumption (``rules.StockPolicy``)."""

    __tablename__ = "stock_policies"

    id: Mapped[int] = mapped_column(primary_key=True)
    unit_kind: Mapped[str] = mapped_column(String(40), unique=True)
    min_months: Mapped[Decimal] = mapped_column(Numeric(6, 2))
    max_months: Mapped[Decimal] = mapped_column(Numeric(6, 2))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class InventoryRequest(Base):
    """An API request's Idempotency-Key, per unit: a repeat returns ``response`` and posts
    nothing; ``digest`` (sha256 of the request's canonical JSON) tells a repeat from another
    request under the same key."""

    __tablename__ = "inventory_requests"
    __table_args__ = (UniqueConstraint("unit_id", "key", name="uq_inventory_requests_key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id", ondelete="CASCADE"))
    key: Mapped[str] = mapped_column(String(200))
    digest: Mapped[str] = mapped_column(String(64))
    response: Mapped[dict[str, object] | None] = mapped_column(JSON)
    at: Mapped[datetime] = mapped_column(UTCDateTime())


class StockTransfer(Base):
    """Stock sent from one unit to another: suggested (by redistribution) → issued (out of the
    origin, in transit) → received (into the destination); or cancelled before it is issued."""

    __tablename__ = "stock_transfers"
    __table_args__ = (CheckConstraint("quantity > 0", name="positive"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    clave_id: Mapped[int] = mapped_column(ForeignKey("claves.id"), index=True)
    from_unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"), index=True)
    to_unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"), index=True)
    quantity: Mapped[int] = mapped_column(Integer)
    lot: Mapped[str | None] = mapped_column(String(40))
    # The lots taken when issued: [{"lot": …, "expiry": "aaaa-mm-dd", "quantity": n}, …].
    lots: Mapped[list[dict[str, object]] | None] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(12))
    origin: Mapped[str] = mapped_column(String(120))  # "manual" or "redistribution:<day>"
    cost: Mapped[Decimal | None] = mapped_column(Numeric(14, 2))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    issued_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    received_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    version: Mapped[int] = mapped_column(Integer, default=1)

    clave: Mapped[Clave] = relationship()
    from_unit: Mapped[Unit] = relationship(foreign_keys=[from_unit_id])
    to_unit: Mapped[Unit] = relationship(foreign_keys=[to_unit_id])

    __mapper_args__ = {"version_id_col": version}


class DailyStock(Base):
    """A unit's clave on a day, as the daily snapshot computed it (``service.snapshot``)."""

    __tablename__ = "inventory_daily"

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    unit_id: Mapped[int] = mapped_column(
        ForeignKey("units.id", ondelete="CASCADE"), primary_key=True
    )
    clave_id: Mapped[int] = mapped_column(ForeignKey("claves.id"), primary_key=True)
    on_hand: Mapped[int] = mapped_column(Integer)
    amc: Mapped[Decimal | None] = mapped_column(Numeric(14, 2))
    months: Mapped[Decimal | None] = mapped_column(Numeric(12, 2))
    stockout_days: Mapped[int] = mapped_column(Integer)
    expiring: Mapped[int] = mapped_column(Integer)
    expired: Mapped[int] = mapped_column(Integer)
    level: Mapped[str] = mapped_column(String(12))


class DailyAbasto(Base):
    """The abasto indicator of a scope on a day: ``scope`` is unit, institution, state or
    nation and ``key`` the unit's id, the institution's code, the state's code or ""."""

    __tablename__ = "abasto_daily"

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    scope: Mapped[str] = mapped_column(String(12), primary_key=True)
    key: Mapped[str] = mapped_column(String(60), primary_key=True)
    listed: Mapped[int] = mapped_column(Integer)
    with_stock: Mapped[int] = mapped_column(Integer)
    at_minimum: Mapped[int] = mapped_column(Integer)
    below_min: Mapped[int] = mapped_column(Integer)
    above_max: Mapped[int] = mapped_column(Integer)
    expiring: Mapped[int] = mapped_column(Integer)
