"""Request and response shapes of identity's API."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from pydantic import BaseModel, Field

from abasto.identity import rules
from abasto.identity.models import Institution, Sanction, SupplierRename, Unit
from abasto.identity.service import (
    InstitutionSummary,
    SanctionsImportSummary,
    SupplierStanding,
    UnitsImportSummary,
)


class TokenCreate(BaseModel):
    username: str = Field(min_length=1, max_length=80)
    password: str = Field(min_length=1, max_length=200)
    label: str = Field(default="", max_length=100)


class TokenRead(BaseModel):
    access_token: str
    token_type: str = "bearer"
    expires_at: datetime


class MeRead(BaseModel):
    username: str
    full_name: str
    role: str
    institution: str | None
    supplier: str | None


# ----- institutions --------------------------------------------------------------------------


class InstitutionRead(BaseModel):
    code: str
    name: str
    kind: str
    state: str | None
    retired_at: datetime | None
    units: int
    units_by_kind: dict[str, int]

    @classmethod
    def of(cls, summary: InstitutionSummary) -> InstitutionRead:
        institution = summary.institution
        return cls(
            code=institution.code,
            name=institution.name,
            kind=institution.kind,
            state=institution.state_code,
            retired_at=institution.retired_at,
            units=summary.units,
            units_by_kind=summary.units_by_kind,
        )


class UnitRead(BaseModel):
    code: str
    name: str
    kind: str
    state: str | None
    state_name: str | None
    municipality: str | None
    typology: str | None
    latitude: Decimal | None
    longitude: Decimal | None
    retired_at: datetime | None

    @classmethod
    def of(cls, unit: Unit) -> UnitRead:
        return cls(
            code=unit.code,
            name=unit.name,
            kind=unit.kind,
            state=unit.state_code,
            state_name=rules.state_name(unit.state_code),
            municipality=unit.municipality,
            typology=unit.typology,
            latitude=unit.latitude,
            longitude=unit.longitude,
            retired_at=unit.retired_at,
        )


class InstitutionDetailRead(BaseModel):
    code: str
    name: str
    kind: str
    parent: str | None
    state: str | None
    retired_at: datetime | None
    aliases: list[str]
    units: list[UnitRead]

    @classmethod
    def of(cls, institution: Institution) -> InstitutionDetailRead:
        return cls(
            code=institution.code,
            name=institution.name,
            kind=institution.kind,
            parent=institution.coordinator.code if institution.coordinator else None,
            state=institution.state_code,
            retired_at=institution.retired_at,
            aliases=sorted(a.alias for a in institution.aliases),
            units=[UnitRead.of(u) for u in institution.units],
        )


State = Field(default=None, max_length=60, description="Clave INEGI (01-32) o nombre.")


class InstitutionCreate(BaseModel):
    code: str = Field(max_length=40, description="Clave corta, p. ej. IMSS o SESA-14.")
    name: str = Field(max_length=300)
    kind: str = Field(max_length=60, description="p. ej. seguridad social, CCINSHAE.")
    parent: str | None = Field(
        default=None, max_length=40, description="Clave de la institución coordinadora."
    )
    state: str | None = State
    aliases: list[str] = Field(default=[], max_length=50)


class InstitutionUpdate(BaseModel):
    """A new official name, or a new kind, parent and state (the three together)."""

    name: str | None = Field(default=None, max_length=300)
    kind: str | None = Field(default=None, max_length=60)
    parent: str | None = Field(default=None, max_length=40)
    state: str | None = State


class AliasCreate(BaseModel):
    alias: str = Field(max_length=300, description="Otro nombre con que aparece en archivos.")


class Retirement(BaseModel):
    reason: str = Field(default="", max_length=500)


class UnitCreate(BaseModel):
    code: str = Field(max_length=60, description="Clave de la unidad; la CLUES si la tiene.")
    name: str = Field(max_length=300)
    kind: str = Field(default="unidad", max_length=40)
    state: str | None = State
    municipality: str | None = Field(default=None, max_length=120)
    typology: str | None = Field(default=None, max_length=150)
    latitude: Decimal | None = Field(default=None, ge=-90, le=90, max_digits=9, decimal_places=6)
    longitude: Decimal | None = Field(default=None, ge=-180, le=180, max_digits=9, decimal_places=6)


class UnitRename(BaseModel):
    name: str = Field(max_length=300)


class UnitsImportRead(BaseModel):
    filename: str
    sha256: str
    rows: int
    added: int
    updated: int
    unchanged: int
    retired: int
    by_institution: dict[str, int]

    @classmethod
    def of(cls, summary: UnitsImportSummary) -> UnitsImportRead:
        return cls(
            filename=summary.filename,
            sha256=summary.sha256,
            rows=summary.rows,
            added=summary.added,
            updated=summary.updated,
            unchanged=summary.unchanged,
            retired=summary.retired,
            by_institution=summary.by_institution,
        )


# ----- suppliers and sanctions ---------------------------------------------------------------


class SanctionRead(BaseModel):
    """A row of the SFP list as published."""

    row: int
    supplier_name: str
    agency: str | None
    file_number: str | None
    facts: str | None
    resolution: str | None
    acquittal: bool
    notified_on: date | None
    notified_text: str | None = Field(
        description="La fecha de notificación tal como se publicó, cuando no es una fecha legible."
    )
    resolved_on: date | None
    term: str | None
    amount: Decimal | None

    @classmethod
    def of(cls, sanction: Sanction) -> SanctionRead:
        return cls(
            row=sanction.source_row,
            supplier_name=sanction.supplier_name,
            agency=sanction.agency,
            file_number=sanction.file_number,
            facts=sanction.facts,
            resolution=sanction.resolution,
            acquittal=rules.is_acquittal(sanction.resolution),
            notified_on=sanction.notified_on,
            notified_text=sanction.notified_text,
            resolved_on=sanction.resolved_on,
            term=sanction.term,
            amount=sanction.amount,
        )


class SanctionPage(BaseModel):
    items: list[SanctionRead]
    total: int
    page: int
    per_page: int


class SupplierRead(BaseModel):
    rfc: str
    razon_social: str
    state: str | None
    state_name: str | None
    registered_on: date
    version: int
    status: str = Field(description="pendiente, verificado o rechazado; sólo verificado participa.")
    eligible: bool = Field(description="Verificado y sin sanción que lo impida.")
    sanctions_count: int

    @classmethod
    def of(cls, standing: SupplierStanding) -> SupplierRead:
        supplier = standing.supplier
        return cls(
            rfc=supplier.rfc,
            razon_social=supplier.razon_social,
            state=supplier.state_code,
            state_name=rules.state_name(supplier.state_code),
            registered_on=supplier.registered_on,
            version=supplier.version,
            status=supplier.status.value,
            eligible=standing.eligible,
            sanctions_count=len(standing.sanctions),
        )


class RenameRead(BaseModel):
    """A request to change a supplier's razón social, and the buyer's decision."""

    id: int
    rfc: str
    old_name: str
    new_name: str
    status: str
    requested_by: str
    requested_at: datetime
    decided_by: str | None
    decided_at: datetime | None
    note: str | None

    @classmethod
    def of(cls, rename: SupplierRename) -> RenameRead:
        return cls(
            id=rename.id,
            rfc=rename.supplier.rfc,
            old_name=rename.old_name,
            new_name=rename.new_name,
            status=rename.status.value,
            requested_by=rename.requested_by,
            requested_at=rename.requested_at,
            decided_by=rename.decided_by,
            decided_at=rename.decided_at,
            note=rename.note,
        )


class SupplierDetailRead(SupplierRead):
    sanctions: list[SanctionRead]
    """Every row of the list naming the supplier under any name it has borne; those with
    ``acquittal`` do not bar it."""
    earlier_names: list[str]
    pending_rename: RenameRead | None

    @classmethod
    def of_detail(
        cls, standing: SupplierStanding, pending: SupplierRename | None = None
    ) -> SupplierDetailRead:
        current = standing.supplier.normalised_name
        return cls(
            **SupplierRead.of(standing).model_dump(),
            sanctions=[SanctionRead.of(s) for s in standing.listed],
            earlier_names=[
                n.razon_social for n in standing.supplier.names if n.normalised_name != current
            ],
            pending_rename=RenameRead.of(pending) if pending else None,
        )


class SupplierPage(BaseModel):
    items: list[SupplierRead]
    total: int
    page: int
    per_page: int


# Plain strings: the service checks them and answers in Spanish, every problem at once.
class SupplierCreate(BaseModel):
    """A supplier's self-registration with its first user."""

    rfc: str
    razon_social: str
    state: str | None = Field(default=None, description="Clave INEGI (01-32) o nombre.")
    username: str
    full_name: str
    password: str


