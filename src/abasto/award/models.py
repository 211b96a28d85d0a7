"""Tables of evaluation and award: observed prices, technical evaluations, fallos, drafts.

A fallo is stored whole when it is issued (``Fallo`` with its ``FalloLine`` winners and
``FalloOutcome`` per bid line), so it reads the same forever, whatever happens to the prices
or evaluations it was computed from; every number in it is also on the ledger.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    Float,
    ForeignKey,
    Integer,
    Numeric,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from abasto.core.db import Base, UTCDateTime


class PriceObservation(Base):
    """One unit price of a clave seen somewhere: an earlier award, a price list, another
    publisher's OCDS data. Market research takes the median of a clave's observations."""

    __tablename__ = "price_observations"

    id: Mapped[int] = mapped_column(primary_key=True)
    clave_id: Mapped[int] = mapped_column(ForeignKey("claves.id"), index=True)
    source_kind: Mapped[str] = mapped_column(String(20))  # "abasto", "lista", "ocds"
    source: Mapped[str] = mapped_column(String(300))
    """The file, tender number or ocid it came from."""
    source_ref: Mapped[str] = mapped_column(String(300))
    """Where in the source: a row, an award and item id."""
    unit_price: Mapped[Decimal] = mapped_column(Numeric(16, 2))
    """In MXN."""
    original_price: Mapped[Decimal] = mapped_column(Numeric(18, 4))
    currency: Mapped[str] = mapped_column(String(3))
    rate: Mapped[Decimal] = mapped_column(Numeric(18, 6))
    observed_on: Mapped[date | None] = mapped_column(Date)
    imported_at: Mapped[datetime] = mapped_column(UTCDateTime())
    import_id: Mapped[str] = mapped_column(String(40), index=True)


class TechnicalEvaluation(Base):
    """Whether one line of an opened bid meets one requirement, with the reason."""

    __tablename__ = "technical_evaluations"
    __table_args__ = (UniqueConstraint("bid_id", "partida_number", "requirement"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    tender_id: Mapped[int] = mapped_column(ForeignKey("tenders.id", ondelete="CASCADE"), index=True)
    bid_id: Mapped[str] = mapped_column(ForeignKey("bids.id", ondelete="CASCADE"))
    partida_number: Mapped[int] = mapped_column(Integer)
    requirement: Mapped[str] = mapped_column(String(40))
    complies: Mapped[bool] = mapped_column(Boolean)
    reason: Mapped[str] = mapped_column(Text)
    evaluator: Mapped[str] = mapped_column(String(200))
    at: Mapped[datetime] = mapped_column(UTCDateTime())


class Fallo(Base):
    """The award decision of a tender, as issued."""

    __tablename__ = "fallos"

    id: Mapped[int] = mapped_column(primary_key=True)
    tender_id: Mapped[int] = mapped_column(ForeignKey("tenders.id"), unique=True)
    mode: Mapped[str] = mapped_column(String(10))
    status: Mapped[str] = mapped_column(String(20))
    parameters: Mapped[dict[str, Any]] = mapped_column(JSON)
    total: Mapped[Decimal] = mapped_column(Numeric(18, 2))
    reference_total: Mapped[Decimal] = mapped_column(Numeric(18, 2))
    """The awarded quantities at their reference prices: total − this is the saving."""
    baseline_total: Mapped[Decimal] = mapped_column(Numeric(18, 2))
    """The lowest solvent price per partida, over the same quantities covered by it."""
    gap: Mapped[float | None] = mapped_column(Float)
    solve_seconds: Mapped[float] = mapped_column(Float)
    issued_at: Mapped[datetime] = mapped_column(UTCDateTime())
    ledger_seq: Mapped[int] = mapped_column(Integer)
    checkpoint: Mapped[str | None] = mapped_column(Text, default=None)
    """The signed ledger checkpoint made with the fallo, covering its ``fallo.issue`` entry."""

    lines: Mapped[list[FalloLine]] = relationship(
        order_by="FalloLine.partida_number", cascade="all, delete-orphan"
    )


class FalloLine(Base):
    """A partida's winner: who supplies how much at which price (several when split)."""

    __tablename__ = "fallo_lines"

    id: Mapped[int] = mapped_column(primary_key=True)
    fallo_id: Mapped[int] = mapped_column(ForeignKey("fallos.id", ondelete="CASCADE"), index=True)
    partida_id: Mapped[int] = mapped_column(ForeignKey("partidas.id"), index=True)
    partida_number: Mapped[int] = mapped_column(Integer)
    bid_id: Mapped[str] = mapped_column(ForeignKey("bids.id"))
    supplier_id: Mapped[int] = mapped_column(ForeignKey("suppliers.id"), index=True)
    quantity: Mapped[int] = mapped_column(Integer)
    unit_price: Mapped[Decimal] = mapped_column(Numeric(16, 2))
    reference_price: Mapped[Decimal | None] = mapped_column(Numeric(16, 2))


class FalloPartida(Base):
    """A partida's outcome in the fallo: adjudicada, parcial or desierta, and why."""

    __tablename__ = "fallo_partidas"
    __table_args__ = (UniqueConstraint("fallo_id", "partida_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    fallo_id: Mapped[int] = mapped_column(ForeignKey("fallos.id", ondelete="CASCADE"), index=True)
    partida_id: Mapped[int] = mapped_column(ForeignKey("partidas.id"))
    partida_number: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(12))
    demand: Mapped[int] = mapped_column(Integer)
    awarded: Mapped[int] = mapped_column(Integer)
    reference_price: Mapped[Decimal | None] = mapped_column(Numeric(16, 2))
    reason_code: Mapped[str | None] = mapped_column(String(40))
    reason: Mapped[str | None] = mapped_column(Text)


class FalloOutcome(Base):
    """Each bid line's outcome and its reasons, with the numbers behind them."""

    __tablename__ = "fallo_outcomes"
    __table_args__ = (UniqueConstraint("fallo_id", "bid_id", "partida_number"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    fallo_id: Mapped[int] = mapped_column(ForeignKey("fallos.id", ondelete="CASCADE"), index=True)
    bid_id: Mapped[str] = mapped_column(ForeignKey("bids.id"))
    partida_number: Mapped[int] = mapped_column(Integer)
    outcome: Mapped[str] = mapped_column(String(30))
    reasons: Mapped[list[str]] = mapped_column(JSON)
    awarded: Mapped[int] = mapped_column(Integer)


class ContractDraft(Base):
    """What one institution will contract with one supplier for one partida (min and max)."""

    __tablename__ = "contract_drafts"
    __table_args__ = (UniqueConstraint("fallo_id", "partida_id", "institution_id", "supplier_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    fallo_id: Mapped[int] = mapped_column(ForeignKey("fallos.id", ondelete="CASCADE"), index=True)
    partida_id: Mapped[int] = mapped_column(ForeignKey("partidas.id"))
    institution_id: Mapped[int] = mapped_column(ForeignKey("institutions.id"), index=True)
    supplier_id: Mapped[int] = mapped_column(ForeignKey("suppliers.id"), index=True)
    min_qty: Mapped[int] = mapped_column(Integer)
    max_qty: Mapped[int] = mapped_column(Integer)
    unit_price: Mapped[Decimal] = mapped_column(Numeric(16, 2))
