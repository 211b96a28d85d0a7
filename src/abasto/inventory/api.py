"""JSON routes of inventory: a unit's stock and movements, uploads, transfers, abasto."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, File, Header, Path, Query, UploadFile
from fastapi.responses import JSONResponse, Response

from abasto.core.context import Context
from abasto.core.spreadsheet import XLSX_MEDIA_TYPE as XLSX
from abasto.identity.models import Role
from abasto.inventory import service, upload
from abasto.inventory.models import StockTransfer
from abasto.inventory.rules import Counted
from abasto.inventory.schemas import (
    AbastoRead,
    AdjustmentWrite,
    ClaveStockRead,
    CountWrite,
    DispensingWrite,
    IndicatorRead,
    MovementRead,
    PostedRead,
    ReceiptWrite,
    RedistributionRead,
    RedistributionWrite,
    SnapshotRead,
    TransferRead,
    TransferWrite,
    UploadRead,
    VersionBody,
)
from abasto.inventory.service import IssueLine, Posted, ReceiptLine
from abasto.web.deps import allow, public, read_uploads
from abasto.web.params import DayQuery

router = APIRouter(prefix="/api/v1/inventory", tags=["inventario"])

Reader = Annotated[Context, Depends(allow(Role.comprador, Role.institucion, Role.auditor))]
"""Buyers and auditors read every unit; an institution's users only their own (service)."""
Writer = Annotated[Context, Depends(allow(Role.comprador, Role.institucion))]
"""Buyers act for every unit; an institution's users only for their own (service)."""
Buyer = Annotated[Context, Depends(allow(Role.comprador))]
Public = Annotated[Context, Depends(public)]
Code = Annotated[str, Path(max_length=40, description="Clave de la institución, p. ej. IMSS.")]
UnitCode = Annotated[str, Path(max_length=60, description="Clave de la unidad.")]
TransferId = Annotated[int, Path(ge=1, le=2_147_483_647, description="Id de la transferencia.")]
IdempotencyKey = Annotated[
    str,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=200,
        description="Repetir la solicitud con la misma clave devuelve la primera respuesta y no "
        "registra nada otra vez.",
    ),
]
Upload = Annotated[UploadFile, File(description="Archivo .xlsx o .csv.")]
UNIT = "/units/{code}/{unit}"


def _posted(posted: list[Posted]) -> PostedRead:
    return PostedRead(movements=[MovementRead.model_validate(p) for p in posted])


def transfer_read(transfer: StockTransfer) -> TransferRead:
    return TransferRead(
        id=transfer.id,
        clave=transfer.clave.clave,
        from_unit=f"{transfer.from_unit.institution.code}/{transfer.from_unit.code}",
        to_unit=f"{transfer.to_unit.institution.code}/{transfer.to_unit.code}",
        quantity=transfer.quantity,
        lot=transfer.lot,
        lots=transfer.lots,
        status=transfer.status,
        origin=transfer.origin,
        cost=transfer.cost,
        version=transfer.version,
    )


@router.get(UNIT + "/stock", response_model=list[ClaveStockRead])
def unit_stock(code: Code, unit: UnitCode, ctx: Reader) -> list[ClaveStockRead]:
    """The unit's stock per clave, lot by lot (only lots with stock)."""
    found = service.readable_unit(ctx, code, unit)
    return [ClaveStockRead.model_validate(s) for s in service.unit_stock(ctx.db, found)]


@router.get(UNIT + "/indicators", response_model=list[IndicatorRead])
def unit_indicators(
    code: Code, unit: UnitCode, ctx: Reader, day: DayQuery = None
) -> list[IndicatorRead]:
    """The unit's stored indicators per clave on a day (the latest computed by default)."""
    found = service.readable_unit(ctx, code, unit)
    return [
        IndicatorRead(
            clave=clave,
            day=row.day,
            on_hand=row.on_hand,
            amc=row.amc,
            months=row.months,
            stockout_days=row.stockout_days,
            expiring=row.expiring,
            expired=row.expired,
            level=row.level,
        )
        for row, clave in service.unit_indicators(ctx.db, found, day=day)
    ]


