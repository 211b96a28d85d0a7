"""Who is who: institutions and units, suppliers and sanctions, users and their sessions."""

from __future__ import annotations

import enum
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import (
    Boolean,
    Date,
    Enum,
    ForeignKey,
    Integer,
    Numeric,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from abasto.core.db import Base, UTCDateTime


class Role(enum.StrEnum):
    """The roles of DESIGN.md; ``institucion`` and ``proveedor`` users are scoped to one party."""

    comprador = "comprador"
    institucion = "institucion"
    proveedor = "proveedor"
    evaluador = "evaluador"
    auditor = "auditor"


ROLE_LABELS = {
    Role.comprador: "Comprador coordinador",
    Role.institucion: "Institución",
    Role.proveedor: "Proveedor",
    Role.evaluador: "Evaluador",
    Role.auditor: "Auditor",
}


class Institution(Base):
    __tablename__ = "institutions"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(40), unique=True)
    name: Mapped[str] = mapped_column(String(300))
    kind: Mapped[str] = mapped_column(String(60))
    # The body that buys for this one in consolidated appendices (CCINSHAE for its hospitals):
    # a coordinator's line already includes its members', so totals must not add both.
    coordinator_id: Mapped[int | None] = mapped_column(ForeignKey("institutions.id"))
    # The entidad federativa of a state body (a state's health services, a regional hospital).
    state_code: Mapped[str | None] = mapped_column(String(2))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # Retired: kept with its history and its old demand lines, offered for nothing new.
    retired_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    coordinator: Mapped[Institution | None] = relationship(remote_side="Institution.id")
    units: Mapped[list[Unit]] = relationship(
        back_populates="institution", order_by="Unit.code", cascade="all, delete-orphan"
    )
    aliases: Mapped[list[InstitutionAlias]] = relationship(
        back_populates="institution", cascade="all, delete-orphan"
    )


class InstitutionAlias(Base):
    """Another name an institution goes by in official files; ``folded`` is what is matched."""

    __tablename__ = "institution_aliases"

    id: Mapped[int] = mapped_column(primary_key=True)
    institution_id: Mapped[int] = mapped_column(ForeignKey("institutions.id", ondelete="CASCADE"))
    alias: Mapped[str] = mapped_column(String(300))
    folded: Mapped[str] = mapped_column(String(300), unique=True)

    institution: Mapped[Institution] = relationship(back_populates="aliases")


