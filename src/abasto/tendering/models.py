"""Tables of tendering: tenders, partidas, invitations, questions, amendments and sealed bids.

A sealed bid's row holds nothing readable before the opening: its author and its prices are in
``ciphertext`` (AES-GCM under the tender's data key), and ``owner_tag`` is an HMAC under that key,
so the supplier finds its own bids without the row naming it. ``BidLine`` rows are written only
when the bid is opened in public.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    JSON,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    Numeric,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from abasto.catalog.models import Clave
from abasto.core.db import Base, UTCDateTime
from abasto.identity.models import Institution, Supplier


class Tender(Base):
    """A procedure to buy: its method, timeline, partidas and where it stands."""

    __tablename__ = "tenders"

    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[str] = mapped_column(String(40), unique=True)
    title: Mapped[str] = mapped_column(String(300))
    procedure: Mapped[str] = mapped_column(String(40))
    status: Mapped[str] = mapped_column(String(20), index=True)
    round_id: Mapped[int | None] = mapped_column(ForeignKey("demand_rounds.id"))
    legal_basis: Mapped[str | None] = mapped_column(Text)
    justification: Mapped[str | None] = mapped_column(Text)
    # The procedure's parameters as they were when the tender was created (minimum periods…).
    params: Mapped[dict[str, Any]] = mapped_column(JSON)
    publication_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    clarification_deadline: Mapped[datetime] = mapped_column(UTCDateTime())
    bid_deadline: Mapped[datetime] = mapped_column(UTCDateTime())
    opening_at: Mapped[datetime] = mapped_column(UTCDateTime())
    fallo_at: Mapped[datetime] = mapped_column(UTCDateTime())
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    opening_started_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    opened_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    cancel_reason: Mapped[str | None] = mapped_column(Text)
    attention_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    """When the tick stopped on this tender (an opening that failed); the tick leaves it alone
    until the buyer resumes, suspends or cancels it."""
    attention: Mapped[str | None] = mapped_column(Text)
    """What the buyer is told about it; never anything of a sealed bid."""
    # The tender's data key, wrapped (AES key wrap) by the master key from configuration.
    wrapped_key: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    version: Mapped[int] = mapped_column(Integer, default=1)

    partidas: Mapped[list[Partida]] = relationship(
        back_populates="tender", order_by="Partida.number", cascade="all, delete-orphan"
    )

    __mapper_args__ = {"version_id_col": version}


class Partida(Base):
    """One clave of a tender, with the consolidated minimum and maximum."""

    __tablename__ = "partidas"
    __table_args__ = (
        UniqueConstraint("tender_id", "number"),
        UniqueConstraint("tender_id", "clave_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    tender_id: Mapped[int] = mapped_column(ForeignKey("tenders.id", ondelete="CASCADE"), index=True)
    number: Mapped[int] = mapped_column(Integer)
    clave_id: Mapped[int] = mapped_column(ForeignKey("claves.id"), index=True)
    min_qty: Mapped[int] = mapped_column(Integer)
    max_qty: Mapped[int] = mapped_column(Integer)
    desierta_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    desierta_reason: Mapped[str | None] = mapped_column(Text)

    tender: Mapped[Tender] = relationship(back_populates="partidas")
    clave: Mapped[Clave] = relationship()
    demands: Mapped[list[PartidaDemand]] = relationship(cascade="all, delete-orphan")


class PartidaDemand(Base):
    """What one institution asks of a partida (minimum and maximum)."""

    __tablename__ = "partida_demands"
    __table_args__ = (UniqueConstraint("partida_id", "institution_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    partida_id: Mapped[int] = mapped_column(ForeignKey("partidas.id", ondelete="CASCADE"))
    institution_id: Mapped[int] = mapped_column(ForeignKey("institutions.id"), index=True)
    min_qty: Mapped[int] = mapped_column(Integer)
    max_qty: Mapped[int] = mapped_column(Integer)

    institution: Mapped[Institution] = relationship()


class Invitation(Base):
    """A supplier invited to an invitación or named for an adjudicación directa."""

    __tablename__ = "tender_invitations"
    __table_args__ = (UniqueConstraint("tender_id", "supplier_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    tender_id: Mapped[int] = mapped_column(ForeignKey("tenders.id", ondelete="CASCADE"), index=True)
    supplier_id: Mapped[int] = mapped_column(ForeignKey("suppliers.id"))

    supplier: Mapped[Supplier] = relationship()


class Question(Base):
    """A clarification question (junta de aclaraciones); published without its author."""

    __tablename__ = "tender_questions"
    __table_args__ = (UniqueConstraint("tender_id", "number"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    tender_id: Mapped[int] = mapped_column(ForeignKey("tenders.id", ondelete="CASCADE"), index=True)
    number: Mapped[int] = mapped_column(Integer)
    supplier_id: Mapped[int] = mapped_column(ForeignKey("suppliers.id"))
    partida_number: Mapped[int | None] = mapped_column(Integer)
    text: Mapped[str] = mapped_column(Text)
    asked_at: Mapped[datetime] = mapped_column(UTCDateTime())
    answer: Mapped[str | None] = mapped_column(Text)
    answered_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class Amendment(Base):
    """A recorded change to a published tender, and the deadlines it moved."""

    __tablename__ = "tender_amendments"
    __table_args__ = (UniqueConstraint("tender_id", "number"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    tender_id: Mapped[int] = mapped_column(ForeignKey("tenders.id", ondelete="CASCADE"), index=True)
    number: Mapped[int] = mapped_column(Integer)
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    description: Mapped[str] = mapped_column(Text)
    # {"bid_deadline": ["old", "new"], …} of every date it moved.
    changes: Mapped[dict[str, Any]] = mapped_column(JSON)


class Bid(Base):
    """A sealed bid: opaque until the opening, then checked against its public commitment."""

    __tablename__ = "bids"
    __table_args__ = (
        # One standing bid per supplier and tender, even when two submissions race.
        Index(
            "uq_bids_sealed_owner",
            "tender_id",
            "owner_tag",
            unique=True,
            sqlite_where=text("status = 'sealed'"),
            postgresql_where=text("status = 'sealed'"),
        ),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    tender_id: Mapped[int] = mapped_column(ForeignKey("tenders.id", ondelete="CASCADE"), index=True)
    owner_tag: Mapped[str] = mapped_column(String(64), index=True)
    # sealed → replaced | withdrawn | opened
    status: Mapped[str] = mapped_column(String(12))
    submitted_at: Mapped[datetime] = mapped_column(UTCDateTime())
    commitment: Mapped[str] = mapped_column(String(64))
    ciphertext: Mapped[bytes] = mapped_column(LargeBinary)
    replaced_by: Mapped[str | None] = mapped_column(String(32))
    withdrawn_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # Known only from the opening on.
    supplier_id: Mapped[int | None] = mapped_column(ForeignKey("suppliers.id"))
    opened_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    check: Mapped[str | None] = mapped_column(String(20))  # "coincide" or "no_coincide"
    check_detail: Mapped[str | None] = mapped_column(Text)

    supplier: Mapped[Supplier | None] = relationship()
    lines: Mapped[list[BidLine]] = relationship(
        back_populates="bid", order_by="BidLine.partida_number", cascade="all, delete-orphan"
    )


class BidLine(Base):
    """One partida of an opened bid, as it was read out in public."""

    __tablename__ = "bid_lines"
    __table_args__ = (
        UniqueConstraint("bid_id", "partida_id"),
        # As on PostgreSQL's int4, on SQLite too (which would keep any 64-bit integer).
        CheckConstraint("quantity BETWEEN 1 AND 2147483647", name="quantity_range"),
        CheckConstraint("unit_price > 0", name="unit_price_positive"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    bid_id: Mapped[str] = mapped_column(ForeignKey("bids.id", ondelete="CASCADE"), index=True)
    partida_id: Mapped[int] = mapped_column(ForeignKey("partidas.id"), index=True)
    partida_number: Mapped[int] = mapped_column(Integer)
    unit_price: Mapped[Decimal] = mapped_column(Numeric(16, 2))
    quantity: Mapped[int] = mapped_column(Integer)
    presentation: Mapped[str | None] = mapped_column(Text)
    registro_sanitario: Mapped[str | None] = mapped_column(String(100))
    manufacturer: Mapped[str | None] = mapped_column(String(300))
    country: Mapped[str | None] = mapped_column(String(100))

    bid: Mapped[Bid] = relationship(back_populates="lines")


class BidRequest(Base):
    """A submission's Idempotency-Key, so a retried request returns the same receipt.

    ``digest`` is an HMAC of the request's content under the tender's key: it tells a replay
    from a different request without keeping anything readable.
    """

    __tablename__ = "bid_requests"
    __table_args__ = (UniqueConstraint("tender_id", "owner_tag", "key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    tender_id: Mapped[int] = mapped_column(ForeignKey("tenders.id", ondelete="CASCADE"))
    owner_tag: Mapped[str] = mapped_column(String(64))
    key: Mapped[str] = mapped_column(String(200))
    digest: Mapped[str] = mapped_column(String(64))
    bid_id: Mapped[str] = mapped_column(String(32))
    at: Mapped[datetime] = mapped_column(UTCDateTime())
