"""Pages of demand: rounds, a round's progress, an institution's lines, the consolidation."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Depends, File, Form, Path, Query, Request, UploadFile
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import select

from abasto.core import numbers
from abasto.core.bounds import INT_MAX
from abasto.core.context import Context
from abasto.core.errors import AbastoError, Conflict, Problem, ValidationFailed
from abasto.demand import rules, service
from abasto.demand.models import DemandRound, RoundInstitution
from abasto.identity.models import Institution, Role, Unit
from abasto.identity.service import delivery_points, get_institution
from abasto.web import params
from abasto.web.deps import allow, read_uploads
from abasto.web.params import ObservationId, Page, require_confirmation
from abasto.web.templating import render, render_import, render_live

router = APIRouter(include_in_schema=False)

PER_PAGE = 25

Buyer = Annotated[Context, Depends(allow(Role.comprador))]
Reader = Annotated[Context, Depends(allow(Role.comprador, Role.institucion, Role.auditor))]
Writer = Annotated[Context, Depends(allow(Role.comprador, Role.institucion))]


def _round_url(name: str) -> str:
    return f"/demanda/{quote(name, safe='')}"


def _can_write(ctx: Context, institution_id: int) -> bool:
    if ctx.actor.has_role("comprador"):
        return True
    return ctx.actor.has_role("institucion") and ctx.actor.institution_id == institution_id


# ----- rounds --------------------------------------------------------------------------------


def _rounds_page(
    request: Request,
    ctx: Context,
    *,
    status_code: int = 200,
    error: AbastoError | None = None,
    form: Mapping[str, object] | None = None,
) -> Response:
    institutions = ctx.db.scalars(
        select(Institution)
        .where(Institution.kind != service.BUYER_KIND, Institution.retired_at.is_(None))
        .order_by(Institution.code)
    ).all()
    return render(
        request,
        "demand/rounds.html",
        ctx,
        status_code,
        rounds=service.list_rounds(ctx.db),
        institutions=institutions,
        own=_own(ctx),
        status_labels=service.STATUS_LABELS,
        now=ctx.now,
        error=error,
        form=form
        or {"name": "", "periods": "", "min_share": "40", "institutions": None, "deadline": ""},
        round_url=_round_url,
    )


def _deadline(text: str, problems: list[Problem]) -> datetime | None:
    """A round's deadline as the form gives it (a day; blank for none)."""
    day = params.query_day(
        text, field="deadline", label="Fecha límite de captura", problems=problems
    )
    return rules.deadline_of(day) if day else None


@router.get("/demanda")
def rounds_page(request: Request, ctx: Reader) -> Response:
    """Every round; the buyer also gets the form to open one."""
    return _rounds_page(request, ctx)


@router.post("/demanda")
def open_round(
    request: Request,
    ctx: Buyer,
    name: Annotated[str, Form(max_length=200)] = "",
    periods: Annotated[str, Form(max_length=200)] = "",
    min_share: Annotated[str, Form(max_length=20)] = "40",
    institutions: Annotated[list[str] | None, Form()] = None,
    deadline: Annotated[str, Form(max_length=20)] = "",
) -> Response:
    form = {
        "name": name,
        "periods": periods,
        "min_share": min_share,
        "institutions": institutions,
        "deadline": deadline,
    }
    problems: list[Problem] = []
    until = _deadline(deadline, problems)
    try:
        share = numbers.decimal_of(min_share.strip().rstrip("%").replace(",", ".")) / 100
    except ValueError:
        problems.append(
            Problem(
                "El mínimo no es un porcentaje.",
                field="min_share",
                value=min_share,
                expected="un porcentaje del máximo, p. ej. 40",
            )
        )
    if problems:
        error = ValidationFailed("No se abrió la ronda.", problems=problems)
        return _rounds_page(request, ctx, status_code=422, error=error, form=form)
    try:
        opened = service.open_round(
            ctx,
            name=name,
            periods=[periods],
            institutions=institutions or [],
            min_share=share,
            deadline=until,
        )
    except (ValidationFailed, Conflict) as exc:
        ctx.db.rollback()
        return _rounds_page(request, ctx, status_code=exc.status, error=exc, form=form)
    return RedirectResponse(_round_url(opened.name), status_code=303)