class Unit(Base):
    """An OOAD, UMAE, hospital, warehouse or state entity of an institution."""

    __tablename__ = "units"
    __table_args__ = (UniqueConstraint("institution_id", "code"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    institution_id: Mapped[int] = mapped_column(
        ForeignKey("institutions.id", ondelete="CASCADE"), index=True
    )
    code: Mapped[str] = mapped_column(String(60))
    name: Mapped[str] = mapped_column(String(300))
    kind: Mapped[str] = mapped_column(String(40))
    state_code: Mapped[str | None] = mapped_column(String(2))
    municipality: Mapped[str | None] = mapped_column(String(120))
    # The establishment's type as the CLUES catalogue names it ("HOSPITAL GENERAL", …).
    typology: Mapped[str | None] = mapped_column(String(150))
    latitude: Mapped[Decimal | None] = mapped_column(Numeric(9, 6))
    longitude: Mapped[Decimal | None] = mapped_column(Numeric(9, 6))
    retired_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    institution: Mapped[Institution] = relationship(back_populates="units")


class SupplierStatus(enum.StrEnum):
    """Where a supplier's registration stands; only a ``verificado`` supplier takes part."""

    pendiente = "pendiente"
    verificado = "verificado"
    rechazado = "rechazado"


SUPPLIER_STATUS_LABELS = {
    SupplierStatus.pendiente: "Pendiente de verificación",
    SupplierStatus.verificado: "Verificado",
    SupplierStatus.rechazado: "Rechazado",
}


class Supplier(Base):
    __tablename__ = "suppliers"

    id: Mapped[int] = mapped_column(primary_key=True)
    rfc: Mapped[str] = mapped_column(String(13), unique=True)
    razon_social: Mapped[str] = mapped_column(String(300))
    # The razón social without case, accents, punctuation or legal form: what sanctions match on.
    normalised_name: Mapped[str] = mapped_column(String(300), index=True)
    state_code: Mapped[str | None] = mapped_column(String(2))
    registered_on: Mapped[date] = mapped_column(Date)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    version: Mapped[int] = mapped_column(Integer, default=1)
    status: Mapped[SupplierStatus] = mapped_column(
        Enum(SupplierStatus, native_enum=False, length=12), default=SupplierStatus.pendiente
    )
    # Whether a sanction on the list names any name this RFC has borne: kept by the import,
    # registration and approved renames, so a bid reads one column instead of matching names.
    sanctioned: Mapped[bool] = mapped_column(Boolean, default=False)
    # What the buyer checked before verifying (or why it refused): the documents' references.
    tax_certificate: Mapped[str | None] = mapped_column(String(40))
    articles_of_incorporation: Mapped[str | None] = mapped_column(String(200))
    representative: Mapped[str | None] = mapped_column(String(200))
    review_note: Mapped[str | None] = mapped_column(String(500))
    reviewed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    names: Mapped[list[SupplierName]] = relationship(
        back_populates="supplier", order_by="SupplierName.id", cascade="all, delete-orphan"
    )

    __mapper_args__ = {"version_id_col": version}


class SupplierName(Base):
    """Every razón social an RFC has borne: the sanctions list is matched against all of them,
    so a rename never leaves a sanction behind."""

    __tablename__ = "supplier_names"
    __table_args__ = (UniqueConstraint("supplier_id", "normalised_name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    supplier_id: Mapped[int] = mapped_column(ForeignKey("suppliers.id", ondelete="CASCADE"))
    razon_social: Mapped[str] = mapped_column(String(300))
    normalised_name: Mapped[str] = mapped_column(String(300), index=True)
    since: Mapped[datetime] = mapped_column(UTCDateTime())

    supplier: Mapped[Supplier] = relationship(back_populates="names")


class RenameStatus(enum.StrEnum):
    pendiente = "pendiente"
    aprobado = "aprobado"
    rechazado = "rechazado"


class SupplierRename(Base):
    """A requested change of razón social; it takes effect only when the buyer approves it."""

    __tablename__ = "supplier_renames"

    id: Mapped[int] = mapped_column(primary_key=True)
    supplier_id: Mapped[int] = mapped_column(
        ForeignKey("suppliers.id", ondelete="CASCADE"), index=True
    )
    old_name: Mapped[str] = mapped_column(String(300))
    new_name: Mapped[str] = mapped_column(String(300))
    status: Mapped[RenameStatus] = mapped_column(
        Enum(RenameStatus, native_enum=False, length=12), default=RenameStatus.pendiente
    )
    requested_by: Mapped[str] = mapped_column(String(120))
    requested_at: Mapped[datetime] = mapped_column(UTCDateTime())
    decided_by: Mapped[str | None] = mapped_column(String(120))
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    note: Mapped[str | None] = mapped_column(String(500))

    supplier: Mapped[Supplier] = relationship()


class Sanction(Base):
    """A row of the SFP list of sanctioned suppliers; replaced whole by each import."""

    __tablename__ = "sanctions"

    id: Mapped[int] = mapped_column(primary_key=True)
    supplier_name: Mapped[str] = mapped_column(String(400))
    normalised_name: Mapped[str] = mapped_column(String(400), index=True)
    agency: Mapped[str | None] = mapped_column(String(400))
    file_number: Mapped[str | None] = mapped_column(String(100))
    facts: Mapped[str | None] = mapped_column(Text)
    resolution: Mapped[str | None] = mapped_column(String(400))
    notified_on: Mapped[date | None] = mapped_column(Date)
    # The notification date as published when it is not a readable date ("2006-Ju-30").
    notified_text: Mapped[str | None] = mapped_column(String(100))
    resolved_on: Mapped[date | None] = mapped_column(Date)
    term: Mapped[str | None] = mapped_column(String(100))
    amount: Mapped[Decimal | None] = mapped_column(Numeric(18, 2))
    source_row: Mapped[int] = mapped_column(Integer)


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(80), unique=True)
    full_name: Mapped[str] = mapped_column(String(200))
    password_hash: Mapped[str] = mapped_column(String(200))
    role: Mapped[Role] = mapped_column(Enum(Role, native_enum=False, length=20))
    institution_id: Mapped[int | None] = mapped_column(ForeignKey("institutions.id"))
    supplier_id: Mapped[int | None] = mapped_column(ForeignKey("suppliers.id"))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())

    institution: Mapped[Institution | None] = relationship()
    supplier: Mapped[Supplier | None] = relationship()


class Credential(Base):
    """A bearer token (API) or a session (pages); only the SHA-256 of the secret is stored."""

    __tablename__ = "credentials"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(10))  # "token" or "session"
    secret_hash: Mapped[str] = mapped_column(String(64), unique=True)
    label: Mapped[str] = mapped_column(String(100), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    user: Mapped[User] = relationship()


class LoginThrottle(Base):
    """Failed sign-ins of one account or one address in the current window.

    In the database, not in a process, so every worker behind the proxy counts the same
    failures; ``refused`` counts the attempts turned away (429) while blocked.
    """

    __tablename__ = "login_throttles"

    scope: Mapped[str] = mapped_column(String(10), primary_key=True)  # "account" or "address"
    key: Mapped[str] = mapped_column(String(120), primary_key=True)
    window_start: Mapped[datetime] = mapped_column(UTCDateTime())
    failures: Mapped[int] = mapped_column(Integer)
    refused: Mapped[int] = mapped_column(Integer, default=0)
    blocked_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
