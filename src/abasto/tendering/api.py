"""JSON routes of tendering: tenders, partidas, clarifications, sealed bids, the live feed."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Sequence
from typing import Annotated

from fastapi import APIRouter, Depends, File, Header, Query, Request, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response, StreamingResponse
from pydantic import ValidationError
from sqlalchemy import select

from abasto.core import numbers
from abasto.core.bounds import INT_MAX
from abasto.core.context import Context
from abasto.core.errors import Problem, ValidationFailed
from abasto.core.spreadsheet import XLSX_MEDIA_TYPE as XLSX
from abasto.demand.models import DemandRound
from abasto.identity.models import Institution, Role
from abasto.tendering import rules, service
from abasto.tendering.live import FeedEvent, read_feed
from abasto.tendering.models import Tender
from abasto.tendering.schemas import (
    AmendmentRead,
    AmendmentWrite,
    AnswerWrite,
    BidRead,
    BidWrite,
    CancelBody,
    DraftEdit,
    OwnBidRead,
    PartidaRead,
    QuestionRead,
    QuestionWrite,
    ReasonBody,
    ReceiptRead,
    TenderCreate,
    TenderListRead,
    TenderRead,
    VersionBody,
)
from abasto.tendering.service import PartidaInput
from abasto.web.deps import Admission, admit_in_thread, allow, app_state, public, read_uploads
from abasto.web.openapi import inline_schema
from abasto.web.params import DayQuery, Number, Page, TenderId

router = APIRouter(prefix="/api/v1/tenders", tags=["licitaciones"])

Public = Annotated[Context, Depends(public)]
Buyer = Annotated[Context, Depends(allow(Role.comprador))]
Bidder = Annotated[Context, Depends(allow(Role.proveedor))]
Sealing = Annotated[Admission, Depends(admit_in_thread(Role.proveedor))]
"""A bid's submission, replacement or withdrawal: checked, done and committed in one thread
trip, since in a rush every bid waits its turn at the ledger's head until the commit."""
IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        max_length=200,
        description="Repetir la solicitud con la misma clave devuelve el mismo recibo.",
    ),
]


async def _bid_lines(request: Request) -> Sequence[rules.BidLineInput]:
    """A bid's JSON body (``BidWrite``), validated straight from its bytes. Declared as a body,
    FastAPI would first decode the JSON to Python objects and then validate those: twice the
    work, on the event loop, for each of the hundreds of bids a second of a rush."""
    try:
        return BidWrite.model_validate_json(await request.body()).lines
    except ValidationError as exc:
        # Located as FastAPI locates a body's errors, and answered by the same handler.
        raise RequestValidationError(
            [{**error, "loc": ("body", *error["loc"])} for error in exc.errors(include_url=False)]
        ) from None


BidLines = Annotated[Sequence[rules.BidLineInput], Depends(_bid_lines)]
BID_BODY = {
    "requestBody": {
        "required": True,
        "content": {"application/json": {"schema": inline_schema(BidWrite)}},
    }
}
"""The OpenAPI description of the body ``_bid_lines`` reads."""


def tender_read(
    ctx: Context, tender: Tender, summary: service.TenderSummary | None = None
) -> TenderRead:
    # Counted by query, not by loading a national tender's 4,000 partidas to take their len().
    counted = summary or service.summaries(ctx.db, [tender])[0]
    round_name = ctx.db.scalar(select(DemandRound.name).where(DemandRound.id == tender.round_id))
    return TenderRead.of(
        tender, partidas=counted.partidas, bids=counted.sealed, round_name=round_name
    )