class SupplierCreated(BaseModel):
    supplier: SupplierDetailRead
    username: str


class SupplierUpdate(BaseModel):
    razon_social: str
    version: int = Field(description="La versión leída; si ya cambió, la respuesta es 409.")


class RenameDecision(BaseModel):
    note: str = Field(default="", max_length=500, description="Motivo; obligatorio al rechazar.")


class SupplierVerification(BaseModel):
    """What the buyer saw in the supplier's documents."""

    tax_certificate: str = Field(
        max_length=40, description="idCIF de la Constancia de Situación Fiscal (11 dígitos)."
    )
    articles_of_incorporation: str = Field(
        max_length=400, description="Acta constitutiva: escritura, notaría y fecha, o folio."
    )
    representative: str = Field(
        max_length=400, description="Representante legal y el poder que lo acredita."
    )


class SupplierRejection(BaseModel):
    note: str = Field(max_length=500, description="Por qué no se verifica.")


class MatchedSupplierRead(BaseModel):
    rfc: str
    razon_social: str
    sanctions: int


class SanctionsImportRead(BaseModel):
    filename: str
    sha256: str
    records: int
    stored: int
    matched: list[MatchedSupplierRead]
    newly_matched: list[str]
    no_longer_matched: list[str]
    notes: list[dict[str, str | int]]
    """What was repaired or tolerated in the file, as problem details' ``errors``."""

    @classmethod
    def of(cls, summary: SanctionsImportSummary) -> SanctionsImportRead:
        return cls(
            filename=summary.filename,
            sha256=summary.sha256,
            records=summary.records,
            stored=summary.stored,
            matched=[
                MatchedSupplierRead(rfc=m.rfc, razon_social=m.razon_social, sanctions=m.sanctions)
                for m in summary.matched
            ],
            newly_matched=list(summary.newly_matched),
            no_longer_matched=list(summary.no_longer_matched),
            notes=[note.as_dict() for note in summary.notes],
        )
