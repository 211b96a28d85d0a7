"""Tables of contracts: the contract and its lines, delivery points, convenios, supply orders,
shipments with their lots, and the penalties charged.

A contract copies what it needs from its fallo's drafts and its tender's terms when it is made,
so it reads the same whatever happens to them; every change is also on the ledger.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    Date,
    ForeignKey,
    Integer,
    Numeric,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from abasto.core.db import Base, UTCDateTime
from abasto.identity.models import Institution, Supplier, Unit


class Contract(Base):
    """An open contract of one institution with one supplier, from one fallo."""

    __tablename__ = "contracts"
    __table_args__ = (UniqueConstraint("fallo_id", "institution_id", "supplier_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[str] = mapped_column(String(60), unique=True)
    fallo_id: Mapped[int] = mapped_column(ForeignKey("fallos.id"), index=True)
    tender_id: Mapped[int] = mapped_column(ForeignKey("tenders.id"), index=True)
    institution_id: Mapped[int] = mapped_column(ForeignKey("institutions.id"), index=True)
    supplier_id: Mapped[int] = mapped_column(ForeignKey("suppliers.id"), index=True)
    status: Mapped[str] = mapped_column(String(20), index=True)
    notice_at: Mapped[datetime] = mapped_column(UTCDateTime())
    """The fallo's notice: the signing period counts from its day."""
    signing_deadline: Mapped[date] = mapped_column(Date)
    starts_on: Mapped[date] = mapped_column(Date)
    ends_on: Mapped[date] = mapped_column(Date)
    terms: Mapped[dict[str, Any]] = mapped_column(JSON)
    """The tender's parameters as ``rules.Terms`` (rates as strings), copied when made."""
    original_amount: Mapped[Decimal] = mapped_column(Numeric(18, 2))
    """The maximum amount before IVA as first contracted: convenios are capped against it."""
    max_amount: Mapped[Decimal] = mapped_column(Numeric(18, 2))
    guarantee_amount: Mapped[Decimal] = mapped_column(Numeric(18, 2))
    guarantee_issuer: Mapped[str | None] = mapped_column(String(300))
    guarantee_document: Mapped[str | None] = mapped_column(String(300))
    guarantee_recorded_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    guarantee_exempt_reason: Mapped[str | None] = mapped_column(Text)
    document_sha256: Mapped[str | None] = mapped_column(String(64))
    """The SHA-256 of the contract's PDF both parties signed."""
    institution_signed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    institution_signed_by: Mapped[str | None] = mapped_column(String(200))
    supplier_signed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    supplier_signed_by: Mapped[str | None] = mapped_column(String(200))
    signed_late: Mapped[bool] = mapped_column(Boolean, default=False)
    effective_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    close_reason: Mapped[str | None] = mapped_column(Text)
    penalties_at_cap: Mapped[bool] = mapped_column(Boolean, default=False)
    """Penalties reached the guarantee: the contract is marked for rescisión (the buyer
    decides)."""
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    version: Mapped[int] = mapped_column(Integer, default=1)

    institution: Mapped[Institution] = relationship()
    supplier: Mapped[Supplier] = relationship()
    lines: Mapped[list[ContractLine]] = relationship(
        order_by="ContractLine.clave", cascade="all, delete-orphan"
    )
    points: Mapped[list[DeliveryPoint]] = relationship(cascade="all, delete-orphan")

    __mapper_args__ = {"version_id_col": version}


