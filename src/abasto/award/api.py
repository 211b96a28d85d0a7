"""JSON routes of evaluation and award: prices, references, evaluations, the fallo, drafts."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, File, Query, Request, UploadFile
from fastapi.responses import Response
from sqlalchemy import select

from abasto.award import rules, service
from abasto.award.schemas import (
    DifferenceRead,
    DraftRead,
    EvaluationRecordRead,
    EvaluationStatusRead,
    FalloPartidaRead,
    FalloPreviewRead,
    FalloRead,
    FalloRunWrite,
    ModePreviewRead,
    OutcomeRead,
    PriceImportRead,
    ReferenceRead,
    VerdictWrite,
    WinnerRead,
    fallo_summary,
)
from abasto.core.context import Context
from abasto.core.errors import Problem, ValidationFailed
from abasto.core.spreadsheet import XLSX_MEDIA_TYPE as XLSX
from abasto.identity.models import Institution, Role, Supplier
from abasto.tendering import service as tendering
from abasto.web.deps import allow, app_state, public, read_uploads
from abasto.web.params import TenderId

router = APIRouter(prefix="/api/v1", tags=["evaluación y fallo"])

Public = Annotated[Context, Depends(public)]
Buyer = Annotated[Context, Depends(allow(Role.comprador))]
Evaluator = Annotated[Context, Depends(allow(Role.evaluador))]
Reviewer = Annotated[Context, Depends(allow(Role.comprador, Role.evaluador, Role.auditor))]
Upload = Annotated[UploadFile, File(description="Archivo .csv, .xlsx o JSON (OCDS).")]


@router.post(
    "/prices/imports",
    response_model=PriceImportRead,
    status_code=201,
    dependencies=[Depends(read_uploads)],
)
def import_prices(
    file: Upload,
    ctx: Buyer,
    rate: Annotated[list[str], Query(description="Tipo de cambio: USD=18.20.")] = [],  # noqa: B006
    map: Annotated[
        list[str], Query(description="Clasificación a clave: CPV:33600000=010.000.0104.00.")
    ] = [],  # noqa: B006
) -> PriceImportRead:
    """Import prices for market research: a price list or OCDS data; all or nothing."""
    return PriceImportRead.of(
        service.import_prices(
            ctx,
            content=file.file.read(),
            filename=file.filename or "precios",
            rates=service.parse_rates(rate),
            mapping=service.parse_mapping(map),
        )
    )


@router.get("/tenders/{tender_id}/references", response_model=list[ReferenceRead])
def tender_references(tender_id: TenderId, ctx: Public) -> list[ReferenceRead]:
    """The reference price (median) of each partida's clave, with every source behind it."""
    tendering.view_tender(ctx, tender_id)
    claves = [p.clave.clave for p in tendering.partidas_of(ctx.db, tender_id)]
    found = service.references(ctx.db, claves)
    return [ReferenceRead.of(found[c]) for c in claves if c in found]


@router.get("/tenders/{tender_id}/evaluations", response_model=EvaluationStatusRead)
def evaluation_status(tender_id: TenderId, ctx: Reviewer) -> EvaluationStatusRead:
    done, total = service.evaluation_status(ctx.db, tender_id)
    return EvaluationStatusRead(evaluated_lines=done, lines=total)


Confirm = Annotated[
    bool,
    Query(
        description="Cambiar veredictos ya registrados. Sin él, un envío que cambiaría alguno "
        "se rechaza (409) con la lista de los cambios, y no se registra nada."
    ),
]


def _recorded(ctx: Context, tender_id: int, recorded: service.Recorded) -> EvaluationRecordRead:
    done, total = service.evaluation_status(ctx.db, tender_id)
    return EvaluationRecordRead(
        evaluated_lines=done,
        lines=total,
        new=recorded.new,
        changed=recorded.changed,
        unchanged=recorded.unchanged,
    )


@router.post("/tenders/{tender_id}/evaluations", response_model=EvaluationRecordRead)
def record_evaluations(
    tender_id: TenderId, body: list[VerdictWrite], ctx: Evaluator, confirm: Confirm = False
) -> EvaluationRecordRead:
    """Record verdicts (bid line × requirement, complies or not, with the reason)."""
    recorded = service.record_evaluations(
        ctx, tender_id=tender_id, verdicts=[v.verdict() for v in body], confirm=confirm
    )
    return _recorded(ctx, tender_id, recorded)


