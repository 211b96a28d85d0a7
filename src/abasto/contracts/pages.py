"""Pages of contracts: the list, a contract (signing, guarantee, orders), an order (confirming,
shipping, receiving)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import date
from typing import Annotated

from fastapi import APIRouter, Depends, File, Form, Request, UploadFile
from fastapi.responses import RedirectResponse, Response

from abasto.contracts import rules, service
from abasto.contracts.api import By, ContractId, OrderId, ShipmentId, orders_template
from abasto.core.bounds import within_days
from abasto.core.context import Context
from abasto.core.errors import AbastoError, Problem, ValidationFailed
from abasto.core.numbers import count_of
from abasto.identity.models import Role
from abasto.web.deps import allow, public, read_uploads
from abasto.web.params import DayQuery
from abasto.web.templating import render, render_import

router = APIRouter(include_in_schema=False)

C, INST, P, A = Role.comprador, Role.institucion, Role.proveedor, Role.auditor
Public = Annotated[Context, Depends(public)]
Reader = Annotated[Context, Depends(allow(C, INST, P, A))]
Party = Annotated[Context, Depends(allow(C, INST, P))]
Institution = Annotated[Context, Depends(allow(C, INST))]
Supplier = Annotated[Context, Depends(allow(C, P))]
Lines = Annotated[list[str], Form(max_length=200)]
MAX_FIELD = 300


def _attempt(
    ctx: Context, work: Callable[[], object], refused: Callable[[AbastoError], Response], to: str
) -> Response:
    """Do the write and go to ``to``; a refusal writes nothing and shows the page again."""
    try:
        work()
    except AbastoError as exc:
        ctx.db.rollback()
        return refused(exc)
    return RedirectResponse(to, status_code=303)


def _count(text: str, field: str, row: int | None = None) -> int:
    found = count_of(text)
    if found is None:
        raise ValidationFailed(
            "Cantidad no válida.",
            problems=[
                Problem(
                    "No es un entero",
                    field=field,
                    row=row,
                    value=text[:40],
                    expected="un entero de 0 o más",
                )
            ],
        )
    return found


def _day(text: str, field: str, row: int | None = None) -> date:
    try:
        found = date.fromisoformat(text.strip())
    except ValueError:
        found = None
    if found is None or not within_days(found):
        raise ValidationFailed(
            "Fecha no válida.",
            problems=[
                Problem(
                    "No es una fecha", field=field, row=row, value=text[:40], expected="aaaa-mm-dd"
                )
            ],
        )
    return found


# ----- contracts -----------------------------------------------------------------------------


@router.get("/contratos")
def contracts_page(request: Request, ctx: Reader) -> Response:
    """The contracts the user may see, with their status."""
    return render(
        request,
        "contracts/list.html",
        ctx,
        contracts=service.list_contracts(ctx),
        labels=rules.STATUS_LABELS,
    )


def _contract_page(
    request: Request, ctx: Context, contract_id: int, *, error: AbastoError | None = None
) -> Response:
    contract = service.get_contract(ctx, contract_id)
    return render(
        request,
        "contracts/contract.html",
        ctx,
        error.status if error else 200,
        contract=contract,
        labels=rules.STATUS_LABELS,
        order_labels=rules.ORDER_LABELS,
        progress=service.progress(ctx, contract),
        orders=service.list_orders(ctx, contract_id=contract.id),
        penalties=service.penalties_of(ctx, contract),
        convenios=service.convenios_of(ctx, contract),
        terms=service.terms(contract),
        can=service.parties(ctx, contract),
        error=error,
    )


@router.get("/contratos/{contract_id}")
def contract_page(request: Request, contract_id: ContractId, ctx: Reader) -> Response:
    return _contract_page(request, ctx, contract_id)


@router.post("/contratos/{contract_id}/firmar")
def sign(
    request: Request,
    contract_id: ContractId,
    ctx: Party,
    party: Annotated[str, Form(max_length=20)] = "",
) -> Response:
    return _attempt(
        ctx,
        lambda: service.sign(ctx, contract_id=contract_id, party=party),
        lambda exc: _contract_page(request, ctx, contract_id, error=exc),
        f"/contratos/{contract_id}",
    )


@router.post("/contratos/{contract_id}/garantia")
def record_guarantee(
    request: Request,
    contract_id: ContractId,
    ctx: Party,
    issuer: Annotated[str, Form(max_length=MAX_FIELD)] = "",
    document: Annotated[str, Form(max_length=MAX_FIELD)] = "",
) -> Response:
    return _attempt(
        ctx,
        lambda: service.record_guarantee(
            ctx, contract_id=contract_id, issuer=issuer, document_ref=document
        ),
        lambda exc: _contract_page(request, ctx, contract_id, error=exc),
        f"/contratos/{contract_id}",
    )


@router.post("/contratos/{contract_id}/ordenes")
def issue_order(
    request: Request,
    contract_id: ContractId,
    ctx: Institution,
    clave: Annotated[str, Form(max_length=20)] = "",
    quantity: Annotated[str, Form(max_length=20)] = "",
    unit: Annotated[str, Form(max_length=60)] = "",
    due_on: Annotated[str, Form(max_length=20)] = "",
) -> Response:
    def work() -> None:
        service.issue_order(
            ctx,
            contract_id=contract_id,
            clave=clave,
            quantity=_count(quantity, "quantity"),
            unit_code=unit,
            due_on=_day(due_on, "due_on") if due_on.strip() else None,
        )

    return _attempt(
        ctx,
        work,
        lambda exc: _contract_page(request, ctx, contract_id, error=exc),
        f"/contratos/{contract_id}#ordenes",
    )


# ----- orders --------------------------------------------------------------------------------


@router.get("/ordenes")
def orders_page(request: Request, ctx: Reader) -> Response:
    """The orders the user may see: a supplier's orders to serve, an institution's to receive."""
    return render(
        request,
        "contracts/orders.html",
        ctx,
        orders=service.list_orders(ctx),
        labels=rules.ORDER_LABELS,
    )


# Declared before /ordenes/{order_id}, which would otherwise take «importar» for an id.
@router.get("/ordenes/importar")
def import_orders_form(request: Request, ctx: Institution) -> Response:
    return render(request, "contracts/import_orders.html", ctx, summary=None, error=None)


@router.get("/ordenes/importar/plantilla.xlsx")
def import_orders_template(ctx: Institution) -> Response:
    """The orders file's template, as the API gives it."""
    return orders_template(ctx)


