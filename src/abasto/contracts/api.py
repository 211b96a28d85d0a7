"""JSON routes of contracts: formalising a fallo, signing, guarantee, convenios, orders,
shipments, receipts, penalties and the fill rate."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Depends, File, Path, Query, UploadFile
from fastapi.responses import Response

from abasto.contracts import orders_file, rules, service
from abasto.contracts.schemas import (
    ContractRead,
    ContractsWrite,
    ConvenioRead,
    ConvenioWrite,
    ExemptionWrite,
    FillRateRead,
    GuaranteeWrite,
    OrderRead,
    OrdersLoadedRead,
    OrderWrite,
    PenaltyRead,
    ReceiptWrite,
    ShipmentRead,
    ShipmentWrite,
    SignatureWrite,
)
from abasto.core.bounds import INT_MAX
from abasto.core.context import Context
from abasto.core.spreadsheet import XLSX_MEDIA_TYPE
from abasto.identity.models import Role
from abasto.web.deps import allow, public, read_uploads
from abasto.web.params import DayQuery, TenderId

router = APIRouter(prefix="/api/v1", tags=["contratos y entregas"])

C, INST, P, A = Role.comprador, Role.institucion, Role.proveedor, Role.auditor
Public = Annotated[Context, Depends(public)]
Buyer = Annotated[Context, Depends(allow(C))]
Reader = Annotated[Context, Depends(allow(C, INST, P, A))]
Party = Annotated[Context, Depends(allow(C, INST, P))]
Institution = Annotated[Context, Depends(allow(C, INST))]
Supplier = Annotated[Context, Depends(allow(C, P))]
ContractId = Annotated[int, Path(ge=1, le=INT_MAX, description="Id del contrato.")]
OrderId = Annotated[int, Path(ge=1, le=INT_MAX, description="Id de la orden de suministro.")]
ShipmentId = Annotated[int, Path(ge=1, le=INT_MAX, description="Id del envío.")]
By = Annotated[
    list[str],
    Query(max_length=6, description="supplier, contract, clave, institution, state, month"),
]


@router.post("/tenders/{tender_id}/contracts", response_model=list[ContractRead], status_code=201)
def create_contracts(tender_id: TenderId, body: ContractsWrite, ctx: Buyer) -> list[ContractRead]:
    """One contract per institution × supplier of the fallo's drafts, in ``borrador``."""
    made = service.create_contracts(
        ctx, tender_id=tender_id, starts_on=body.starts_on, ends_on=body.ends_on
    )
    return [ContractRead.model_validate(c) for c in made]


@router.get("/contracts", response_model=list[ContractRead])
def list_contracts(
    ctx: Reader, status: Annotated[str | None, Query(max_length=20)] = None
) -> list[ContractRead]:
    """The contracts the user may see: an institution's, a supplier's, or all."""
    return [ContractRead.model_validate(c) for c in service.list_contracts(ctx, status=status)]


@router.get("/contracts/{contract_id}", response_model=ContractRead)
def get_contract(contract_id: ContractId, ctx: Reader) -> ContractRead:
    return ContractRead.model_validate(service.get_contract(ctx, contract_id))


@router.get("/contracts/{contract_id}/document.pdf")
def contract_document(contract_id: ContractId, ctx: Reader) -> Response:
    """The contract's PDF, drawn from its data: the document whose SHA-256 is signed."""
    contract = service.get_contract(ctx, contract_id)
    return Response(
        service.contract_pdf(ctx, contract),
        media_type="application/pdf",
        headers={"Content-Disposition": f'inline; filename="{contract.number}.pdf"'},
    )


@router.post("/contracts/{contract_id}/signatures", response_model=ContractRead)
def sign(contract_id: ContractId, body: SignatureWrite, ctx: Party) -> ContractRead:
    """The institution signs, then the supplier: who, when and the document's SHA-256."""
    return ContractRead.model_validate(
        service.sign(ctx, contract_id=contract_id, party=body.party, version=body.version)
    )


@router.post("/contracts/{contract_id}/guarantee", response_model=ContractRead)
def record_guarantee(contract_id: ContractId, body: GuaranteeWrite, ctx: Party) -> ContractRead:
    return ContractRead.model_validate(
        service.record_guarantee(
            ctx, contract_id=contract_id, issuer=body.issuer, document_ref=body.document
        )
    )


@router.post("/contracts/{contract_id}/guarantee-exemption", response_model=ContractRead)
def exempt_guarantee(
    contract_id: ContractId, body: ExemptionWrite, ctx: Institution
) -> ContractRead:
    return ContractRead.model_validate(
        service.exempt_guarantee(ctx, contract_id=contract_id, reason=body.reason)
    )


@router.post("/contracts/{contract_id}/convenios", response_model=ConvenioRead, status_code=201)
def modify(contract_id: ContractId, body: ConvenioWrite, ctx: Institution) -> ConvenioRead:
    """A convenio modificatorio; beyond the cap it is refused with the figures (422)."""
    return ConvenioRead.model_validate(
        service.modify(
            ctx,
            contract_id=contract_id,
            reason=body.reason,
            max_qty=dict(body.max_qty),
            ends_on=body.ends_on,
        )
    )