class ContractLine(Base):
    """One partida of a contract: its clave, minimum and maximum, and unit price before IVA."""

    __tablename__ = "contract_lines"
    __table_args__ = (
        UniqueConstraint("contract_id", "partida_id"),
        CheckConstraint("min_qty >= 0 AND min_qty <= max_qty", name="min_within_max"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    contract_id: Mapped[int] = mapped_column(
        ForeignKey("contracts.id", ondelete="CASCADE"), index=True
    )
    partida_id: Mapped[int] = mapped_column(ForeignKey("partidas.id"))
    clave_id: Mapped[int] = mapped_column(ForeignKey("claves.id"), index=True)
    clave: Mapped[str] = mapped_column(String(20))
    description: Mapped[str] = mapped_column(Text)
    min_qty: Mapped[int] = mapped_column(Integer)
    max_qty: Mapped[int] = mapped_column(Integer)
    original_max_qty: Mapped[int] = mapped_column(Integer)
    unit_price: Mapped[Decimal] = mapped_column(Numeric(16, 2))


class DeliveryPoint(Base):
    """A unit of the institution where the supplier delivers under the contract."""

    __tablename__ = "contract_delivery_points"
    __table_args__ = (UniqueConstraint("contract_id", "unit_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    contract_id: Mapped[int] = mapped_column(
        ForeignKey("contracts.id", ondelete="CASCADE"), index=True
    )
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"))

    unit: Mapped[Unit] = relationship()


class Convenio(Base):
    """A convenio modificatorio: what it changed, why, and the amounts before and after."""

    __tablename__ = "contract_convenios"
    __table_args__ = (UniqueConstraint("contract_id", "number"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    contract_id: Mapped[int] = mapped_column(
        ForeignKey("contracts.id", ondelete="CASCADE"), index=True
    )
    number: Mapped[int] = mapped_column(Integer)
    reason: Mapped[str] = mapped_column(Text)
    changes: Mapped[dict[str, Any]] = mapped_column(JSON)
    amount_before: Mapped[Decimal] = mapped_column(Numeric(18, 2))
    amount_after: Mapped[Decimal] = mapped_column(Numeric(18, 2))
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    by: Mapped[str] = mapped_column(String(200))


class SupplyOrder(Base):
    """An orden de suministro: one clave of a vigente contract, to one delivery point."""

    __tablename__ = "supply_orders"
    __table_args__ = (
        UniqueConstraint("contract_id", "number"),
        CheckConstraint("quantity BETWEEN 1 AND 2147483647", name="quantity_range"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    contract_id: Mapped[int] = mapped_column(ForeignKey("contracts.id"), index=True)
    line_id: Mapped[int] = mapped_column(ForeignKey("contract_lines.id"), index=True)
    number: Mapped[int] = mapped_column(Integer)
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"), index=True)
    quantity: Mapped[int] = mapped_column(Integer)
    unit_price: Mapped[Decimal] = mapped_column(Numeric(16, 2))
    status: Mapped[str] = mapped_column(String(20), index=True)
    issued_at: Mapped[datetime] = mapped_column(UTCDateTime())
    issued_by: Mapped[str] = mapped_column(String(200))
    due_on: Mapped[date] = mapped_column(Date, index=True)
    confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    accepted_qty: Mapped[int] = mapped_column(Integer, default=0)
    on_time_qty: Mapped[int] = mapped_column(Integer, default=0)
    """Accepted pieces received on or before the due date: the fill rate's numerator."""
    rejected_qty: Mapped[int] = mapped_column(Integer, default=0)
    penalty: Mapped[Decimal] = mapped_column(Numeric(18, 2), default=Decimal(0))
    deductiva: Mapped[Decimal] = mapped_column(Numeric(18, 2), default=Decimal(0))
    version: Mapped[int] = mapped_column(Integer, default=1)

    contract: Mapped[Contract] = relationship()
    line: Mapped[ContractLine] = relationship()
    unit: Mapped[Unit] = relationship()

    __mapper_args__ = {"version_id_col": version}


class Shipment(Base):
    """What the supplier sent against an order, and, once received, the receipt."""

    __tablename__ = "shipments"
    __table_args__ = (UniqueConstraint("order_id", "number"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("supply_orders.id"), index=True)
    number: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(12))  # "enviado" or "recibido"
    shipped_at: Mapped[datetime] = mapped_column(UTCDateTime())
    recorded_by: Mapped[str] = mapped_column(String(200))
    received_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    received_by: Mapped[str | None] = mapped_column(String(200))
    receipt_sha256: Mapped[str | None] = mapped_column(String(64))

    lots: Mapped[list[ShipmentLot]] = relationship(
        order_by="ShipmentLot.id", cascade="all, delete-orphan"
    )


class ShipmentLot(Base):
    """One lot of a shipment: as sent (lot, expiry, registro sanitario, quantity) and as
    received (accepted and rejected pieces, with the reason)."""

    __tablename__ = "shipment_lots"
    __table_args__ = (
        UniqueConstraint("shipment_id", "lot"),
        CheckConstraint("quantity BETWEEN 1 AND 2147483647", name="quantity_range"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    shipment_id: Mapped[int] = mapped_column(
        ForeignKey("shipments.id", ondelete="CASCADE"), index=True
    )
    lot: Mapped[str] = mapped_column(String(60))
    expiry: Mapped[date] = mapped_column(Date)
    quantity: Mapped[int] = mapped_column(Integer)
    registro_sanitario: Mapped[str] = mapped_column(String(100))
    accepted_qty: Mapped[int | None] = mapped_column(Integer)
    rejected_qty: Mapped[int | None] = mapped_column(Integer)
    reason: Mapped[str | None] = mapped_column(String(40))
    note: Mapped[str | None] = mapped_column(Text)


class Penalty(Base):
    """A pena convencional or deductiva charged on an order, as computed and as charged."""

    __tablename__ = "contract_penalties"

    id: Mapped[int] = mapped_column(primary_key=True)
    contract_id: Mapped[int] = mapped_column(ForeignKey("contracts.id"), index=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("supply_orders.id"), index=True)
    shipment_id: Mapped[int | None] = mapped_column(ForeignKey("shipments.id"))
    kind: Mapped[str] = mapped_column(String(12))  # "pena" or "deductiva"
    base_value: Mapped[Decimal] = mapped_column(Numeric(18, 2))
    days_late: Mapped[int] = mapped_column(Integer)
    rate: Mapped[Decimal] = mapped_column(Numeric(8, 6))
    computed: Mapped[Decimal] = mapped_column(Numeric(18, 2))
    amount: Mapped[Decimal] = mapped_column(Numeric(18, 2))
    at: Mapped[datetime] = mapped_column(UTCDateTime())
