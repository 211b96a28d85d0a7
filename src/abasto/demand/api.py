"""JSON routes of demand: rounds, institutions' lines, imports, the consolidated appendix."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, File, Query, UploadFile
from fastapi.responses import Response

from abasto.core.context import Context
from abasto.core.spreadsheet import XLSX_MEDIA_TYPE as XLSX
from abasto.demand import service
from abasto.demand.schemas import (
    AppendixImportRead,
    ConsolidatedPageRead,
    ConsumptionImportRead,
    DeadlineWrite,
    FlagRead,
    ForecastRead,
    LineRead,
    LinesPageRead,
    LineWrite,
    NameMapping,
    NameMappingRead,
    ObservationAccept,
    ObservationRead,
    ProgressRead,
    ReopenBody,
    RoundCreate,
    RoundRead,
    RoundSummaryRead,
    SheetImportRead,
    SubmissionRead,
    VersionBody,
)
from abasto.identity.models import Role
from abasto.web.deps import allow, read_uploads
from abasto.web.params import PER_PAGE, ObservationId, Page, PerPage

router = APIRouter(prefix="/api/v1/demand", tags=["demanda"])

Upload = Annotated[UploadFile, File(description="Archivo .xlsx o .csv.")]
Search = Annotated[str, Query(max_length=200, description="Clave, parte de ella o palabras.")]
Replace = Annotated[
    bool,
    Query(
        description="Confirma que se quiten las líneas ya capturadas que el archivo no trae o"
        " deja en blanco; sin él, una importación que quitaría líneas se rechaza (422) y dice"
        " cuántas."
    ),
]

MapSuggested = Annotated[
    bool,
    Query(
        description="Asocia cada nombre desconocido a la institución registrada más parecida"
        " cuando no hay duda (ver rules.clear_suggestion)."
    ),
]
RegisterUnknown = Annotated[
    bool,
    Query(
        description="Registra los nombres que siguen sin conocerse: como unidad de la"
        " institución cuyo nombre empieza el de la columna, si no como institución."
    ),
]

Buyer = Annotated[Context, Depends(allow(Role.comprador))]
Reader = Annotated[Context, Depends(allow(Role.comprador, Role.institucion, Role.auditor))]
"""Buyers and auditors read every institution; planners only their own (checked by service)."""
Writer = Annotated[Context, Depends(allow(Role.comprador, Role.institucion))]
"""Buyers write for every institution; planners only for their own (checked by service)."""


def _download(content: bytes, media_type: str, filename: str) -> Response:
    return Response(
        content,
        media_type=media_type,
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


def _slug(name: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in name)


@router.get("/rounds", response_model=list[RoundSummaryRead])
def list_rounds(ctx: Reader) -> list[RoundSummaryRead]:
    """Every round, newest first, with how many institutions have submitted."""
    return [RoundSummaryRead.of_summary(s) for s in service.list_rounds(ctx.db)]


@router.post("/rounds", response_model=RoundRead, status_code=201)
def open_round(body: RoundCreate, ctx: Buyer) -> RoundRead:
    """Open a round: name, periods (years), institutions and the minimum-share rule."""
    return RoundRead.of(
        service.open_round(
            ctx,
            name=body.name,
            periods=body.periods,
            institutions=body.institutions,
            min_share=body.min_share,
            deadline=body.deadline,
        )
    )


@router.put("/rounds/{round_name}/deadline", response_model=RoundRead)
def set_deadline(round_name: str, body: DeadlineWrite, ctx: Buyer) -> RoundRead:
    """Set, move or (null) remove the round's deadline; it must be after now and within the
    round. Capture is still admitted after it, until the buyer freezes the round."""
    return RoundRead.of(
        service.set_deadline(ctx, name=round_name, deadline=body.deadline, version=body.version)
    )


@router.get("/rounds/{round_name}", response_model=ProgressRead)
def round_progress(round_name: str, ctx: Reader) -> ProgressRead:
    """The round and, per institution, submitted or pending, its last change and its lines."""
    return ProgressRead.of(service.round_progress(ctx.db, name=round_name))


@router.post("/rounds/{round_name}/freeze", response_model=RoundRead)
def freeze_round(round_name: str, body: VersionBody, ctx: Buyer) -> RoundRead:
    """Freeze the round: no more changes (on the ledger, with a digest of every line)."""
    return RoundRead.of(service.freeze_round(ctx, name=round_name, version=body.version))


@router.post("/rounds/{round_name}/reopen", response_model=RoundRead)
def reopen_round(round_name: str, body: ReopenBody, ctx: Buyer) -> RoundRead:
    """Reopen a frozen round; the reason goes on the ledger."""
    return RoundRead.of(
        service.reopen_round(ctx, name=round_name, reason=body.reason, version=body.version)
    )


@router.post(
    "/rounds/{round_name}/imports",
    response_model=AppendixImportRead,
    status_code=201,
    dependencies=[Depends(read_uploads)],
)
def import_appendix(
    round_name: str,
    file: Upload,
    ctx: Buyer,
    replace: Replace = False,
    map_suggested: MapSuggested = False,
    register_unknown: RegisterUnknown = False,
) -> AppendixImportRead:
    """Import an appendix with many institutions; all or nothing (422 lists every problem,
    an unknown name with the registry's closest ones). Lines below the round's minimum share
    are imported as the file has them and listed as observations."""
    summary = service.import_appendix(
        ctx,
        round_name=round_name,
        content=file.file.read(),
        filename=file.filename or "apendice",
        replace=replace,
        map_suggested=map_suggested,
        register_unknown=register_unknown,
    )
    return AppendixImportRead.of(summary)


@router.get("/rounds/{round_name}/observations", response_model=list[ObservationRead])
def observations(round_name: str, ctx: Reader) -> list[ObservationRead]:
    """Lines imported below the round's minimum share: pending, corrected or accepted (a
    planner sees its own institution's)."""
    return [
        ObservationRead.model_validate(view, from_attributes=True)
        for view in service.visible_observations(ctx, round_name=round_name)
    ]


@router.post(
    "/rounds/{round_name}/observations/{observation_id}/accept", response_model=ObservationRead
)
def accept_observation(
    round_name: str, observation_id: ObservationId, body: ObservationAccept, ctx: Buyer
) -> ObservationRead:
    """Accept a line's minimum as the official file states it; the reason goes on the ledger."""
    view = service.accept_observation(
        ctx,
        round_name=round_name,
        observation_id=observation_id,
        reason=body.reason,
        version=body.version,
    )
    return ObservationRead.model_validate(view, from_attributes=True)


@router.get("/rounds/{round_name}/institutions/{code}/lines", response_model=LinesPageRead)
def institution_lines(
    round_name: str,
    code: str,
    ctx: Reader,
    q: Search = "",
    unit_code: Annotated[str, Query(max_length=60, description="Unidad; vacío: toda.")] = "",
    only: Annotated[str, Query(pattern="^(todas|con-cantidades|alertas)$")] = "todas",
    page: Page = 1,
    per_page: PerPage = PER_PAGE,
) -> LinesPageRead:
    """The round's claves with the institution's line of each and the forecast's suggestion."""
    return LinesPageRead.of(
        service.institution_lines(
            ctx,
            round_name=round_name,
            institution_code=code,
            unit_code=unit_code,
            q=q,
            only=only,
            page=page,
            per_page=per_page,
        )
    )


@router.put("/rounds/{round_name}/institutions/{code}/lines/{clave}", response_model=LineRead)
def set_line(round_name: str, code: str, clave: str, body: LineWrite, ctx: Writer) -> LineRead:
    """Create, change or (both quantities null) remove a line; 409 if ``version`` is stale."""
    return LineRead.of(
        service.set_line(
            ctx,
            round_name=round_name,
            institution_code=code,
            clave=clave,
            unit_code=body.unit_code,
            min_qty=body.min_qty,
            max_qty=body.max_qty,
            version=body.version,
        )
    )


@router.post("/rounds/{round_name}/institutions/{code}/submit", response_model=SubmissionRead)
def submit(round_name: str, code: str, ctx: Writer) -> SubmissionRead:
    """Mark the institution's demand as submitted (it may change it while the round is open)."""
    participant = service.submit_demand(ctx, round_name=round_name, institution_code=code)
    return SubmissionRead(
        round=round_name, institution=code.upper(), submitted_at=participant.submitted_at
    )


@router.get("/rounds/{round_name}/institutions/{code}/sheet.xlsx")
def institution_sheet(round_name: str, code: str, ctx: Reader) -> Response:
    """The institution's sheet to fill offline: every clave with its current quantities."""
    content = service.institution_sheet(ctx, round_name=round_name, institution_code=code)
    return _download(content, XLSX, f"demanda-{_slug(round_name)}-{_slug(code.upper())}.xlsx")


@router.post(
    "/rounds/{round_name}/institutions/{code}/sheet",
    response_model=SheetImportRead,
    status_code=201,
    dependencies=[Depends(read_uploads)],
)
def import_sheet(
    round_name: str, code: str, file: Upload, ctx: Writer, replace: Replace = False
) -> SheetImportRead:
    """Upload the filled sheet; all or nothing (422 lists every problem)."""
    summary = service.import_institution_sheet(
        ctx,
        round_name=round_name,
        institution_code=code,
        content=file.file.read(),
        filename=file.filename or "hoja",
        replace=replace,
    )
    return SheetImportRead.of(summary)


@router.get("/rounds/{round_name}/consolidated", response_model=ConsolidatedPageRead)
def consolidated(
    round_name: str,
    ctx: Reader,
    q: Search = "",
    sort: Annotated[str, Query(pattern="^(clave|total)$")] = "clave",
    page: Page = 1,
    per_page: PerPage = PER_PAGE,
) -> ConsolidatedPageRead:
    """Per clave, the sum over institutions (a coordinator's members not counted twice)."""
    return ConsolidatedPageRead.of(
        service.consolidated_page(
            ctx.db, round_name=round_name, q=q, sort=sort, page=page, per_page=per_page
        )
    )


@router.get("/rounds/{round_name}/consolidated.xlsx")
def consolidated_xlsx(round_name: str, ctx: Reader) -> Response:
    """The consolidated appendix in the official wide layout."""
    content = service.export_xlsx(ctx.db, round_name=round_name)
    return _download(content, XLSX, f"apendice-{_slug(round_name)}.xlsx")


@router.get("/rounds/{round_name}/consolidated.csv")
def consolidated_csv(round_name: str, ctx: Reader) -> Response:
    """One row per clave and institution (open data)."""
    content = service.export_csv(ctx.db, round_name=round_name)
    return _download(content, "text/csv; charset=utf-8", f"demanda-{_slug(round_name)}.csv")


@router.get("/rounds/{round_name}/consolidated.parquet")
def consolidated_parquet(round_name: str, ctx: Reader) -> Response:
    """The same rows as the CSV, as Parquet."""
    content = service.export_parquet(ctx.db, round_name=round_name)
    return _download(
        content, "application/vnd.apache.parquet", f"demanda-{_slug(round_name)}.parquet"
    )


@router.post("/rounds/{round_name}/forecast", response_model=ForecastRead)
def run_forecast(round_name: str, ctx: Buyer) -> ForecastRead:
    """Suggest each institution's maximum per clave from its units' consumption."""
    return ForecastRead.of(service.run_forecast(ctx, round_name=round_name))


@router.post("/rounds/{round_name}/institutions/{code}/forecast", response_model=ForecastRead)
def run_institution_forecast(round_name: str, code: str, ctx: Writer) -> ForecastRead:
    """The institution's forecasts only, from its units' consumption (its planner may run it)."""
    return ForecastRead.of(service.run_forecast(ctx, round_name=round_name, institution_code=code))


@router.get("/rounds/{round_name}/flags", response_model=list[FlagRead])
def flags(round_name: str, ctx: Reader) -> list[FlagRead]:
    """Lines whose maximum is far from the suggestion (a planner sees only its own)."""
    return [FlagRead.of(f) for f in service.round_flags(ctx, round_name=round_name)]


@router.post(
    "/consumption/imports",
    response_model=ConsumptionImportRead,
    status_code=201,
    dependencies=[Depends(read_uploads)],
)
def import_consumption(file: Upload, ctx: Buyer) -> ConsumptionImportRead:
    """Import monthly consumption per unit × clave; all or nothing."""
    summary = service.import_consumption(
        ctx, content=file.file.read(), filename=file.filename or "consumo"
    )
    return ConsumptionImportRead.of(summary)


@router.post("/institution-names", response_model=NameMappingRead, status_code=201)
def map_name(body: NameMapping, ctx: Buyer) -> NameMappingRead:
    """Let appendices name a registered institution this way too (an alias, on the ledger)."""
    alias = service.map_institution_name(ctx, name=body.name, institution_code=body.institution)
    return NameMappingRead(name=alias.alias, institution=alias.institution.code)
