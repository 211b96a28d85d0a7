"""Tables of red flags: the flags of Abasto's own data, replaced whole by each run, and the runs."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Float, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from abasto.core.db import Base, UTCDateTime


class RedFlag(Base):
    """One flag with its explanation; the ids it links to and their labels, for the pages."""

    __tablename__ = "red_flags"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(8), index=True)
    kind: Mapped[str] = mapped_column(String(20))
    subject: Mapped[str] = mapped_column(String(300))
    tender_id: Mapped[int | None] = mapped_column(ForeignKey("tenders.id"), index=True)
    tender_number: Mapped[str | None] = mapped_column(String(40))
    partida_number: Mapped[int | None] = mapped_column(Integer)
    supplier_id: Mapped[int | None] = mapped_column(ForeignKey("suppliers.id"), index=True)
    supplier_rfc: Mapped[str | None] = mapped_column(String(13), index=True)
    institution_id: Mapped[int | None] = mapped_column(ForeignKey("institutions.id"), index=True)
    institution_code: Mapped[str | None] = mapped_column(String(40))
    clave: Mapped[str | None] = mapped_column(String(20), index=True)
    value: Mapped[float] = mapped_column(Float)
    threshold: Mapped[float | None] = mapped_column(Float)
    explanation: Mapped[str] = mapped_column(Text)
    # {"evidence": {...}, "place": "..."}: the numbers and the ids of the rows it came from.
    detail: Mapped[dict[str, Any]] = mapped_column(JSON)
    run_id: Mapped[int] = mapped_column(ForeignKey("red_flag_runs.id"))


class RedFlagRun(Base):
    """One computation: when, the newest fallo it saw (for the tick's cheap check), the counts."""

    __tablename__ = "red_flag_runs"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    last_fallo_id: Mapped[int | None] = mapped_column(Integer)
    counts: Mapped[dict[str, int]] = mapped_column(JSON)
    ledger_seq: Mapped[int] = mapped_column(Integer)