@router.get("/demanda/{round_name}")
def round_page(request: Request, round_name: str, ctx: Reader) -> Response:
    """Progress by institution; the buyer freezes, reopens and imports appendices here."""
    return _round_page(request, ctx, round_name)


def _round_page(
    request: Request,
    ctx: Context,
    round_name: str,
    *,
    status_code: int = 200,
    error: AbastoError | None = None,
    summary: service.AppendixImportSummary | None = None,
) -> Response:
    progress = service.round_progress(ctx.db, name=round_name)
    return render(
        request,
        "demand/round.html",
        ctx,
        status_code,
        progress=progress,
        found=progress.round,
        flags=service.round_flags(ctx, round_name=progress.round.name),
        observations=service.visible_observations(ctx, round_name=progress.round.name),
        status_labels=service.STATUS_LABELS,
        share=rules.format_share(progress.round.min_share),
        now=ctx.now,
        deadline_day=rules.deadline_day(progress.round.deadline),
        error=error,
        summary=summary,
        own=_own(ctx),
        round_url=_round_url,
    )


def _own(ctx: Context) -> Institution | None:
    """The planner's own institution (None for buyers and auditors)."""
    if ctx.actor.institution_id is None:
        return None
    return ctx.db.get(Institution, ctx.actor.institution_id)


@router.post("/demanda/{round_name}/congelar")
def freeze(
    request: Request,
    round_name: str,
    ctx: Buyer,
    confirmar: Annotated[str, Form(max_length=10)] = "",
) -> Response:
    """Freezing ends the institutions' capture: the form asks the buyer to confirm it."""
    try:
        require_confirmation(
            confirmar,
            refusal="No se congeló la ronda: falta confirmar el congelamiento.",
            label="Confirmo que la ronda se congela",
        )
        found = service.freeze_round(ctx, name=round_name)
    except (ValidationFailed, Conflict) as exc:
        ctx.db.rollback()
        return _round_page(request, ctx, round_name, status_code=exc.status, error=exc)
    return RedirectResponse(_round_url(found.name), status_code=303)


@router.post("/demanda/{round_name}/plazo")
def set_deadline(
    request: Request,
    round_name: str,
    ctx: Buyer,
    deadline: Annotated[str, Form(max_length=20)] = "",
    version: Annotated[str, Form(max_length=20)] = "",
) -> Response:
    """Set, move or (blank) remove the round's deadline."""
    problems: list[Problem] = []
    until = _deadline(deadline, problems)
    try:
        if problems:
            raise ValidationFailed("No se cambió la fecha límite.", problems=problems)
        found = service.set_deadline(
            ctx,
            name=round_name,
            deadline=until,
            version=_version(version),
        )
    except (ValidationFailed, Conflict) as exc:
        ctx.db.rollback()
        return _round_page(request, ctx, round_name, status_code=exc.status, error=exc)
    return RedirectResponse(_round_url(found.name), status_code=303)