@router.get("", response_model=TenderListRead)
def list_tenders(
    ctx: Public,
    status: Annotated[
        str | None, Query(description="Estado: " + ", ".join(rules.STATUS_LABELS))
    ] = None,
    q: Annotated[str, Query(max_length=200, description="Número o palabras del título.")] = "",
    institution: Annotated[
        str | None,
        Query(max_length=40, description="Código de una institución con demanda en la licitación."),
    ] = None,
    procedure: Annotated[
        str | None, Query(description="Procedimiento: " + ", ".join(rules.PROCEDURES))
    ] = None,
    published_from: DayQuery = None,
    published_to: DayQuery = None,
    opening_from: DayQuery = None,
    opening_to: DayQuery = None,
    page: Page = 1,
) -> TenderListRead:
    """Published tenders, newest first (drafts too for buyers and auditors); dates are whole days
    in Mexico City time."""
    problems: list[Problem] = []
    if status is not None and status not in rules.STATUS_LABELS:
        problems.append(
            Problem(
                "Estado desconocido",
                field="status",
                value=status,
                expected=", ".join(rules.STATUS_LABELS),
            )
        )
    if procedure is not None and procedure not in rules.PROCEDURES:
        problems.append(
            Problem(
                "Procedimiento desconocido",
                field="procedure",
                value=procedure,
                expected=", ".join(rules.PROCEDURES),
            )
        )
    for name, start, end in (
        ("published", published_from, published_to),
        ("opening", opening_from, opening_to),
    ):
        if start and end and end < start:
            problems.append(
                Problem(
                    "El periodo termina antes de empezar",
                    field=f"{name}_to",
                    value=f"{start} a {end}",
                    expected=f"una fecha igual o posterior a {name}_from",
                )
            )
    if problems:
        raise ValidationFailed("Filtros no válidos.", problems=problems)
    found = service.list_tenders(
        ctx,
        status=status,
        q=q,
        institution=institution,
        procedure=procedure,
        published=rules.days(published_from, published_to),
        opening=rules.days(opening_from, opening_to),
        page=page,
    )
    return TenderListRead(
        items=[tender_read(ctx, s.tender, s) for s in found.items],
        total=found.total,
        page=found.page,
        per_page=found.per_page,
    )


@router.post("", response_model=TenderRead, status_code=201)
def create_tender(body: TenderCreate, request: Request, ctx: Buyer) -> TenderRead:
    """A draft tender, from a frozen demand round or with partidas given by hand."""
    tender = service.create_tender(
        ctx,
        app_state(request).sealer,
        title=body.title,
        procedure=body.procedure,
        round_name=body.round,
        partidas=[PartidaInput(p.clave, p.min_qty, p.max_qty) for p in body.partidas],
        invited=body.invited,
        legal_basis=body.legal_basis,
        justification=body.justification,
        publication_at=body.publication_at,
        clarification_deadline=body.clarification_deadline,
        bid_deadline=body.bid_deadline,
        opening_at=body.opening_at,
        fallo_at=body.fallo_at,
        award=_award_terms(body),
    )
    return tender_read(ctx, tender)


def _award_terms(body: TenderCreate) -> dict[str, object] | None:
    """The announced award terms, refused now if the award could not apply them later."""
    if body.award is None:
        return None
    from abasto.award.service import check_award_terms

    terms = body.award.given()
    check_award_terms(terms)
    return terms


@router.get("/{tender_id}", response_model=TenderRead)
def get_tender(tender_id: TenderId, ctx: Public) -> TenderRead:
    return tender_read(ctx, service.view_tender(ctx, tender_id))


@router.get("/{tender_id}/partidas", response_model=list[PartidaRead])
def list_partidas(tender_id: TenderId, ctx: Public) -> list[PartidaRead]:
    """Every partida with the minimum and maximum of each institution."""
    service.view_tender(ctx, tender_id)
    codes = dict(ctx.db.execute(select(Institution.id, Institution.code)).all())
    return [PartidaRead.of(p, codes) for p in service.partidas_of(ctx.db, tender_id)]


@router.get("/{tender_id}/template.xlsx")
def bid_template(tender_id: TenderId, ctx: Public) -> Response:
    """The bid template to fill in: the official layout, one row per partida."""
    tender, content = service.bid_template(ctx, tender_id=tender_id)
    return Response(
        content,
        media_type=XLSX,
        headers={"Content-Disposition": f'attachment; filename="{tender.number}-plantilla.xlsx"'},
    )


@router.post("/{tender_id}/publish", response_model=TenderRead)
def publish(tender_id: TenderId, body: VersionBody, ctx: Buyer) -> TenderRead:
    """Publish a draft; refused when its periods are shorter than its procedure allows."""
    return tender_read(ctx, service.publish_tender(ctx, tender_id=tender_id, version=body.version))


@router.patch("/{tender_id}", response_model=TenderRead)
def edit_draft(tender_id: TenderId, body: DraftEdit, ctx: Buyer) -> TenderRead:
    """Change a draft (title, dates, claves) before it is published; 409 once published."""
    return tender_read(
        ctx,
        service.edit_draft(
            ctx,
            tender_id=tender_id,
            version=body.version,
            title=body.title,
            clarification_deadline=body.clarification_deadline,
            bid_deadline=body.bid_deadline,
            opening_at=body.opening_at,
            fallo_at=body.fallo_at,
            claves=body.claves,
        ),
    )