@router.post(UNIT + "/dispensings", response_model=PostedRead, status_code=201)
def dispense(
    code: Code, unit: UnitCode, body: DispensingWrite, key: IdempotencyKey, ctx: Writer
) -> Response:
    """Post dispensing lines (a pharmacy system's sale or a ward's consumption). Each line takes
    its lots first to expire, first out, unless it names one; all lines or none (409 when one
    exceeds the stock). The Idempotency-Key is required: a repeat gets the first answer (200)."""
    found = service.acting_unit(ctx, code, unit)
    answer = service.dispense_once(
        ctx,
        unit=found,
        key=key,
        lines=[IssueLine(x.clave, x.quantity, x.lot) for x in body.lines],
        day=body.day,
    )
    return JSONResponse(
        answer.body,
        status_code=200 if answer.replayed else 201,
        headers={"Idempotent-Replayed": "true"} if answer.replayed else None,
    )


@router.post(UNIT + "/receipts", response_model=PostedRead, status_code=201)
def receive(code: Code, unit: UnitCode, body: ReceiptWrite, ctx: Writer) -> PostedRead:
    """Stock received (or an initial inventory); ``source`` is never posted twice."""
    found = service.acting_unit(ctx, code, unit)
    return _posted(
        service.receive(
            ctx,
            unit=found,
            lines=[ReceiptLine(x.clave, x.lot, x.expiry, x.quantity) for x in body.lines],
            source=body.source,
            initial=body.initial,
            day=body.day,
        )
    )


@router.post(UNIT + "/counts", response_model=PostedRead, status_code=201)
def count(code: Code, unit: UnitCode, body: CountWrite, ctx: Writer) -> PostedRead:
    """A physical count of a clave: each lot's difference from the books is posted."""
    found = service.acting_unit(ctx, code, unit)
    return _posted(
        service.record_count(
            ctx,
            unit=found,
            clave=body.clave,
            counted=[Counted(x.lot, x.expiry, x.quantity) for x in body.lots],
        )
    )


@router.post(UNIT + "/adjustments", response_model=PostedRead, status_code=201)
def adjust(code: Code, unit: UnitCode, body: AdjustmentWrite, ctx: Writer) -> PostedRead:
    """Add to or take from one lot, with the reason."""
    found = service.acting_unit(ctx, code, unit)
    return _posted(
        service.adjust(
            ctx,
            unit=found,
            clave=body.clave,
            lot=body.lot,
            expiry=body.expiry,
            quantity=body.quantity,
            reason=body.reason,
        )
    )


@router.post(UNIT + "/expired", response_model=PostedRead, status_code=201)
def write_off(code: Code, unit: UnitCode, ctx: Writer) -> PostedRead:
    """Write off every lot of the unit that has expired."""
    return _posted(service.write_off_expired(ctx, unit=service.acting_unit(ctx, code, unit)))


@router.post(
    UNIT + "/uploads",
    response_model=UploadRead,
    status_code=201,
    dependencies=[Depends(read_uploads)],
)
def upload_file(code: Code, unit: UnitCode, file: Upload, ctx: Writer) -> UploadRead:
    """A file of the unit's daily movements or a snapshot of its stock (layouts: the template);
    all or nothing, 422 lists every problem."""
    found = service.acting_unit(ctx, code, unit)
    content = file.file.read()
    return UploadRead.model_validate(
        service.import_upload(ctx, unit=found, content=content, filename=file.filename or "")
    )


@router.get("/upload-template")
def upload_template(
    ctx: Public,
    layout: Annotated[Literal["movimientos", "existencias"], Query()] = "movimientos",
) -> Response:
    """The workbook to fill in for an upload, with its instructions."""
    return Response(
        upload.template(layout),
        media_type=XLSX,
        headers={"Content-Disposition": f'attachment; filename="inventario-{layout}.xlsx"'},
    )


