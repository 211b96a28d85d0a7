"""Request and response shapes of the demand API."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from pydantic import BaseModel, Field

from abasto.core.bounds import Count, Instant
from abasto.demand import rules, service
from abasto.demand.models import DemandRound
from abasto.demand.rules import Pair


class Quantities(BaseModel):
    min: int
    max: int

    @classmethod
    def of(cls, pair: Pair) -> Quantities:
        return cls(min=pair.min, max=pair.max)


class RoundCreate(BaseModel):
    name: str = Field(description="Nombre de la ronda, p. ej. 2027-2028.", max_length=60)
    periods: list[str] = Field(description='Años de la ronda, p. ej. ["2027", "2028"].')
    institutions: list[str] | None = Field(
        default=None, description="Claves de las instituciones; omitido: todas salvo el comprador."
    )
    min_share: Decimal = Field(
        default=rules.DEFAULT_MIN_SHARE, description="Mínimo como proporción del máximo."
    )
    deadline: Instant | None = Field(
        default=None,
        description="Fecha límite de captura de las instituciones (con zona horaria); la"
        " captura sigue admitida después, hasta que el comprador congela la ronda.",
    )


class DeadlineWrite(BaseModel):
    deadline: Instant | None = Field(
        description="Nueva fecha límite de captura (con zona horaria); null la quita."
    )
    version: int | None = Field(
        default=None, description="La versión de la ronda leída; si ya cambió, 409."
    )


class PeriodRead(BaseModel):
    label: str
    start: date
    end: date


class RoundRead(BaseModel):
    name: str
    status: str
    status_label: str
    periods: list[PeriodRead]
    min_share: Decimal
    created_at: datetime
    frozen_at: datetime | None
    deadline: datetime | None
    version: int

    @classmethod
    def of(cls, found: DemandRound) -> RoundRead:
        return cls(
            name=found.name,
            status=found.status,
            status_label=service.STATUS_LABELS[found.status],
            periods=[PeriodRead.model_validate(period) for period in found.periods],
            min_share=found.min_share.normalize(),
            created_at=found.created_at,
            frozen_at=found.frozen_at,
            deadline=found.deadline,
            version=found.version,
        )


class RoundSummaryRead(RoundRead):
    institutions: int
    submitted: int
    pending: int
    lines: int

    @classmethod
    def of_summary(cls, summary: service.RoundSummary) -> RoundSummaryRead:
        return cls(
            **RoundRead.of(summary.round).model_dump(),
            institutions=summary.institutions,
            submitted=summary.submitted,
            pending=summary.pending,
            lines=summary.lines,
        )


class InstitutionProgressRead(BaseModel):
    code: str
    name: str
    submitted: bool
    submitted_at: datetime | None
    last_change_at: datetime | None
    lines: int
    total: Quantities


class ProgressRead(BaseModel):
    round: RoundRead
    submitted: int
    pending: int
    lines: int
    institutions: list[InstitutionProgressRead]

    @classmethod
    def of(cls, progress: service.RoundProgress) -> ProgressRead:
        return cls(
            round=RoundRead.of(progress.round),
            submitted=progress.submitted,
            pending=progress.pending,
            lines=progress.lines,
            institutions=[
                InstitutionProgressRead(
                    code=i.code,
                    name=i.name,
                    submitted=i.submitted,
                    submitted_at=i.submitted_at,
                    last_change_at=i.last_change_at,
                    lines=i.lines,
                    total=Quantities.of(i.total),
                )
                for i in progress.institutions
            ],
        )


class VersionBody(BaseModel):
    version: int | None = Field(
        default=None, description="La versión de la ronda leída; si ya cambió, 409."
    )


class ReopenBody(VersionBody):
    reason: str = Field(description="Por qué se reabre (queda en la bitácora).", max_length=2000)


class LineWrite(BaseModel):
    """A line's quantities; both null removes the line."""

    min_qty: Count | None
    max_qty: Count | None
    version: int | None = Field(
        description="La versión leída de la línea; null si no existía. Si ya cambió, 409."
    )
    unit_code: str = Field(
        default="", description="Clave de la unidad (punto de entrega); vacío: toda la institución."
    )


class SuggestionRead(BaseModel):
    suggested_max: int
    model: str
    pattern: str
    history_months: int