@router.post("/{tender_id}/amendments", response_model=AmendmentRead, status_code=201)
def amend(tender_id: TenderId, body: AmendmentWrite, ctx: Buyer) -> AmendmentRead:
    """A recorded change; a late one moves the bid deadline out."""
    return AmendmentRead.of(
        service.amend_tender(
            ctx,
            tender_id=tender_id,
            description=body.description,
            clarification_deadline=body.clarification_deadline,
            bid_deadline=body.bid_deadline,
            opening_at=body.opening_at,
            fallo_at=body.fallo_at,
            version=body.version,
        )
    )


@router.get("/{tender_id}/amendments", response_model=list[AmendmentRead])
def list_amendments(tender_id: TenderId, ctx: Public) -> list[AmendmentRead]:
    service.view_tender(ctx, tender_id)
    return [AmendmentRead.of(a) for a in service.amendments_of(ctx.db, tender_id)]


@router.post("/{tender_id}/cancel", response_model=TenderRead)
def cancel(tender_id: TenderId, body: CancelBody, ctx: Buyer) -> TenderRead:
    return tender_read(
        ctx,
        service.cancel_tender(ctx, tender_id=tender_id, reason=body.reason, version=body.version),
    )


@router.post("/{tender_id}/suspend", response_model=TenderRead)
def suspend(tender_id: TenderId, body: ReasonBody, ctx: Buyer) -> TenderRead:
    """Suspend an opening the system could not carry on, with a reason the public reads."""
    return tender_read(ctx, service.suspend_opening(ctx, tender_id=tender_id, reason=body.reason))


@router.post("/{tender_id}/resume", response_model=TenderRead)
def resume(tender_id: TenderId, body: ReasonBody, ctx: Buyer) -> TenderRead:
    """Resume a suspended or stuck opening: the next bid is read out at the next tick."""
    return tender_read(ctx, service.resume_opening(ctx, tender_id=tender_id, reason=body.reason))


@router.post("/{tender_id}/partidas/{number}/desierta", response_model=PartidaRead)
def declare_desierta(
    tender_id: TenderId, number: Number, body: ReasonBody, ctx: Buyer
) -> PartidaRead:
    partida = service.declare_desierta(ctx, tender_id=tender_id, partida=number, reason=body.reason)
    codes = dict(ctx.db.execute(select(Institution.id, Institution.code)).all())
    return PartidaRead.of(partida, codes)


@router.get("/{tender_id}/questions", response_model=list[QuestionRead])
def list_questions(tender_id: TenderId, ctx: Public) -> list[QuestionRead]:
    """Questions and answers of the junta de aclaraciones, without who asked."""
    service.view_tender(ctx, tender_id)
    return [QuestionRead.of(q) for q in service.questions_of(ctx.db, tender_id)]


@router.post("/{tender_id}/questions", response_model=QuestionRead, status_code=201)
def ask(tender_id: TenderId, body: QuestionWrite, ctx: Bidder) -> QuestionRead:
    """A supplier's question, until the clarification deadline."""
    return QuestionRead.of(
        service.ask_question(ctx, tender_id=tender_id, text=body.text, partida=body.partida)
    )


@router.post("/{tender_id}/questions/{number}/answer", response_model=QuestionRead)
def answer(tender_id: TenderId, number: Number, body: AnswerWrite, ctx: Buyer) -> QuestionRead:
    return QuestionRead.of(
        service.answer_question(ctx, tender_id=tender_id, number=number, answer=body.answer)
    )


@router.get("/{tender_id}/bids", response_model=list[BidRead])
def list_bids(tender_id: TenderId, ctx: Public) -> list[BidRead]:
    """Every bid that counts: before the opening only its commitment; after, all of it."""
    tender = service.view_tender(ctx, tender_id)
    return [BidRead.of(b) for b in service.public_bids(ctx.db, tender)]