@router.get("/contracts/{contract_id}/penalties", response_model=list[PenaltyRead])
def penalties(contract_id: ContractId, ctx: Reader) -> list[PenaltyRead]:
    contract = service.get_contract(ctx, contract_id)
    return [PenaltyRead.model_validate(p) for p in service.penalties_of(ctx, contract)]


@router.post("/contracts/{contract_id}/orders", response_model=OrderRead, status_code=201)
def issue_order(contract_id: ContractId, body: OrderWrite, ctx: Institution) -> OrderRead:
    """An orden de suministro; above the line's maximum it is refused with the figures (409)."""
    order = service.issue_order(
        ctx,
        contract_id=contract_id,
        clave=body.clave,
        quantity=body.quantity,
        unit_code=body.unit,
        due_on=body.due_on,
    )
    return OrderRead.of(order)


@router.post(
    "/orders/imports",
    response_model=OrdersLoadedRead,
    status_code=201,
    dependencies=[Depends(read_uploads)],
)
def import_orders(
    file: Annotated[UploadFile, File(description="Archivo .xlsx o .csv.")], ctx: Institution
) -> OrdersLoadedRead:
    """Orders with their deliveries from a file, one row per lot received (layout: the
    template); all or nothing, 422 lists every problem with its sheet, row and column."""
    loaded = service.import_orders(ctx, content=file.file.read(), filename=file.filename or "")
    return OrdersLoadedRead.model_validate(loaded)


@router.get("/orders/import-template")
def orders_template(ctx: Institution) -> Response:
    """The workbook of an orders file, with an example order of a vigente contract."""
    return Response(
        orders_file.template(*service.template_example(ctx)),
        media_type=XLSX_MEDIA_TYPE,
        headers={"Content-Disposition": 'attachment; filename="plantilla-ordenes.xlsx"'},
    )


@router.get("/orders", response_model=list[OrderRead])
def list_orders(ctx: Reader) -> list[OrderRead]:
    """The orders the user may see: a supplier's, an institution's, or all."""
    return [OrderRead.of(o) for o in service.list_orders(ctx)]


@router.get("/orders.csv")
def orders_csv(ctx: Reader) -> Response:
    return Response(
        service.orders_csv(service.list_orders(ctx)),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="ordenes.csv"'},
    )


@router.post("/orders/{order_id}/confirmation", response_model=OrderRead)
def confirm_order(order_id: OrderId, ctx: Supplier) -> OrderRead:
    return OrderRead.of(service.confirm_order(ctx, order_id=order_id))


@router.post("/orders/{order_id}/closure", response_model=OrderRead)
def close_short(order_id: OrderId, body: ExemptionWrite, ctx: Institution) -> OrderRead:
    """Close an order past its due date with pieces missing: a deductiva for them."""
    return OrderRead.of(service.close_short(ctx, order_id=order_id, reason=body.reason))


@router.post("/orders/{order_id}/shipments", response_model=ShipmentRead, status_code=201)
def record_shipment(order_id: OrderId, body: ShipmentWrite, ctx: Supplier) -> ShipmentRead:
    shipment = service.record_shipment(
        ctx,
        order_id=order_id,
        lots=[
            service.LotInput(x.lot, x.expiry, x.quantity, x.registro_sanitario) for x in body.lots
        ],
    )
    return ShipmentRead.model_validate(shipment)


@router.post("/shipments/{shipment_id}/receipt", response_model=ShipmentRead)
def receive_shipment(shipment_id: ShipmentId, body: ReceiptWrite, ctx: Institution) -> ShipmentRead:
    """Accepted and rejected pieces per lot; shelf life checked; penalties charged."""
    shipment = service.receive_shipment(
        ctx,
        shipment_id=shipment_id,
        lots=[
            service.LotReceipt(x.lot, x.accepted, x.rejected, x.reason, x.note) for x in body.lots
        ],
    )
    return ShipmentRead.model_validate(shipment)


@router.get("/fill-rate", response_model=list[FillRateRead])
def fill_rate(
    ctx: Public,
    by: By = ["supplier"],  # noqa: B006
    as_of: DayQuery = None,
) -> list[FillRateRead]:
    """Nivel de surtimiento: pieces delivered on time and accepted ÷ pieces ordered and due."""
    day: date = as_of or rules.local_day(ctx.now)
    return [
        FillRateRead(
            key=dict(zip(by, row.key, strict=True)),
            ordered_due=row.ordered_due,
            on_time_accepted=row.on_time_accepted,
            rate=row.rate,
        )
        for row in service.fill_rates(ctx.db, by=by, as_of=day)
    ]


@router.get("/fill-rate.csv")
def fill_rate_csv(
    ctx: Public,
    by: By = ["supplier"],  # noqa: B006
    as_of: DayQuery = None,
) -> Response:
    """The fill rate as CSV, grouped as ``by`` says."""
    rows = service.fill_rates(ctx.db, by=by, as_of=as_of or rules.local_day(ctx.now))
    return Response(
        service.fill_rates_csv(rows, by),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="surtimiento.csv"'},
    )