class LineRead(BaseModel):
    clave: str
    description: str
    unit: str | None
    unit_code: str
    min_qty: int | None
    max_qty: int | None
    version: int | None
    updated_at: datetime | None
    suggestion: SuggestionRead | None
    flag: str | None = Field(
        description="«above» o «below» cuando el máximo se aleja de la sugerencia."
    )

    @classmethod
    def of(cls, line: service.LineView) -> LineRead:
        suggestion = line.suggestion
        return cls(
            clave=line.clave,
            description=line.description,
            unit=line.unit,
            unit_code=line.unit_code,
            min_qty=line.min_qty,
            max_qty=line.max_qty,
            version=line.version,
            updated_at=line.updated_at,
            suggestion=None
            if suggestion is None
            else SuggestionRead(
                suggested_max=suggestion.suggested_max,
                model=suggestion.model,
                pattern=suggestion.pattern,
                history_months=suggestion.history_months,
            ),
            flag=line.flag,
        )


class LinesPageRead(BaseModel):
    round: str
    institution: str
    unit_code: str
    items: list[LineRead]
    total: int
    page: int
    per_page: int

    @classmethod
    def of(cls, page: service.LinesPage) -> LinesPageRead:
        return cls(
            round=page.round.name,
            institution=page.institution.code,
            unit_code=page.unit_code,
            items=[LineRead.of(line) for line in page.items],
            total=page.total,
            page=page.page,
            per_page=page.per_page,
        )


class SubmissionRead(BaseModel):
    round: str
    institution: str
    submitted_at: datetime | None


class InstitutionImportRead(BaseModel):
    code: str
    name: str
    named_in_file: list[str]
    lines: int
    new: int
    updated: int
    removed: int
    unchanged: int
    total: Quantities


class NameSettledRead(BaseModel):
    """What the import did with a name the registry lacked."""

    name: str
    action: str = Field(description="mapped, unit o institution.")
    institution: str
    unit: str
    score: float | None
    coordinator: str | None


class ObservationRead(BaseModel):
    """A line imported below the round's minimum share, and where it stands."""

    id: int
    institution: str
    unit: str
    clave: str
    period: str
    min_qty: int
    max_qty: int
    expected_min: int
    sheet: str
    row: int
    column: str
    status: str = Field(description="pendiente, corregida o aceptada.")
    reason: str | None
    version: int


class ObservationAccept(BaseModel):
    reason: str = Field(
        description="Por qué se acepta el mínimo del archivo (queda en la bitácora).",
        max_length=2000,
    )
    version: int | None = Field(
        default=None, description="La versión leída de la observación; si ya cambió, 409."
    )


class AppendixImportRead(BaseModel):
    round: str
    filename: str
    sha256: str
    sheets: list[str]
    lines: int
    new: int
    updated: int
    removed: int
    unchanged: int
    joined: list[str]
    institutions: list[InstitutionImportRead]
    skipped: list[dict[str, str | int]] = Field(
        description="Lo que no se leyó: filas en blanco, notas, totales, columnas ajenas."
    )
    names: list[NameSettledRead] = Field(
        default_factory=list,
        description="Nombres que el registro no tenía: asociados a una institución o registrados.",
    )
    observations: int = Field(
        default=0,
        description="Líneas importadas con mínimo menor que la proporción de la ronda.",
    )

    @classmethod
    def of(cls, summary: service.AppendixImportSummary) -> AppendixImportRead:
        return cls(
            names=[
                NameSettledRead.model_validate(s, from_attributes=True) for s in summary.settled
            ],
            observations=summary.observations,
            round=summary.round,
            filename=summary.filename,
            sha256=summary.sha256,
            sheets=list(summary.sheets),
            lines=summary.lines,
            new=summary.new,
            updated=summary.updated,
            removed=summary.removed,
            unchanged=summary.unchanged,
            joined=list(summary.joined),
            skipped=[note.as_dict() for note in summary.skipped],
            institutions=[
                InstitutionImportRead(
                    code=i.code,
                    name=i.name,
                    named_in_file=list(i.named_in_file),
                    lines=i.lines,
                    new=i.new,
                    updated=i.updated,
                    removed=i.removed,
                    unchanged=i.unchanged,
                    total=Quantities.of(i.total),
                )
                for i in summary.institutions
            ],
        )


class SheetImportRead(BaseModel):
    round: str
    institution: str
    filename: str
    sha256: str
    lines: int
    new: int
    updated: int
    removed: int
    unchanged: int
    translated: int
    total: Quantities
    periods: list[str] = Field(
        description='Periodos con cantidades en el archivo ("" para la ronda entera).'
    )
    skipped: list[dict[str, str | int]] = Field(
        description="Lo que no se leyó: filas en blanco, notas, totales, columnas ajenas."
    )

    @classmethod
    def of(cls, summary: service.SheetImportSummary) -> SheetImportRead:
        return cls(
            round=summary.round,
            institution=summary.institution,
            filename=summary.filename,
            sha256=summary.sha256,
            lines=summary.lines,
            new=summary.new,
            updated=summary.updated,
            removed=summary.removed,
            unchanged=summary.unchanged,
            translated=summary.translated,
            total=Quantities.of(summary.total),
            periods=list(summary.periods),
            skipped=[note.as_dict() for note in summary.skipped],
        )