@router.post("/demanda/{round_name}/reabrir")
def reopen(
    request: Request,
    round_name: str,
    ctx: Buyer,
    reason: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    try:
        found = service.reopen_round(ctx, name=round_name, reason=reason)
    except (ValidationFailed, Conflict) as exc:
        ctx.db.rollback()
        return _round_page(request, ctx, round_name, status_code=exc.status, error=exc)
    return RedirectResponse(_round_url(found.name), status_code=303)


@router.post("/demanda/{round_name}/importar", dependencies=[Depends(read_uploads)])
def import_appendix(
    request: Request,
    round_name: str,
    ctx: Buyer,
    file: Annotated[UploadFile | None, File()] = None,
    replace: Annotated[bool, Form()] = False,
    map_suggested: Annotated[bool, Form()] = False,
    register_unknown: Annotated[bool, Form()] = False,
) -> Response:
    """The appendix's summary, or every problem of the file with nothing written."""
    found = service.get_round(ctx.db, round_name)
    return render_import(
        request,
        ctx,
        "demand/import.html",
        file,
        missing="Elija el archivo del apéndice.",
        expected="un apéndice .xlsx con columnas de clave y pares CANTIDAD MIN/MAX",
        run=lambda content, name: service.import_appendix(
            ctx,
            round_name=found.name,
            content=content,
            filename=name,
            replace=replace,
            map_suggested=map_suggested,
            register_unknown=register_unknown,
        ),
    )


@router.post("/demanda/{round_name}/observaciones/{observation_id}/aceptar")
def accept_observation(
    request: Request,
    round_name: str,
    observation_id: ObservationId,
    ctx: Buyer,
    reason: Annotated[str, Form(max_length=2000)] = "",
    version: Annotated[str, Form(max_length=20)] = "",
) -> Response:
    """Accept a line's minimum as the official file states it, with the reason."""
    try:
        service.accept_observation(
            ctx,
            round_name=round_name,
            observation_id=observation_id,
            reason=reason,
            version=_version(version),
        )
    except (ValidationFailed, Conflict) as exc:
        ctx.db.rollback()
        return _round_page(request, ctx, round_name, status_code=exc.status, error=exc)
    return RedirectResponse(f"{_round_url(round_name)}#observaciones", status_code=303)


# ----- the consolidation ---------------------------------------------------------------------


@router.get("/demanda/{round_name}/consolidado")
def consolidated_page(
    request: Request,
    round_name: str,
    ctx: Reader,
    q: Annotated[str, Query(max_length=200)] = "",
    orden: Annotated[str, Query(pattern="^(clave|total)$")] = "clave",
    page: Page = 1,
) -> Response:
    """Per clave, the total (its breakdown opens apart); searchable, sortable, with the
    downloads."""
    result = service.consolidated_totals(
        ctx.db, round_name=round_name, q=q, sort=orden, page=page, per_page=PER_PAGE
    )
    return render_live(
        request,
        "demand/consolidated.html",
        "demand/_consolidated.html",
        ctx,
        result=result,
        consolidation=result.consolidation,
        found=result.consolidation.round,
        q=q.strip(),
        orden=orden,
        page=page,
        round_url=_round_url,
        quote=quote,
    )


@router.get("/demanda/{round_name}/consolidado/{clave}")
def consolidated_clave_page(
    request: Request, round_name: str, clave: Annotated[str, Path(max_length=40)], ctx: Reader
) -> Response:
    """One clave's breakdown by institution: the page's row opened (htmx fetches the table
    alone), or a page of its own where the browser runs no script."""
    line = service.consolidated_line(ctx.db, round_name=round_name, clave=clave)
    found = service.get_round(ctx.db, round_name)
    return render_live(
        request,
        "demand/consolidated_clave.html",
        "demand/_breakdown.html",
        ctx,
        line=line,
        found=found,
        round_url=_round_url,
    )


# ----- an institution's lines ----------------------------------------------------------------


@router.get("/demanda/{round_name}/{code}")
def institution_page(
    request: Request,
    round_name: str,
    code: str,
    ctx: Reader,
    pronosticos: Annotated[int | None, Query(ge=0, le=INT_MAX)] = None,
    q: Annotated[str, Query(max_length=200)] = "",
    unidad: Annotated[str, Query(max_length=60)] = "",
    ver: Annotated[str, Query(pattern="^(todas|con-cantidades|alertas)$")] = "todas",
    page: Page = 1,
) -> Response:
    """The planner's page: the round's claves, each line saved on change without reloading."""
    result = service.institution_lines(
        ctx,
        round_name=round_name,
        institution_code=code,
        unit_code=unidad,
        q=q,
        only=ver,
        page=page,
        per_page=PER_PAGE,
    )
    institution = result.institution
    participant = _participant_or_none(ctx, result.round, institution)
    return render_live(
        request,
        "demand/institution.html",
        "demand/_lines.html",
        ctx,
        result=result,
        found=result.round,
        institution=institution,
        units=_units(ctx, institution),
        participant=participant,
        editable=participant is not None
        and _can_write(ctx, institution.id)
        and result.round.status == service.OPEN,
        share=rules.format_share(result.round.min_share),
        now=ctx.now,
        forecasts=pronosticos,
        q=q.strip(),
        ver=ver,
        unidad=result.unit_code,
        page=page,
        round_url=_round_url,
        quote=quote,
        summary=None,
        error=None,
    )


def _units(ctx: Context, institution: Institution) -> list[Unit]:
    return delivery_points(ctx.db, institution)


def _participant_or_none(
    ctx: Context, found: DemandRound, institution: Institution
) -> RoundInstitution | None:
    return ctx.db.scalar(
        select(RoundInstitution).where(
            RoundInstitution.round_id == found.id,
            RoundInstitution.institution_id == institution.id,
        )
    )


def _version(value: str) -> int | None:
    return numbers.count_of(value)


@router.put("/demanda/{round_name}/{code}/lineas/{clave}")
def save_line(
    request: Request,
    round_name: str,
    code: str,
    clave: str,
    ctx: Writer,
    minimo: Annotated[str, Form(max_length=40)] = "",
    maximo: Annotated[str, Form(max_length=40)] = "",
    version: Annotated[str, Form(max_length=20)] = "",
    unidad: Annotated[str, Form(max_length=60)] = "",
) -> Response:
    """One row of the planner's page, saved: the updated row, or the row with its error."""
    values = {"min": minimo, "max": maximo}
    try:
        line = service.set_line(
            ctx,
            round_name=round_name,
            institution_code=code,
            clave=clave,
            unit_code=unidad,
            min_qty=minimo,
            max_qty=maximo,
            version=_version(version),
        )
    except ValidationFailed as exc:
        ctx.db.rollback()
        line = service.get_line(
            ctx, round_name=round_name, institution_code=code, clave=clave, unit_code=unidad
        )
        return _line_row(request, ctx, round_name, code, line, exc, values, 422)
    except Conflict as exc:
        ctx.db.rollback()
        line = service.get_line(
            ctx, round_name=round_name, institution_code=code, clave=clave, unit_code=unidad
        )
        return _line_row(request, ctx, round_name, code, line, exc, None, 409)
    return _line_row(request, ctx, round_name, code, line, None, None, 200, saved=True)


def _line_row(
    request: Request,
    ctx: Context,
    round_name: str,
    code: str,
    line: service.LineView,
    error: AbastoError | None,
    values: dict[str, str] | None,
    status_code: int,
    *,
    saved: bool = False,
) -> Response:
    found = service.get_round(ctx.db, round_name)
    institution = get_institution(ctx.db, code)
    return render(
        request,
        "demand/_line.html",
        ctx,
        status_code,
        line=line,
        error=error,
        values=values,
        saved=saved,
        found=found,
        institution=institution,
        editable=_can_write(ctx, institution.id) and found.status == service.OPEN,
        unidad=line.unit_code,
        round_url=_round_url,
        quote=quote,
    )


@router.post("/demanda/{round_name}/{code}/hoja", dependencies=[Depends(read_uploads)])
def upload_sheet(
    request: Request,
    round_name: str,
    code: str,
    ctx: Writer,
    file: Annotated[UploadFile | None, File()] = None,
    replace: Annotated[bool, Form()] = False,
) -> Response:
    """The uploaded sheet's summary, or every problem of the file with nothing written."""
    institution = get_institution(ctx.db, code)
    ctx.require_institution(institution.id)
    found = service.get_round(ctx.db, round_name)
    return render_import(
        request,
        ctx,
        "demand/sheet_import.html",
        file,
        missing="Elija el archivo con la hoja llena.",
        expected="la hoja .xlsx descargada de esta página, llena",
        run=lambda content, name: service.import_institution_sheet(
            ctx,
            round_name=found.name,
            institution_code=institution.code,
            content=content,
            filename=name,
            replace=replace,
        ),
    )


@router.post("/demanda/{round_name}/{code}/pronosticos")
def run_forecast(request: Request, round_name: str, code: str, ctx: Writer) -> Response:
    """«Calcular pronósticos»: the institution's forecasts from its consumption on record, and
    back to its page saying how many."""
    summary = service.run_forecast(ctx, round_name=round_name, institution_code=code)
    return RedirectResponse(
        f"{_round_url(round_name)}/{quote(code.upper(), safe='')}"
        f"?pronosticos={summary.suggestions}",
        status_code=303,
    )


@router.post("/demanda/{round_name}/{code}/enviar")
def submit(request: Request, round_name: str, code: str, ctx: Writer) -> Response:
    """Mark the institution's demand as submitted, and back to its page."""
    service.submit_demand(ctx, round_name=round_name, institution_code=code)
    return RedirectResponse(
        f"{_round_url(round_name)}/{quote(code.upper(), safe='')}?enviada=1", status_code=303
    )