@router.post("/transfers", response_model=TransferRead, status_code=201)
def create_transfer(body: TransferWrite, ctx: Writer) -> TransferRead:
    """A transfer between two units, to be issued by the origin."""
    return transfer_read(
        service.create_transfer(
            ctx,
            from_unit=service.acting_unit(ctx, body.from_institution, body.from_unit),
            to_unit=service.get_unit(ctx.db, body.to_institution, body.to_unit),
            clave=body.clave,
            quantity=body.quantity,
            lot=body.lot,
        )
    )


@router.post("/transfers/{transfer_id}/issue", response_model=TransferRead)
def issue_transfer(transfer_id: TransferId, body: VersionBody, ctx: Writer) -> TransferRead:
    """Send the transfer: its stock leaves the origin and is in transit."""
    return transfer_read(service.issue_transfer(ctx, transfer_id=transfer_id, version=body.version))


@router.post("/transfers/{transfer_id}/receive", response_model=TransferRead)
def receive_transfer(transfer_id: TransferId, ctx: Writer) -> TransferRead:
    """The destination receives the transfer's lots."""
    return transfer_read(service.receive_transfer(ctx, transfer_id=transfer_id))


@router.post("/transfers/{transfer_id}/cancel", response_model=TransferRead)
def cancel_transfer(transfer_id: TransferId, ctx: Writer) -> TransferRead:
    """Cancel a transfer not issued yet."""
    return transfer_read(service.cancel_transfer(ctx, transfer_id=transfer_id))


@router.post("/snapshots", response_model=SnapshotRead, status_code=201)
def snapshot(ctx: Buyer, day: DayQuery = None) -> SnapshotRead:
    """Compute and store the day's indicators (the tick does it every day)."""
    return SnapshotRead.model_validate(service.snapshot(ctx, day=day))


@router.get("/transfers", response_model=list[TransferRead])
def list_transfers(
    ctx: Reader,
    status: Annotated[
        Literal["suggested", "issued", "received", "cancelled"] | None, Query()
    ] = None,
) -> list[TransferRead]:
    """The latest transfers (200), newest first: an institution's users see those of their
    institution's units, buyers and auditors every one."""
    institution = ctx.actor.institution_id if ctx.actor.has_role("institucion") else None
    return [
        transfer_read(t)
        for t in service.transfers(ctx.db, institution_id=institution, status=status)
    ]


@router.post("/redistributions", response_model=RedistributionRead, status_code=201)
def redistribute(body: RedistributionWrite, ctx: Buyer) -> RedistributionRead:
    """Suggest transfers of a clave from units with stock to spare to units short of it (HiGHS);
    they wait for review and move nothing until issued."""
    found = service.suggest_redistribution(ctx, clave=body.clave)
    return RedistributionRead(
        clave=found.clave,
        transfers=[transfer_read(t) for t in found.transfers],
        moved=found.moved,
        cost=found.cost,
    )


@router.get("/abasto", response_model=list[AbastoRead])
def abasto(
    ctx: Public,
    scope: Annotated[Literal["nation", "state", "institution"], Query()] = "nation",
    day: DayQuery = None,
) -> list[AbastoRead]:
    """The stored abasto indicator of the nation, each state or each institution on a day (the
    latest computed by default)."""
    return [
        AbastoRead(
            scope=r.scope,
            key=r.key,
            day=r.day,
            listed=r.abasto.listed,
            with_stock=r.abasto.with_stock,
            at_minimum=r.abasto.at_minimum,
            share=r.abasto.share,
            share_at_minimum=r.abasto.share_at_minimum,
            below_min=r.below_min,
            above_max=r.above_max,
            expiring=r.expiring,
        )
        for r in service.abasto_of(ctx.db, scope=scope, day=day)
    ]