class BreakdownRead(BaseModel):
    institution: str
    min: int
    max: int
    counted: bool = Field(description="Falso si ya está incluida en la de su coordinadora.")
    coordinator: str | None


class ConsolidatedLineRead(BaseModel):
    clave: str
    description: str
    unit: str | None
    total: Quantities
    institutions: list[BreakdownRead]

    @classmethod
    def of(cls, line: service.ConsolidatedLine) -> ConsolidatedLineRead:
        breakdown = [
            BreakdownRead(
                institution=code, min=pair.min, max=pair.max, counted=True, coordinator=None
            )
            for code, pair in line.counted.items()
        ]
        for coordinator, members in line.members.items():
            breakdown.extend(
                BreakdownRead(
                    institution=code,
                    min=pair.min,
                    max=pair.max,
                    counted=False,
                    coordinator=coordinator,
                )
                for code, pair in members.items()
            )
        return cls(
            clave=line.clave,
            description=line.description,
            unit=line.unit,
            total=Quantities.of(line.total),
            institutions=breakdown,
        )


class InstitutionColumnRead(BaseModel):
    code: str
    name: str
    coordinator: str | None
    total: Quantities


class ConsolidatedPageRead(BaseModel):
    round: str
    claves: int
    total: Quantities
    institutions: list[InstitutionColumnRead]
    items: list[ConsolidatedLineRead]
    matching: int
    page: int
    per_page: int

    @classmethod
    def of(cls, page: service.ConsolidatedPage[service.ConsolidatedLine]) -> ConsolidatedPageRead:
        consolidation = page.consolidation
        return cls(
            round=consolidation.round.name,
            claves=consolidation.claves,
            total=Quantities.of(consolidation.total),
            institutions=[
                InstitutionColumnRead(
                    code=code,
                    name=name,
                    coordinator=consolidation.coordinators.get(code),
                    total=Quantities.of(consolidation.columns.get(code, rules.ZERO)),
                )
                for code, name in consolidation.institutions.items()
            ],
            items=[ConsolidatedLineRead.of(line) for line in page.items],
            matching=page.total,
            page=page.page,
            per_page=page.per_page,
        )


class ConsumptionImportRead(BaseModel):
    filename: str
    sha256: str
    rows: int
    new: int
    updated: int
    unchanged: int
    units: int
    claves: int
    first_month: date | None
    last_month: date | None

    @classmethod
    def of(cls, summary: service.ConsumptionImportSummary) -> ConsumptionImportRead:
        return cls(
            filename=summary.filename,
            sha256=summary.sha256,
            rows=summary.rows,
            new=summary.new,
            updated=summary.updated,
            unchanged=summary.unchanged,
            units=summary.units,
            claves=summary.claves,
            first_month=summary.first_month,
            last_month=summary.last_month,
        )


class ForecastRead(BaseModel):
    round: str
    suggestions: int
    institutions: int
    series: int
    horizon_months: int
    lead_months: int
    models: dict[str, int]
    flagged: int

    @classmethod
    def of(cls, summary: service.ForecastSummary) -> ForecastRead:
        return cls(
            round=summary.round,
            suggestions=summary.suggestions,
            institutions=summary.institutions,
            series=summary.series,
            horizon_months=summary.horizon_months,
            lead_months=summary.lead_months,
            models=summary.models,
            flagged=summary.flagged,
        )


class FlagRead(BaseModel):
    institution: str
    clave: str
    description: str
    submitted_max: int
    suggested_max: int
    model: str
    history_months: int
    flag: str

    @classmethod
    def of(cls, flagged: service.FlaggedLine) -> FlagRead:
        return cls(
            institution=flagged.institution,
            clave=flagged.clave,
            description=flagged.description,
            submitted_max=flagged.submitted_max,
            suggested_max=flagged.suggested_max,
            model=flagged.model,
            history_months=flagged.history_months,
            flag=flagged.flag,
        )


class NameMapping(BaseModel):
    name: str = Field(description="El nombre tal como aparece en el archivo.", max_length=300)
    institution: str = Field(description="Clave de la institución registrada, p. ej. IMSS.")


class NameMappingRead(BaseModel):
    name: str
    institution: str
