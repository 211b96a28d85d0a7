"""Tables of the catalog: claves of the Compendio and institutions' own codes mapped to them."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import BigInteger, ForeignKey, Integer, Numeric, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from abasto.core.db import Base, UTCDateTime
from abasto.identity.models import Institution


class Clave(Base):
    __tablename__ = "claves"

    id: Mapped[int] = mapped_column(primary_key=True)
    clave: Mapped[str] = mapped_column(String(20), unique=True)
    description: Mapped[str] = mapped_column(Text)
    unit: Mapped[str | None] = mapped_column(String(100))
    presentation: Mapped[str | None] = mapped_column(String(300))
    group: Mapped[str] = mapped_column(String(3), index=True)
    category: Mapped[str] = mapped_column(String(40))
    iva_rate: Mapped[Decimal] = mapped_column(Numeric(5, 4))
    cucop: Mapped[int | None] = mapped_column(BigInteger)
    # Clave and description folded (no case, accents, punctuation): search stays portable SQL.
    search_text: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
    version: Mapped[int] = mapped_column(Integer, default=1)

    __mapper_args__ = {"version_id_col": version}


class Homologation(Base):
    """An institution's own code for a clave (e.g. IMSS's internal key)."""

    __tablename__ = "homologations"
    __table_args__ = (UniqueConstraint("institution_id", "institution_code"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    institution_id: Mapped[int] = mapped_column(
        ForeignKey("institutions.id", ondelete="CASCADE"), index=True
    )
    institution_code: Mapped[str] = mapped_column(String(60))
    clave_id: Mapped[int] = mapped_column(ForeignKey("claves.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())

    institution: Mapped[Institution] = relationship()
    clave: Mapped[Clave] = relationship()