@router.post(
    "/{tender_id}/bids", response_model=ReceiptRead, status_code=201, openapi_extra=BID_BODY
)
async def submit_bid(
    tender_id: TenderId,
    request: Request,
    admission: Sealing,
    lines: BidLines,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    """Submit a sealed bid; the receipt's commitment is published at once."""
    sealer = app_state(request).sealer
    receipt = await admission.run(
        lambda ctx: service.submit_bid(
            ctx, sealer, tender_id=tender_id, lines=lines, idempotency_key=idempotency_key
        )
    )
    return _receipt(receipt)


@router.post(
    "/{tender_id}/bids/sheet",
    response_model=ReceiptRead,
    status_code=201,
    dependencies=[Depends(read_uploads)],
)
def submit_bid_sheet(
    tender_id: TenderId,
    request: Request,
    ctx: Bidder,
    file: Annotated[UploadFile, File(description="La plantilla .xlsx con sus precios.")],
    idempotency_key: IdempotencyKey = None,
    replaces: Annotated[str | None, Query(description="Proposición que sustituye.")] = None,
) -> ReceiptRead:
    """Submit a sealed bid as the filled bid template."""
    return ReceiptRead.of(
        service.submit_bid_sheet(
            ctx,
            app_state(request).sealer,
            tender_id=tender_id,
            content=file.file.read(),
            filename=file.filename or "proposicion.xlsx",
            idempotency_key=idempotency_key,
            replaces=replaces,
        )
    )


@router.get("/{tender_id}/bids/mine", response_model=list[OwnBidRead])
def my_bids(tender_id: TenderId, request: Request, ctx: Bidder) -> list[OwnBidRead]:
    """The supplier's own bids with their receipts, unsealed for it alone."""
    return [
        OwnBidRead.of(own)
        for own in service.my_bids(ctx, app_state(request).sealer, tender_id=tender_id)
    ]


@router.put(
    "/{tender_id}/bids/{bid_id}",
    response_model=ReceiptRead,
    status_code=201,
    openapi_extra=BID_BODY,
)
async def replace_bid(
    tender_id: TenderId,
    bid_id: str,
    request: Request,
    admission: Sealing,
    lines: BidLines,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    """Replace a sealed bid with a new one (a new receipt); until the bid deadline."""
    sealer = app_state(request).sealer
    receipt = await admission.run(
        lambda ctx: service.submit_bid(
            ctx,
            sealer,
            tender_id=tender_id,
            lines=lines,
            idempotency_key=idempotency_key,
            replaces=bid_id,
        )
    )
    return _receipt(receipt)


@router.delete("/{tender_id}/bids/{bid_id}", status_code=204)
async def withdraw_bid(
    tender_id: TenderId, bid_id: str, request: Request, admission: Sealing
) -> Response:
    """Withdraw a sealed bid; until the bid deadline."""
    sealer = app_state(request).sealer
    await admission.run(
        lambda ctx: service.withdraw_bid(ctx, sealer, tender_id=tender_id, bid_id=bid_id)
    )
    return Response(status_code=204)


def _receipt(receipt: service.Receipt) -> Response:
    return Response(
        ReceiptRead.of(receipt).model_dump_json(), status_code=201, media_type="application/json"
    )


@router.post("/{tender_id}/opening", response_model=TenderRead)
def start_opening(tender_id: TenderId, ctx: Buyer) -> TenderRead:
    """Start the public opening (never before its time); bids are then read out one by one."""
    return tender_read(ctx, service.start_opening(ctx, tender_id=tender_id))


@router.get(
    "/{tender_id}/live",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {}}}},
)
async def live(
    tender_id: TenderId,
    request: Request,
    ctx: Public,
    last_event_id: Annotated[str | None, Header(alias="Last-Event-ID")] = None,
    after: Annotated[
        int | None, Query(ge=0, le=INT_MAX, description="Desde la entrada (seq).")
    ] = None,
    follow: Annotated[bool, Query(description="Seguir en vivo; false: sólo la historia.")] = True,
) -> StreamingResponse:
    """The tender's feed as Server-Sent Events: the history first, then each event as it comes.

    Reconnecting with ``Last-Event-ID`` (browsers do it by themselves) resumes after that event.
    """
    await asyncio.to_thread(service.view_tender, ctx, tender_id)
    start = after or 0
    if last_event_id and (seen := numbers.count_of(last_event_id)) is not None:
        start = seen
    hub = app_state(request).hub

    async def stream() -> AsyncIterator[str]:
        yield "retry: 2000\n\n"
        if not follow:
            for item in await asyncio.to_thread(_history, request, tender_id, start):
                yield item.sse()
            return
        # No task of its own per event: a disconnect cancels this generator where it waits,
        # and aclosing() then closes the hub's without "asynchronous generator is already
        # running".
        async with contextlib.aclosing(hub.follow(tender_id, start)) as events:
            async for got in events:
                if got is not None:
                    yield got.sse()
                elif await request.is_disconnected():
                    return
                else:
                    yield ": sigue en vivo\n\n"

    return StreamingResponse(
        stream(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


def _history(request: Request, tender_id: TenderId, start: int) -> list[FeedEvent]:
    with app_state(request).sessions() as db:
        return read_feed(db, tender_id, start, limit=100_000)