@router.post("/ordenes/importar", dependencies=[Depends(read_uploads)])
def import_orders(
    request: Request, ctx: Institution, file: Annotated[UploadFile | None, File()] = None
) -> Response:
    return render_import(
        request,
        ctx,
        "contracts/import_orders.html",
        file,
        missing="Elija el archivo de órdenes.",
        expected="un archivo .xlsx o .csv con una fila por lote recibido (ver la plantilla)",
        run=lambda content, name: service.import_orders(ctx, content=content, filename=name),
    )


def _order_page(
    request: Request, ctx: Context, order_id: int, *, error: AbastoError | None = None
) -> Response:
    order = service.get_order(ctx, order_id)
    contract = order.contract
    return render(
        request,
        "contracts/order.html",
        ctx,
        error.status if error else 200,
        order=order,
        contract=contract,
        shipments=service.shipments_of(ctx, order),
        labels=rules.ORDER_LABELS,
        reasons=rules.REJECTION_REASONS,
        can=service.parties(ctx, contract),
        error=error,
    )


@router.get("/ordenes/{order_id}")
def order_page(request: Request, order_id: OrderId, ctx: Reader) -> Response:
    return _order_page(request, ctx, order_id)


@router.post("/ordenes/{order_id}/confirmar")
def confirm_order(request: Request, order_id: OrderId, ctx: Supplier) -> Response:
    return _attempt(
        ctx,
        lambda: service.confirm_order(ctx, order_id=order_id),
        lambda exc: _order_page(request, ctx, order_id, error=exc),
        f"/ordenes/{order_id}",
    )


def _rows(*columns: Sequence[str]) -> list[tuple[int, tuple[str, ...]]]:
    """The form's table rows (numbered from 1) that have anything typed in them."""
    width = max((len(c) for c in columns), default=0)
    padded = [list(c) + [""] * (width - len(c)) for c in columns]
    return [
        (n + 1, row)
        for n, row in enumerate(zip(*padded, strict=True))
        if any(value.strip() for value in row)
    ]


@router.post("/ordenes/{order_id}/envios")
def record_shipment(
    request: Request,
    order_id: OrderId,
    ctx: Supplier,
    lot: Lines = [],  # noqa: B006
    expiry: Lines = [],  # noqa: B006
    quantity: Lines = [],  # noqa: B006
    registro: Lines = [],  # noqa: B006
) -> Response:
    def work() -> None:
        lots = [
            service.LotInput(
                row[0], _day(row[1], "expiry", n), _count(row[2], "quantity", n), row[3]
            )
            for n, row in _rows(lot, expiry, quantity, registro)
        ]
        service.record_shipment(ctx, order_id=order_id, lots=lots)

    return _attempt(
        ctx,
        work,
        lambda exc: _order_page(request, ctx, order_id, error=exc),
        f"/ordenes/{order_id}",
    )


@router.post("/envios/{shipment_id}/recepcion")
def receive_shipment(
    request: Request,
    shipment_id: ShipmentId,
    ctx: Institution,
    lot: Lines = [],  # noqa: B006
    accepted: Lines = [],  # noqa: B006
    rejected: Lines = [],  # noqa: B006
    reason: Lines = [],  # noqa: B006
) -> Response:
    shipment = service.get_shipment(ctx, shipment_id)

    def work() -> None:
        receipts = [
            service.LotReceipt(
                row[0],
                _count(row[1] or "0", "accepted", n),
                _count(row[2] or "0", "rejected", n),
                row[3].strip() or None,
            )
            for n, row in _rows(lot, accepted, rejected, reason)
        ]
        service.receive_shipment(ctx, shipment_id=shipment_id, lots=receipts)

    return _attempt(
        ctx,
        work,
        lambda exc: _order_page(request, ctx, shipment.order_id, error=exc),
        f"/ordenes/{shipment.order_id}",
    )


# ----- the public fill rate ------------------------------------------------------------------

BAR_WIDTH = 240
"""Pixels of a 100 % bar in the chart (drawn by the server as SVG, no script)."""


@router.get("/surtimiento")
def fill_rate_page(
    request: Request,
    ctx: Public,
    by: By = ["supplier"],  # noqa: B006
    as_of: DayQuery = None,
) -> Response:
    """Nivel de surtimiento for everyone: a table, bars and the CSV."""
    chosen = [b for b in by if b in service.FILL_DIMENSIONS] or ["supplier"]
    day = as_of or rules.local_day(ctx.now)
    rows = service.fill_rates(ctx.db, by=chosen, as_of=day)
    return render(
        request,
        "contracts/fill_rate.html",
        ctx,
        rows=rows,
        by=chosen,
        labels=service.FILL_LABELS,
        as_of=day,
        bar=BAR_WIDTH,
        query="&".join(f"by={b}" for b in chosen) + f"&as_of={day.isoformat()}",
    )
