"""Pages of inventory: a unit's warehouse (receive, dispense, count, transfer) for a phone, and
the public abasto dashboard."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import date
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Depends, Form, Path, Query, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import select

from abasto.core import numbers
from abasto.core.bounds import FIRST_DAY, LAST_DAY
from abasto.core.context import Context
from abasto.core.errors import AbastoError, Problem, ValidationFailed
from abasto.identity.models import Institution, Role, Unit
from abasto.identity.service import get_institution
from abasto.inventory import chart, rules, service
from abasto.inventory.rules import Counted
from abasto.inventory.service import IssueLine, ReceiptLine
from abasto.web.deps import allow, public
from abasto.web.templating import render

router = APIRouter(include_in_schema=False)

Reader = Annotated[Context, Depends(allow(Role.comprador, Role.institucion, Role.auditor))]
Writer = Annotated[Context, Depends(allow(Role.comprador, Role.institucion))]
Buyer = Annotated[Context, Depends(allow(Role.comprador))]
Public = Annotated[Context, Depends(public)]
Text = Annotated[str, Form(max_length=60)]
OptionalText = Annotated[str, Form(max_length=60)]
Many = Annotated[list[str], Form(max_length=60)]
Code = Annotated[str, Path(max_length=40)]
UnitCode = Annotated[str, Path(max_length=60)]

DONE = {
    "recibido": "Recepción registrada.",
    "dispensado": "Dispensación registrada.",
    "contado": "Conteo registrado; las diferencias quedaron como ajustes.",
    "transferido": "Transferencia creada; emítala para que salga la existencia.",
    "emitida": "Transferencia emitida: la existencia salió de la unidad.",
    "recibida": "Transferencia recibida: la existencia entró a la unidad.",
    "baja": "Lotes caducados dados de baja.",
}


def unit_url(unit: Unit) -> str:
    return f"/inventario/{quote(unit.institution.code, safe='')}/{quote(unit.code, safe='')}"


def _quantity(value: str, field: str) -> int:
    found = numbers.count_of(value)
    if found is None or not 0 < found <= rules.MAX_QUANTITY:
        raise ValidationFailed(
            "La cantidad no es válida.",
            problems=[
                Problem(
                    "Cantidad no válida.",
                    field=field,
                    value=value[:20],
                    expected="un entero mayor que cero",
                )
            ],
        )
    return found


def _day(value: str, field: str) -> date:
    try:
        found = date.fromisoformat(value.strip())
    except ValueError:
        found = None
    if found is None or not FIRST_DAY <= found <= LAST_DAY:
        raise ValidationFailed(
            "La fecha no es válida.",
            problems=[
                Problem("Fecha no válida.", field=field, value=value[:20], expected="aaaa-mm-dd")
            ],
        )
    return found


def _unit_page(
    request: Request,
    ctx: Context,
    unit: Unit,
    *,
    status_code: int = 200,
    error: AbastoError | None = None,
    done: str | None = None,
    form: Mapping[str, str] | None = None,
) -> Response:
    writable = ctx.actor.has_role("comprador") or (
        ctx.actor.has_role("institucion") and ctx.actor.institution_id == unit.institution_id
    )
    indicators = {code: row for row, code in service.unit_indicators(ctx.db, unit)}
    return render(
        request,
        "inventory/unit.html",
        ctx,
        status_code,
        unit=unit,
        url=unit_url(unit),
        stock=service.unit_stock(ctx.db, unit),
        moves=service.movements(ctx.db, unit, limit=30),
        indicators=indicators,
        transfers=service.unit_transfers(ctx.db, unit),
        siblings=ctx.db.scalars(
            select(Unit)
            .where(Unit.institution_id == unit.institution_id, Unit.id != unit.id)
            .order_by(Unit.code)
        ).all(),
        writable=writable,
        error=error,
        done=DONE.get(done or ""),
        form=form or {},
        today=service.today(ctx),
        kind_labels=rules.KIND_LABELS,
        level_labels=rules.LEVEL_LABELS,
        transfer_labels=service.TRANSFER_LABELS,
    )


def _attempt(
    request: Request,
    ctx: Context,
    unit: Unit,
    work: Callable[[], object],
    *,
    done: str,
    form: Mapping[str, str],
    back: str | None = None,
) -> Response:
    """Do a write and go back to the unit's page; on a user's error, undo what was begun and
    show the page again with the error and what was typed (this page must not commit it)."""
    try:
        work()
    except AbastoError as exc:
        ctx.db.rollback()
        return _unit_page(request, ctx, unit, status_code=exc.status, error=exc, form=form)
    return RedirectResponse(f"{back or unit_url(unit)}?hecho={done}", status_code=303)


@router.get("/inventario")
def units_page(request: Request, ctx: Reader) -> Response:
    """The units the user works in (their institution's), or every institution's for buyers."""
    query = select(Unit).join(Institution).order_by(Institution.code, Unit.code)
    if ctx.actor.has_role("institucion"):
        query = query.where(Unit.institution_id == ctx.actor.institution_id)
    return render(
        request,
        "inventory/units.html",
        ctx,
        units=ctx.db.scalars(query.limit(500)).all(),
        unit_url=unit_url,
    )


def _transfers_page(
    request: Request,
    ctx: Context,
    *,
    status_code: int = 200,
    error: AbastoError | None = None,
    summary: service.RedistributionSummary | None = None,
) -> Response:
    institution = ctx.actor.institution_id if ctx.actor.has_role("institucion") else None
    return render(
        request,
        "inventory/transfers.html",
        ctx,
        status_code,
        transfers=service.transfers(ctx.db, institution_id=institution),
        transfer_labels=service.TRANSFER_LABELS,
        unit_url=unit_url,
        error=error,
        summary=summary,
    )


@router.get("/inventario/transferencias")
def transfers_page(request: Request, ctx: Reader) -> Response:
    """Transfers to review and issue (each from its origin unit's page), and, for the buyer,
    the redistribution of a clave between units."""
    return _transfers_page(request, ctx)


@router.post("/inventario/transferencias")
def redistribute(request: Request, ctx: Buyer, clave: Text) -> Response:
    try:
        summary = service.suggest_redistribution(ctx, clave=clave)
    except AbastoError as exc:
        ctx.db.rollback()
        return _transfers_page(request, ctx, status_code=exc.status, error=exc)
    return _transfers_page(request, ctx, summary=summary)


@router.get("/inventario/{code}/{unit}")
def unit_page(
    request: Request,
    code: Code,
    unit: UnitCode,
    ctx: Reader,
    hecho: Annotated[str | None, Query(max_length=20)] = None,
) -> Response:
    """A unit's warehouse: stock by clave and lot, indicators, movements and the forms."""
    return _unit_page(request, ctx, service.readable_unit(ctx, code, unit), done=hecho)


@router.post("/inventario/{code}/{unit}/recibir")
def receive(
    request: Request,
    code: Code,
    unit: UnitCode,
    ctx: Writer,
    clave: Text,
    lot: Text,
    expiry: Text,
    quantity: Text,
) -> Response:
    found = service.acting_unit(ctx, code, unit)
    form = {"clave": clave, "lot": lot, "expiry": expiry, "quantity": quantity, "action": "recibir"}
    return _attempt(
        request,
        ctx,
        found,
        lambda: service.receive(
            ctx,
            unit=found,
            lines=[
                ReceiptLine(clave, lot, _day(expiry, "expiry"), _quantity(quantity, "quantity"))
            ],
        ),
        done="recibido",
        form=form,
    )


@router.post("/inventario/{code}/{unit}/dispensar")
def dispense(
    request: Request,
    code: Code,
    unit: UnitCode,
    ctx: Writer,
    clave: Text,
    quantity: Text,
    lot: OptionalText = "",
) -> Response:
    found = service.acting_unit(ctx, code, unit)
    form = {"clave": clave, "quantity": quantity, "lot": lot, "action": "dispensar"}
    return _attempt(
        request,
        ctx,
        found,
        lambda: service.dispense(
            ctx,
            unit=found,
            lines=[IssueLine(clave, _quantity(quantity, "quantity"), lot.strip() or None)],
        ),
        done="dispensado",
        form=form,
    )


@router.get("/inventario/{code}/{unit}/contar")
def count_page(
    request: Request,
    code: Code,
    unit: UnitCode,
    ctx: Writer,
    clave: Annotated[str, Query(max_length=20)],
) -> Response:
    """The count form of a clave: its lots on the books, each to be counted, and new ones."""
    found = service.acting_unit(ctx, code, unit)
    held = service.unit_stock(ctx.db, found, clave=clave)
    return render(
        request,
        "inventory/count.html",
        ctx,
        unit=found,
        url=unit_url(found),
        clave="".join(clave.split()),
        lots=held[0].lots if held else (),
        error=None,
    )


@router.post("/inventario/{code}/{unit}/contar")
def count(
    request: Request,
    code: Code,
    unit: UnitCode,
    ctx: Writer,
    clave: Text,
    lot: Many,
    expiry: Many,
    quantity: Many,
) -> Response:
    found = service.acting_unit(ctx, code, unit)

    def work() -> object:
        if not len(lot) == len(expiry) == len(quantity) or len(lot) > service.MAX_LINES:
            raise ValidationFailed("El formulario del conteo está incompleto.")
        counted = [
            Counted(
                lot[i].strip(),
                _day(expiry[i], f"expiry[{i}]"),
                0 if quantity[i].strip() == "0" else _quantity(quantity[i], f"quantity[{i}]"),
            )
            for i in range(len(lot))
            if lot[i].strip() or quantity[i].strip()
        ]
        return service.record_count(ctx, unit=found, clave=clave, counted=counted)

    return _attempt(
        request, ctx, found, work, done="contado", form={"clave": clave, "action": "contar"}
    )


@router.post("/inventario/{code}/{unit}/transferir")
def transfer(
    request: Request,
    code: Code,
    unit: UnitCode,
    ctx: Writer,
    to_unit: Text,
    clave: Text,
    quantity: Text,
) -> Response:
    found = service.acting_unit(ctx, code, unit)
    form = {"to_unit": to_unit, "clave": clave, "quantity": quantity, "action": "transferir"}

    def work() -> object:
        institution, _, destination = to_unit.rpartition("/")
        return service.create_transfer(
            ctx,
            from_unit=found,
            to_unit=service.get_unit(ctx.db, institution or code, destination),
            clave=clave,
            quantity=_quantity(quantity, "quantity"),
        )

    return _attempt(request, ctx, found, work, done="transferido", form=form)


@router.post("/inventario/{code}/{unit}/caducados")
def write_off(request: Request, code: Code, unit: UnitCode, ctx: Writer) -> Response:
    found = service.acting_unit(ctx, code, unit)
    return _attempt(
        request,
        ctx,
        found,
        lambda: service.write_off_expired(ctx, unit=found),
        done="baja",
        form={},
    )


@router.post("/inventario/{code}/{unit}/transferencias/{transfer_id}/{step}")
def transfer_step(
    request: Request,
    code: Code,
    unit: UnitCode,
    transfer_id: Annotated[int, Path(ge=1, le=2_147_483_647)],
    step: Annotated[str, Path(max_length=10)],
    ctx: Writer,
) -> Response:
    """Issue (``emitir``) or receive (``recibir``) a transfer from the unit's page."""
    found = service.acting_unit(ctx, code, unit)
    steps = {
        "emitir": (lambda: service.issue_transfer(ctx, transfer_id=transfer_id), "emitida"),
        "recibir": (lambda: service.receive_transfer(ctx, transfer_id=transfer_id), "recibida"),
    }
    if step not in steps:
        raise ValidationFailed("Paso desconocido.", expected="emitir o recibir")
    work, done = steps[step]
    return _attempt(request, ctx, found, work, done=done, form={})


# ----- the public dashboard ------------------------------------------------------------------


@router.get("/abasto/{code}")
def institution_abasto_page(request: Request, code: Code, ctx: Public) -> Response:
    """An institution's units with their abasto: the dashboard's drill-down."""
    institution = get_institution(ctx.db, code)
    return render(
        request,
        "inventory/abasto_institution.html",
        ctx,
        institution=institution,
        units=service.institution_units_abasto(ctx.db, institution),
        day=service.latest_day(ctx.db),
    )


@router.get("/abasto/{code}/{unit}")
def unit_abasto_page(request: Request, code: Code, unit: UnitCode, ctx: Public) -> Response:
    """A unit's claves with their level on the last day computed (no lots, no quantities)."""
    found = service.get_unit(ctx.db, code, unit)
    return render(
        request,
        "inventory/abasto_unit.html",
        ctx,
        unit=found,
        rows=service.unit_indicators(ctx.db, found),
        day=service.latest_day(ctx.db),
        level_labels=rules.LEVEL_LABELS,
    )


@router.get("/abasto")
def abasto_page(request: Request, ctx: Public) -> Response:
    """The abasto indicator of the nation, by institution and by state, its trend, and the
    claves out of stock in most units: read from the stored daily snapshot."""
    db = ctx.db
    states = service.abasto_of(db, scope="state")
    return render(
        request,
        "inventory/abasto.html",
        ctx,
        nation=next(iter(service.abasto_of(db, scope="nation")), None),
        institutions=service.abasto_of(db, scope="institution"),
        states=states,
        state_names=chart.STATE_NAMES,
        state_map=chart.state_map({r.key: r.abasto.share for r in states}),
        trend=chart.trend_svg(service.abasto_trend(db)),
        stocked_out=service.most_stocked_out(db),
    )
