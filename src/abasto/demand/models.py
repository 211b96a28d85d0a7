"""Tables of demand: rounds, each institution's lines, the consolidation kept per round,
consumption history and forecasts."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Date,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from abasto.catalog.models import Clave
from abasto.core.db import Base, UTCDateTime
from abasto.identity.models import Institution, Unit


class DemandRound(Base):
    """A demand round ("2027-2028"): which institutions state their needs, for which periods."""

    __tablename__ = "demand_rounds"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(60), unique=True)
    # [{"label": "2027", "start": "2027-01-01", "end": "2027-12-31"}, …] in order.
    periods: Mapped[list[dict[str, str]]] = mapped_column(JSON)
    # Minimum quantity as a share of the maximum (open contracts: 40 %).
    min_share: Mapped[Decimal] = mapped_column(Numeric(5, 4))
    status: Mapped[str] = mapped_column(String(10))  # "open" or "frozen"
    frozen_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    deadline: Mapped[datetime | None] = mapped_column(UTCDateTime())
    """When the institutions should have captured and submitted their lines (a target shown
    to everyone, not a lock: the buyer's freeze closes the round)."""
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    version: Mapped[int] = mapped_column(Integer, default=1)

    participants: Mapped[list[RoundInstitution]] = relationship(
        back_populates="round", cascade="all, delete-orphan"
    )

    __mapper_args__ = {"version_id_col": version}


class RoundInstitution(Base):
    """An institution taking part in a round, and where its submission stands."""

    __tablename__ = "round_institutions"
    __table_args__ = (UniqueConstraint("round_id", "institution_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    round_id: Mapped[int] = mapped_column(ForeignKey("demand_rounds.id", ondelete="CASCADE"))
    institution_id: Mapped[int] = mapped_column(ForeignKey("institutions.id"), index=True)
    submitted_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_change_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    round: Mapped[DemandRound] = relationship(back_populates="participants")
    institution: Mapped[Institution] = relationship()


class DemandLine(Base):
    """An institution's minimum and maximum of a clave for the whole round or one period.

    ``unit_code`` is "" for a line of the institution as a whole, or the code of the unit
    (delivery point) it is for; ``period`` is "" for the whole round, or the label of one of
    the round's periods ("2025") when the file stated each period apart. Plain strings keep
    the uniqueness rule the same on both databases, where a NULL would not be unique.
    """

    __tablename__ = "demand_lines"
    # Named: the conventional name would pass PostgreSQL's 63 characters.
    __table_args__ = (
        UniqueConstraint(
            "round_id",
            "institution_id",
            "clave_id",
            "unit_code",
            "period",
            name="uq_demand_lines_line",
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    round_id: Mapped[int] = mapped_column(
        ForeignKey("demand_rounds.id", ondelete="CASCADE"), index=True
    )
    institution_id: Mapped[int] = mapped_column(ForeignKey("institutions.id"), index=True)
    clave_id: Mapped[int] = mapped_column(ForeignKey("claves.id"), index=True)
    unit_code: Mapped[str] = mapped_column(String(60), default="")
    period: Mapped[str] = mapped_column(String(20), default="", server_default="")
    min_qty: Mapped[int] = mapped_column(Integer)
    max_qty: Mapped[int] = mapped_column(Integer)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
    version: Mapped[int] = mapped_column(Integer, default=1)

    institution: Mapped[Institution] = relationship()
    clave: Mapped[Clave] = relationship()

    __mapper_args__ = {"version_id_col": version}


class DemandObservation(Base):
    """A line imported as the official file states it although its minimum is below the
    round's share of its maximum: the file is the record, so it is kept and flagged.

    Freezing the round needs each one resolved: its line corrected (it then meets the rule, or
    is gone) or the observation accepted with a reason (``status`` "accepted"). Keyed like
    the line it observes; ``sheet``, ``row`` and ``column`` say where the file has it.
    """

    __tablename__ = "demand_observations"
    __table_args__ = (
        UniqueConstraint(
            "round_id",
            "institution_id",
            "clave_id",
            "unit_code",
            "period",
            name="uq_demand_observations_line",
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    round_id: Mapped[int] = mapped_column(
        ForeignKey("demand_rounds.id", ondelete="CASCADE"), index=True
    )
    institution_id: Mapped[int] = mapped_column(ForeignKey("institutions.id"))
    clave_id: Mapped[int] = mapped_column(ForeignKey("claves.id"))
    unit_code: Mapped[str] = mapped_column(String(60), default="")
    period: Mapped[str] = mapped_column(String(20), default="")
    min_qty: Mapped[int] = mapped_column(Integer)
    max_qty: Mapped[int] = mapped_column(Integer)
    expected_min: Mapped[int] = mapped_column(Integer)
    sheet: Mapped[str] = mapped_column(String(100))
    row: Mapped[int] = mapped_column(Integer)
    column: Mapped[str] = mapped_column(String(400))
    source: Mapped[str] = mapped_column(String(64))
    """The SHA-256 of the file it was imported from."""
    status: Mapped[str] = mapped_column(String(10))  # "open" or "accepted"
    reason: Mapped[str | None] = mapped_column(Text)
    decided_by: Mapped[str | None] = mapped_column(String(200))
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    version: Mapped[int] = mapped_column(Integer, default=1)

    institution: Mapped[Institution] = relationship()
    clave: Mapped[Clave] = relationship()

    __mapper_args__ = {"version_id_col": version}


class ConsolidatedRound(Base):
    """What the kept consolidation of a round was built from: the institutions with lines.

    Written with the round's ``consolidated_demand`` rows, in the transaction that changed its
    lines (``service.set_line``, the imports, freezing). ``institutions`` lists, in the round's
    order, ``[id, code, coordinator_id]`` of each institution with lines, so a reader sees at
    once when the registry changed what counts (a new coordinator) and rebuilds; ``columns``
    is each institution's own total (``code → [min, max]``, an appendix's totals row).
    """

    __tablename__ = "consolidated_rounds"

    round_id: Mapped[int] = mapped_column(
        ForeignKey("demand_rounds.id", ondelete="CASCADE"), primary_key=True
    )
    institutions: Mapped[list[list[Any]]] = mapped_column(JSON)
    columns: Mapped[dict[str, list[int]]] = mapped_column(JSON)


class ConsolidatedDemand(Base):
    """One clave of a round consolidated (``rules.consolidate``), kept so that the page sorts,
    searches and pages it in SQL instead of consolidating the round on every view.

    ``breakdown`` is ``{"counted": [[code, min, max], …], "members": {coordinator: [[code,
    min, max], …]}}`` in the round's order of institutions; ``counted`` is the length of its
    ``counted`` list, so that the page lists claves without reading their breakdowns.
    """

    __tablename__ = "consolidated_demand"
    __table_args__ = (
        Index("ix_consolidated_demand_round_clave", "round_id", "clave"),
        Index("ix_consolidated_demand_round_total", "round_id", "total_max"),
    )

    round_id: Mapped[int] = mapped_column(
        ForeignKey("demand_rounds.id", ondelete="CASCADE"), primary_key=True
    )
    clave_id: Mapped[int] = mapped_column(ForeignKey("claves.id"), primary_key=True)
    clave: Mapped[str] = mapped_column(String(20))
    total_min: Mapped[int] = mapped_column(BigInteger)
    total_max: Mapped[int] = mapped_column(BigInteger)
    breakdown: Mapped[dict[str, Any]] = mapped_column(JSON)
    counted: Mapped[int] = mapped_column(Integer)


class Consumption(Base):
    """What a unit consumed of a clave in a month, and the days it had none to give."""

    __tablename__ = "consumption"
    __table_args__ = (UniqueConstraint("unit_id", "clave_id", "month"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id", ondelete="CASCADE"), index=True)
    clave_id: Mapped[int] = mapped_column(ForeignKey("claves.id"), index=True)
    month: Mapped[date] = mapped_column(Date)  # the first day of the month
    consumed: Mapped[int] = mapped_column(Integer)
    stockout_days: Mapped[int | None] = mapped_column(Integer)

    unit: Mapped[Unit] = relationship()


class ForecastSuggestion(Base):
    """The maximum Abasto suggests for an institution's clave in a round, and how it got it."""

    __tablename__ = "forecast_suggestions"
    __table_args__ = (UniqueConstraint("round_id", "institution_id", "clave_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    round_id: Mapped[int] = mapped_column(
        ForeignKey("demand_rounds.id", ondelete="CASCADE"), index=True
    )
    institution_id: Mapped[int] = mapped_column(ForeignKey("institutions.id"))
    clave_id: Mapped[int] = mapped_column(ForeignKey("claves.id"))
    suggested_max: Mapped[int] = mapped_column(Integer)
    model: Mapped[str] = mapped_column(String(40))
    pattern: Mapped[str] = mapped_column(String(20))
    history_months: Mapped[int] = mapped_column(Integer)
    detail: Mapped[str | None] = mapped_column(Text)
    computed_at: Mapped[datetime] = mapped_column(UTCDateTime())