@router.get("/tenders/{tender_id}/evaluations/template.xlsx")
def evaluation_template(tender_id: TenderId, ctx: Reviewer) -> Response:
    """Every bid line × requirement with its supplier, clave and declared data, the proposal,
    and the recorded verdict (blank where none is recorded yet)."""
    content = service.evaluation_sheet(ctx.db, tender_id)
    return Response(
        content,
        media_type=XLSX,
        headers={"Content-Disposition": f'attachment; filename="evaluacion-{tender_id}.xlsx"'},
    )


@router.post(
    "/tenders/{tender_id}/evaluations/sheet",
    response_model=EvaluationRecordRead,
    dependencies=[Depends(read_uploads)],
)
def evaluation_sheet(
    tender_id: TenderId, file: Upload, ctx: Evaluator, confirm: Confirm = False
) -> EvaluationRecordRead:
    """Record the verdicts of a filled evaluation sheet; all or nothing. Rows left blank in
    «Cumple» and «Motivo» give no verdict."""
    verdicts = service.read_verdicts(file.file.read(), file.filename or "evaluacion.xlsx")
    recorded = service.record_evaluations(
        ctx, tender_id=tender_id, verdicts=verdicts, confirm=confirm
    )
    return _recorded(ctx, tender_id, recorded)


@router.get("/tenders/{tender_id}/fallo/preview", response_model=FalloPreviewRead)
def preview_fallo(tender_id: TenderId, ctx: Buyer) -> FalloPreviewRead:
    """The award in every mode, computed and not stored: totals, savings against the reference
    prices, desiertas, each supplier's share and contracts, each allocation explained, and the
    partidas the modes award differently. 409 with the reason while it cannot be issued."""
    preview = service.preview_fallo(ctx.db, tender_id)
    if preview.blocked is not None:
        raise preview.blocked
    return FalloPreviewRead(
        tender_id=tender_id,
        modes=[ModePreviewRead.of(m) for m in preview.modes.values()],
        differences=[
            DifferenceRead(
                partida=d.number,
                clave=d.clave,
                by_mode={m.value: list(w) for m, w in d.by_mode.items()},
            )
            for d in preview.differences
        ],
    )


@router.post("/tenders/{tender_id}/fallo", response_model=FalloRead, status_code=201)
def issue_fallo(
    request: Request, tender_id: TenderId, body: FalloRunWrite, ctx: Buyer
) -> FalloRead:
    """Decide the award (lowest, split or optimal) and publish the fallo."""
    try:
        mode = rules.Mode(body.mode)
    except ValueError:
        raise ValidationFailed(
            "Modo de adjudicación desconocido.",
            problems=[
                Problem("Modo", field="mode", value=body.mode, expected="lowest, split u optimal")
            ],
        ) from None
    service.issue_fallo(ctx, tender_id=tender_id, mode=mode, signer=app_state(request).signer)
    return fallo_read(ctx, tender_id)


@router.get("/tenders/{tender_id}/fallo", response_model=FalloRead)
def get_fallo(tender_id: TenderId, ctx: Public) -> FalloRead:
    """The fallo: per partida the winners, per bid line the outcome and reasons, the totals."""
    tendering.view_tender(ctx, tender_id)
    return fallo_read(ctx, tender_id)


def fallo_read(ctx: Context, tender_id: TenderId) -> FalloRead:
    fallo = service.get_fallo(ctx.db, tender_id)
    rfcs = dict(ctx.db.execute(select(Supplier.id, Supplier.rfc)).all())
    return FalloRead.model_validate(
        {
            **fallo_summary(fallo),
            "partidas": [FalloPartidaRead.of(p) for p in service.fallo_partidas(ctx.db, fallo)],
            "winners": [
                WinnerRead(
                    partida=line.partida_number,
                    bid_id=line.bid_id,
                    supplier_rfc=rfcs[line.supplier_id],
                    quantity=line.quantity,
                    unit_price=line.unit_price,
                    total=line.unit_price * line.quantity,
                )
                for line in fallo.lines
            ],
            "outcomes": [OutcomeRead.of(o) for o in service.fallo_outcomes(ctx.db, fallo)],
        }
    )


@router.get("/tenders/{tender_id}/contract-drafts", response_model=list[DraftRead])
def contract_drafts(tender_id: TenderId, ctx: Public) -> list[DraftRead]:
    """Per institution × supplier × partida: the quantities (min, max) and the unit price."""
    tendering.view_tender(ctx, tender_id)
    fallo = service.get_fallo(ctx.db, tender_id)
    institutions = dict(ctx.db.execute(select(Institution.id, Institution.code)).all())
    rfcs = dict(ctx.db.execute(select(Supplier.id, Supplier.rfc)).all())
    return [DraftRead.of(d, institutions, rfcs) for d in service.contract_drafts(ctx.db, fallo)]
