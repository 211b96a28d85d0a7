"""Pages of tendering: the public tender list and page, the live opening, the workspaces."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, File, Form, Query, Request, UploadFile
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import func, select
from sqlalchemy.orm import contains_eager

from abasto.catalog.models import Clave
from abasto.core import numbers
from abasto.core.bounds import INT_MAX
from abasto.core.context import Context
from abasto.core.errors import AbastoError, Conflict, Forbidden, NotFound, Problem, ValidationFailed
from abasto.core.money import MEXICO_CITY
from abasto.core.text import fold
from abasto.demand import service as demand
from abasto.demand.models import DemandRound
from abasto.identity import service as identity
from abasto.identity.models import Role
from abasto.tendering import acta, rules, service
from abasto.tendering.live import read_feed
from abasto.tendering.models import BidLine, Partida, Tender
from abasto.transparency.ocds.releases import ocid_of
from abasto.transparency.redflags import service as redflags
from abasto.web.deps import allow, app_state, public, read_uploads
from abasto.web.params import Number, Page, TenderId, query_day, require_confirmation
from abasto.web.templating import render, render_live

router = APIRouter(include_in_schema=False)

Public = Annotated[Context, Depends(public)]
Buyer = Annotated[Context, Depends(allow(Role.comprador))]
Bidder = Annotated[Context, Depends(allow(Role.proveedor))]

PER_PAGE = 25
PARTIDAS_PER_PAGE = 50
FEED_LIMIT = 1_000_000

# What the live page's status line says after each feed event. The page renders it for the
# events it already has and live.js for the ones that come; both fill the same {fields} from the
# event's payload ({#list} is a list's length; {n|singular|plural} is a count with the words that
# agree with it), so the wording lives only here.
FEED_MESSAGES = {
    "tender.publish": "Se publicó la convocatoria.",
    "tender.amend": "Se publicó la modificación {amendment}: {description}",
    "tender.clarifications_closed": "Cerró el plazo de preguntas de la junta de aclaraciones.",
    "question.ask": "Se recibió la pregunta {question}.",
    "question.answer": "Se respondió la pregunta {question}.",
    "partida.desierta": "La partida {partida} ({clave}) se declaró desierta: {reason}",
    "bid.seal": "Llegó una proposición sellada; su compromiso quedó publicado.",
    "bid.withdraw": "Se retiró una proposición.",
    "tender.bids_closed": "Cerró la recepción de proposiciones: {sealed|sellada|selladas}.",
    "tender.opening_started": (
        "Comenzó la apertura: {#bids|proposición por abrir|proposiciones por abrir}."
    ),
    "bid.open": "Se abrió la proposición {bid}.",
    "bid.missing": "Falta la proposición {bid}: {detail}.",
    "tender.opened": (
        "Terminó la apertura: {opened|proposición abierta|proposiciones abiertas}, "
        "{matching|coincide|coinciden} con su compromiso y {not_matching|no coincide|no coinciden}."
    ),
    "tender.cancel": "Se canceló la licitación: {reason}",
    "tender.suspend": "Se suspendió la apertura: {reason}",
    "tender.resume": "Se reanudó la apertura: {reason}",
}
STATUS_AFTER = {
    "tender.publish": rules.CLARIFICATIONS,
    "tender.clarifications_closed": rules.BIDDING,
    "tender.bids_closed": rules.CLOSED,
    "tender.opening_started": rules.OPENING,
    "tender.opened": rules.OPENED,
    "tender.cancel": rules.CANCELLED,
    "tender.suspend": rules.SUSPENDED,
    "tender.resume": rules.OPENING,
}
_FIELD = re.compile(r"\{(#?)([\w.]+)(?:\|([^|}]*)\|([^}]*))?\}")

BUYER_NOTICES = {
    "creada": "Se creó el borrador de la licitación. Revíselo y publíquelo.",
    "publicada": "Se publicó la licitación.",
    "modificada": "Se publicó la modificación.",
    "cancelada": "Se canceló la licitación.",
    "suspendida": "Se suspendió la apertura; el motivo se publicó.",
    "reanudada": "Se reanudó la apertura: la siguiente proposición se abrirá en breve.",
    "desierta": "Se declaró desierta la partida.",
    "respondida": "Se publicó la respuesta.",
    "borrador": "Se guardaron los cambios del borrador.",
}


# ----- shared pieces -------------------------------------------------------------------------


def describe(action: str, data: Mapping[str, Any]) -> str | None:
    """The status line for a feed event, or None for events that do not change it."""
    template = FEED_MESSAGES.get(action)
    if template is None:
        return None

    def value(match: re.Match[str]) -> str:
        found: Any = data
        for part in match[2].split("."):
            found = found.get(part) if isinstance(found, Mapping) else None
        if match[1]:
            found = len(found) if isinstance(found, list) else 0
        if match[3] is not None:
            count = found if isinstance(found, int) else 0
            return f"{count} {match[3] if count == 1 else match[4]}"
        return "—" if found is None else str(found)

    return _FIELD.sub(value, template)


def _tender_url(tender_id: int) -> str:
    return f"/licitaciones/{tender_id}"


def _buyer_url(tender_id: int) -> str:
    return f"/comprador/licitaciones/{tender_id}"


@dataclass(frozen=True, slots=True)
class Milestone:
    label: str
    at: datetime | None
    past: bool
    note: str = ""


def _milestones(tender: Tender, now: datetime) -> list[Milestone]:
    """The tender's dates in order, each marked when it has passed."""

    def milestone(label: str, at: datetime | None, note: str = "") -> Milestone:
        return Milestone(label, at, at is not None and at <= now, note)

    published = tender.published_at or tender.publication_at
    rows = [
        milestone(
            "Publicación", published, "" if tender.published_at or not published else "programada"
        ),
        milestone("Límite para preguntas (junta de aclaraciones)", tender.clarification_deadline),
        milestone("Cierre de recepción de proposiciones", tender.bid_deadline),
        milestone("Apertura de proposiciones", tender.opening_at),
    ]
    if tender.opening_started_at:
        rows.append(milestone("Inicio de la apertura", tender.opening_started_at))
    if tender.opened_at:
        rows.append(milestone("Fin de la apertura", tender.opened_at))
    rows.append(milestone("Fallo", tender.fallo_at))
    if tender.cancelled_at:
        rows.append(milestone("Cancelación", tender.cancelled_at))
    # An opening started late, or a cancellation, falls among the planned dates by its instant;
    # a draft's publication, still unknown, stays first.
    return sorted(rows, key=lambda m: m.at or datetime.min.replace(tzinfo=UTC))


def _round_name(ctx: Context, tender: Tender) -> str | None:
    if tender.round_id is None:
        return None
    return ctx.db.scalar(select(DemandRound.name).where(DemandRound.id == tender.round_id))


def _partida_count(ctx: Context, tender_id: int) -> int:
    count = ctx.db.scalar(
        select(func.count()).select_from(Partida).where(Partida.tender_id == tender_id)
    )
    return int(count or 0)


def _accepts_bids(tender: Tender, now: datetime) -> bool:
    return tender.status in (rules.CLARIFICATIONS, rules.BIDDING) and rules.accepts_bids(
        service.timeline_of(tender), now
    )


def _accepts_questions(tender: Tender, now: datetime) -> bool:
    return tender.status in (rules.CLARIFICATIONS, rules.BIDDING) and rules.accepts_questions(
        service.timeline_of(tender), now
    )


def _may_open(tender: Tender, now: datetime) -> bool:
    return tender.status in (rules.CLARIFICATIONS, rules.BIDDING, rules.CLOSED) and (
        now >= tender.opening_at
    )


def _page_values(ctx: Context) -> dict[str, Any]:
    return {
        "status_labels": rules.STATUS_LABELS,
        "check_labels": acta.CHECK_LABELS,
        "procedure_label": lambda code: rules.procedure(code).label,
        "instant": acta.instant,
        "now": ctx.now,
        "tender_url": _tender_url,
        "buyer_url": _buyer_url,
    }


# ----- the public list -----------------------------------------------------------------------


@router.get("/licitaciones")
def tenders_page(
    request: Request,
    ctx: Public,
    q: Annotated[str, Query(max_length=200)] = "",
    estado: Annotated[str, Query(max_length=20)] = "",
    institucion: Annotated[str, Query(max_length=40)] = "",
    procedimiento: Annotated[str, Query(max_length=40)] = "",
    publicada_desde: Annotated[str, Query(max_length=20)] = "",
    publicada_hasta: Annotated[str, Query(max_length=20)] = "",
    apertura_desde: Annotated[str, Query(max_length=20)] = "",
    apertura_hasta: Annotated[str, Query(max_length=20)] = "",
    page: Page = 1,
) -> Response:
    """Every published tender, newest first; buyers and auditors see the drafts too. Filters:
    words, status, procedure, an institution's demand, publication and opening dates (days in
    Mexico City time, both ends included)."""
    problems: list[Problem] = []

    def period(start: str, end: str, name: str, label: str) -> rules.Period:
        bounds = rules.days(
            query_day(start, field=f"{name}_desde", label=f"{label} desde", problems=problems),
            query_day(end, field=f"{name}_hasta", label=f"{label} hasta", problems=problems),
        )
        if bounds[0] and bounds[1] and bounds[0] >= bounds[1]:
            problems.append(
                Problem(
                    f"El periodo de {label} termina antes de empezar",
                    field=f"{name}_hasta",
                    value=f"{start} a {end}",
                    expected="la fecha «hasta» igual o posterior a «desde»",
                )
            )
            return (None, None)
        return bounds

    status = estado if estado in rules.STATUS_LABELS else ""
    procedure = procedimiento if procedimiento in rules.PROCEDURES else ""
    published = period(publicada_desde, publicada_hasta, "publicada", "publicación")
    opening = period(apertura_desde, apertura_hasta, "apertura", "apertura")
    found = service.list_tenders(
        ctx,
        status=status or None,
        q=q,
        institution=institucion.strip() or None,
        procedure=procedure or None,
        published=published,
        opening=opening,
        page=page,
        per_page=PER_PAGE,
    )
    statuses = {
        code: label
        for code, label in rules.STATUS_LABELS.items()
        if code != rules.DRAFT or ctx.actor.has_role("comprador", "auditor")
    }
    filters = {
        "q": q.strip(),
        "estado": status,
        "institucion": institucion.strip(),
        "procedimiento": procedure,
        "publicada_desde": publicada_desde.strip(),
        "publicada_hasta": publicada_hasta.strip(),
        "apertura_desde": apertura_desde.strip(),
        "apertura_hasta": apertura_hasta.strip(),
    }
    return render_live(
        request,
        "tendering/list.html",
        "tendering/_list.html",
        ctx,
        found=found,
        filters=filters,
        filtered=any(filters.values()),
        query=urlencode({k: v for k, v in filters.items() if v}),
        problems=problems,
        q=filters["q"],
        estado=status,
        statuses=statuses,
        procedures={code: p.label for code, p in rules.PROCEDURES.items()},
        institutions=identity.list_institutions(ctx.db),
        page=page,
        **_page_values(ctx),
    )


# ----- creating a tender (the buyer) ---------------------------------------------------------


def _local_input(value: datetime) -> str:
    """An instant as a datetime-local input shows it, in Mexico City time."""
    return value.astimezone(MEXICO_CITY).strftime("%Y-%m-%dT%H:%M")


def _parse_local(
    value: str, name: str, label: str, problems: list[Problem], *, required: bool = True
) -> datetime | None:
    """A datetime-local input read as Mexico City time (the time everyone in the process uses)."""
    text = value.strip()
    if not text:
        if required:
            problems.append(
                Problem(f"Falta la fecha de {label}", field=name, expected="fecha y hora")
            )
        return None
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        problems.append(
            Problem(
                f"La fecha de {label} no es válida",
                field=name,
                value=text,
                expected="fecha y hora, p. ej. 2026-11-20T10:00 (hora del centro de México)",
            )
        )
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=MEXICO_CITY)
    return parsed


_PARTIDA_SPLIT = re.compile(r"\s*[,;\t]\s*")
PARTIDAS_EXPECTED = "una línea por partida: clave,mínimo,máximo (p. ej. 010.000.0104.00,100,250)"


def _parse_partidas(text: str, problems: list[Problem]) -> list[service.PartidaInput]:
    found: list[service.PartidaInput] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        parts = _PARTIDA_SPLIT.split(line.strip())
        low, high = (numbers.count_of(p) for p in parts[1:3]) if len(parts) == 3 else (None, None)
        if low is None or high is None:
            problems.append(
                Problem(
                    f"Línea {number} de las partidas no se entiende",
                    field="partidas",
                    value=line.strip(),
                    expected=PARTIDAS_EXPECTED,
                )
            )
            continue
        found.append(service.PartidaInput(parts[0], low, high))
    return found


def _rfcs(text: str) -> list[str]:
    return [rfc for rfc in re.split(r"[\s,;]+", text) if rfc]


def _new_form(now: datetime) -> dict[str, str]:
    """Dates a national tender published today could keep; the buyer adjusts them."""
    day = now.astimezone(MEXICO_CITY).replace(hour=10, minute=0, second=0, microsecond=0)
    bids = day + timedelta(days=16)
    return {
        "title": "",
        "procedure": "licitacion_nacional",
        "round": "",
        "partidas": "",
        "invited": "",
        "legal_basis": "",
        "justification": "",
        "clarification_deadline": _local_input(day + timedelta(days=8)),
        "bid_deadline": _local_input(bids),
        "opening_at": _local_input(bids + timedelta(hours=1)),
        "fallo_at": _local_input(bids + timedelta(days=5)),
    }


def _new_page(
    request: Request,
    ctx: Context,
    form: Mapping[str, str],
    *,
    status_code: int = 200,
    error: AbastoError | None = None,
) -> Response:
    rounds = [r.round for r in demand.list_rounds(ctx.db) if r.round.status == demand.FROZEN]
    return render(
        request,
        "tendering/new.html",
        ctx,
        status_code,
        form=form,
        rounds=rounds,
        procedures=rules.PROCEDURES,
        error=error,
        partidas_expected=PARTIDAS_EXPECTED,
        **_page_values(ctx),
    )


@router.get("/licitaciones/nueva")
def new_tender_page(request: Request, ctx: Buyer) -> Response:
    return _new_page(request, ctx, _new_form(ctx.now))


@router.post("/licitaciones/nueva")
def create_tender(
    request: Request,
    ctx: Buyer,
    title: Annotated[str, Form(max_length=300)] = "",
    procedure: Annotated[str, Form(max_length=40)] = "",
    round_name: Annotated[str, Form(alias="round", max_length=200)] = "",
    partidas: Annotated[str, Form(max_length=2_000_000)] = "",
    invited: Annotated[str, Form(max_length=20_000)] = "",
    legal_basis: Annotated[str, Form(max_length=4000)] = "",
    justification: Annotated[str, Form(max_length=8000)] = "",
    clarification_deadline: Annotated[str, Form(max_length=40)] = "",
    bid_deadline: Annotated[str, Form(max_length=40)] = "",
    opening_at: Annotated[str, Form(max_length=40)] = "",
    fallo_at: Annotated[str, Form(max_length=40)] = "",
) -> Response:
    """A draft from a frozen round or partidas by hand; dates are Mexico City time."""
    form = {
        "title": title,
        "procedure": procedure,
        "round": round_name,
        "partidas": partidas,
        "invited": invited,
        "legal_basis": legal_basis,
        "justification": justification,
        "clarification_deadline": clarification_deadline,
        "bid_deadline": bid_deadline,
        "opening_at": opening_at,
        "fallo_at": fallo_at,
    }
    problems: list[Problem] = []
    parsed = {
        name: _parse_local(form[name], name, rules.MILESTONE_LABELS[name], problems)
        for name in rules.MILESTONES
    }
    lines = _parse_partidas(partidas, problems)
    if problems:
        error = ValidationFailed("No se creó la licitación.", problems=problems)
        return _new_page(request, ctx, form, status_code=422, error=error)
    # Every date is there: a missing one was a problem above.
    timeline = rules.Timeline(**{name: at for name, at in parsed.items() if at is not None})
    try:
        tender = service.create_tender(
            ctx,
            app_state(request).sealer,
            title=title,
            procedure=procedure,
            round_name=round_name.strip() or None,
            partidas=lines,
            invited=_rfcs(invited),
            legal_basis=legal_basis,
            justification=justification,
            clarification_deadline=timeline.clarification_deadline,
            bid_deadline=timeline.bid_deadline,
            opening_at=timeline.opening_at,
            fallo_at=timeline.fallo_at,
        )
    except (ValidationFailed, Conflict, NotFound) as exc:
        ctx.db.rollback()
        return _new_page(request, ctx, form, status_code=exc.status, error=exc)
    return RedirectResponse(f"{_buyer_url(tender.id)}?hecho=creada", status_code=303)


# ----- the public tender page ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PartidasPage:
    items: list[Partida]
    total: int
    page: int
    per_page: int
    offers: dict[int, list[tuple[service.PublicBid, BidLine]]] = field(default_factory=dict)

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))


def _partidas_page(
    ctx: Context, tender_id: int, *, q: str, page: int, bids: Sequence[service.PublicBid]
) -> PartidasPage:
    """One page of the partidas (a tender may have thousands), searchable by clave or words."""
    query = (
        select(Partida)
        .join(Partida.clave)
        .options(contains_eager(Partida.clave))
        .where(Partida.tender_id == tender_id)
    )
    words = q.strip()
    if (number := numbers.count_of(words)) is not None and number <= rules.MAX_PARTIDA:
        query = query.where((Partida.number == number) | Clave.search_text.contains(words))
    elif words:
        compact = "".join(words.split())
        if re.fullmatch(r"[0-9]+(\.[0-9]*)+", compact):
            query = query.where(Clave.clave.startswith(compact))
        else:
            query = query.where(*(Clave.search_text.contains(w) for w in fold(words).split()))
    total = ctx.db.scalar(select(func.count()).select_from(query.subquery())) or 0
    items = list(
        ctx.db.scalars(
            query.order_by(Partida.number)
            .offset((page - 1) * PARTIDAS_PER_PAGE)
            .limit(PARTIDAS_PER_PAGE)
        )
    )
    shown = {p.number for p in items}
    offers: dict[int, list[tuple[service.PublicBid, BidLine]]] = {}
    for bid in bids:
        for line in bid.lines:
            if line.partida_number in shown:
                offers.setdefault(line.partida_number, []).append((bid, line))
    for found in offers.values():
        found.sort(key=lambda pair: pair[1].unit_price)
    return PartidasPage(items, int(total), page, PARTIDAS_PER_PAGE, offers)


@router.get("/licitaciones/{tender_id}")
def tender_page(
    request: Request,
    tender_id: TenderId,
    ctx: Public,
    q: Annotated[str, Query(max_length=200)] = "",
    page: Page = 1,
) -> Response:
    """The tender as the public sees it: before the opening only commitments, after it all."""
    tender = service.view_tender(ctx, tender_id)
    bids = service.public_bids(ctx.db, tender)
    partidas = _partidas_page(ctx, tender.id, q=q, page=page, bids=bids)
    opened = [b for b in bids if b.status == service.OPENED]
    return render_live(
        request,
        "tendering/tender.html",
        "tendering/_partidas.html",
        ctx,
        tender=tender,
        policy=rules.procedure(tender.procedure),
        milestones=_milestones(tender, ctx.now),
        round_name=_round_name(ctx, tender),
        partidas=partidas,
        partida_count=_partida_count(ctx, tender.id),
        q=q.strip(),
        questions=service.questions_of(ctx.db, tender.id),
        amendments=service.amendments_of(ctx.db, tender.id),
        milestone_labels=rules.MILESTONE_LABELS,
        parse_instant=acta.parse_instant,
        invited=service.invited_of(ctx.db, tender.id),
        bids=bids,
        ocid=ocid_of(app_state(request).settings.ocid_prefix, tender.number),
        flags=redflags.section(ctx.db, query={"licitacion": tender.number}, tender_id=tender.id),
        totals={
            b.id: sum((x.unit_price * x.quantity for x in b.lines), Decimal(0)) for b in opened
        },
        opened=opened,
        has_acta=tender.status in (rules.OPENING, rules.OPENED, rules.AWARDED),
        accepts_bids=_accepts_bids(tender, ctx.now),
        **_page_values(ctx),
    )


# ----- the live opening ----------------------------------------------------------------------


@dataclass(slots=True)
class CommitmentRow:
    bid: str
    commitment: str
    received_at: datetime | None
    opened: bool = False


@dataclass(slots=True)
class OpeningView:
    """The opening as the feed tells it so far: what the live page shows before any new event."""

    commitments: list[CommitmentRow]
    opened: list[acta.ActaBid]
    expected: int
    started: bool
    last_seq: int
    message: str | None
    status: str


def opening_view(ctx: Context, tender: Tender) -> OpeningView:
    commitments: dict[str, CommitmentRow] = {}
    opened: list[acta.ActaBid] = []
    listed: int | None = None
    last_seq = 0
    message: str | None = None
    for event in read_feed(ctx.db, tender.id, 0, limit=FEED_LIMIT):
        data = event.data
        last_seq = event.seq
        if event.action == "bid.seal":
            commitments.pop(str(data.get("replaces")), None)
            commitments[data["bid"]] = CommitmentRow(
                data["bid"], data["commitment"], acta.parse_instant(data.get("received_at"))
            )
        elif event.action == "bid.withdraw":
            commitments.pop(data["bid"], None)
        elif event.action == "tender.opening_started":
            listed = len(data.get("bids", []))
        elif event.action in ("bid.open", "bid.missing"):
            opened.append(
                acta.opened_bid(
                    position=len(opened) + 1,
                    seq=event.seq,
                    at=acta.parse_instant(event.at) or ctx.now,
                    action=event.action,
                    payload=data,
                    claves={},
                )
            )
            if data.get("bid") in commitments:
                commitments[data["bid"]].opened = True
        message = describe(event.action, data) or message
    expected = listed if listed is not None else len(commitments)
    return OpeningView(
        commitments=list(commitments.values()),
        opened=opened,
        expected=max(expected, len(opened)),
        started=listed is not None,
        last_seq=last_seq,
        message=message,
        status=tender.status,
    )


@router.get("/licitaciones/{tender_id}/apertura")
def opening_page(request: Request, tender_id: TenderId, ctx: Public) -> Response:
    """The opening as it happens: rows for what the feed has, then live.js adds each new one."""
    tender = service.view_tender(ctx, tender_id)
    view = opening_view(ctx, tender)
    live_config = {
        "messages": FEED_MESSAGES,
        "statusAfter": {a: [s, rules.STATUS_LABELS[s]] for a, s in STATUS_AFTER.items()},
        "checkLabels": acta.CHECK_LABELS,
        "matches": service.MATCHES,
        "mismatch": service.MISMATCH,
        "unknownBidder": acta.UNKNOWN_BIDDER,
    }
    return render(
        request,
        "tendering/live.html",
        ctx,
        tender=tender,
        view=view,
        # Inside <script>, "</" could close the element early.
        live_config=json.dumps(live_config, ensure_ascii=False).replace("</", "<\\/"),
        feed_url=f"/api/v1/tenders/{tender.id}/live?after={view.last_seq}",
        **_page_values(ctx),
    )


# ----- the acta de apertura ------------------------------------------------------------------


@router.get("/licitaciones/{tender_id}/acta")
def acta_page(request: Request, tender_id: TenderId, ctx: Public) -> Response:
    """Every bid the opening read out, its commitment, salt and check, and every line."""
    found = acta.build_acta(ctx, tender_id=tender_id)
    return render(
        request,
        "tendering/acta.html",
        ctx,
        acta=found,
        how_to_verify=acta.HOW_TO_VERIFY,
        **_page_values(ctx),
    )


@router.get("/licitaciones/{tender_id}/acta.pdf")
def acta_pdf(tender_id: TenderId, ctx: Public) -> Response:
    found = acta.build_acta(ctx, tender_id=tender_id)
    state = "definitiva" if found.finished else "parcial"
    return Response(
        acta.acta_pdf(found),
        media_type="application/pdf",
        headers={
            "Content-Disposition": (
                f'inline; filename="{found.number}-acta-de-apertura-{state}.pdf"'
            ),
            # A partial acta grows with every bid opened; the final one never changes.
            "Cache-Control": "public, max-age=3600" if found.finished else "no-cache",
        },
    )


# ----- the supplier's workspace --------------------------------------------------------------


def _workspace(
    request: Request,
    ctx: Context,
    *,
    status_code: int = 200,
    error: AbastoError | None = None,
    error_tender: int | None = None,
    notice: str | None = None,
) -> Response:
    sealer = app_state(request).sealer
    items = [
        (
            tender,
            own,
            _accepts_bids(tender, ctx.now),
            _accepts_questions(tender, ctx.now),
            next((o for o in own if o.bid.status == service.SEALED), None),
        )
        for tender, own in service.my_tenders(ctx, sealer)
    ]
    return render(
        request,
        "tendering/supplier.html",
        ctx,
        status_code,
        items=items,
        error=error,
        error_tender=error_tender,
        notice=notice,
        submission_key=lambda: uuid.uuid4().hex,
        bid_states=BID_STATES,
        **_page_values(ctx),
    )


BID_STATES = {
    service.SEALED: "Sellada, vigente",
    service.REPLACED: "Sustituida",
    service.WITHDRAWN: "Retirada",
    service.OPENED: "Abierta",
}


@router.get("/proveedor/licitaciones")
def supplier_page(
    request: Request,
    ctx: Bidder,
    retirada: Annotated[str, Query(max_length=40)] = "",
    pregunta: Annotated[int | None, Query(ge=1, le=INT_MAX)] = None,
) -> Response:
    """The tenders the supplier may bid on, its bids and receipts, and what it may do now."""
    notice = None
    if retirada:
        notice = f"Se retiró la proposición {retirada}; ya no cuenta en la apertura."
    elif pregunta:
        notice = (
            f"Se registró su pregunta {pregunta}; se publica sin su nombre y la respuesta "
            "aparecerá en la página de la licitación."
        )
    return _workspace(request, ctx, notice=notice)


@router.post(
    "/proveedor/licitaciones/{tender_id}/proposiciones", dependencies=[Depends(read_uploads)]
)
def submit_bid(
    request: Request,
    tender_id: TenderId,
    ctx: Bidder,
    file: Annotated[UploadFile | None, File()] = None,
    replaces: Annotated[str, Form(max_length=40)] = "",
    submission: Annotated[str, Form(max_length=200)] = "",
    incompleta: Annotated[bool, Form()] = False,
) -> Response:
    """Seal the filled template; the receipt page follows (POST-redirect-GET). A template with
    lines lacking registro sanitario, manufacturer or country is sealed only when the supplier
    ticks «Sellar aunque falten datos»; otherwise the page lists them and seals nothing."""
    try:
        if file is None or not file.filename:
            raise ValidationFailed(
                "Elija el archivo de su proposición.",
                expected="la plantilla .xlsx de la licitación con sus precios",
            )
        receipt = service.submit_bid_sheet(
            ctx,
            app_state(request).sealer,
            tender_id=tender_id,
            content=file.file.read(),
            filename=file.filename,
            # The form's one-time key: a double click or a resubmitted form gives one bid.
            idempotency_key=submission.strip() or None,
            replaces=replaces.strip() or None,
            seal_incomplete=incompleta,
        )
    except (ValidationFailed, Conflict, Forbidden) as exc:
        ctx.db.rollback()
        return _workspace(request, ctx, status_code=exc.status, error=exc, error_tender=tender_id)
    return RedirectResponse(
        f"/proveedor/licitaciones/{tender_id}/proposiciones/{receipt.bid_id}?nueva=1",
        status_code=303,
    )


@router.get("/proveedor/licitaciones/{tender_id}/proposiciones/{bid_id}")
def receipt_page(
    request: Request,
    tender_id: TenderId,
    bid_id: str,
    ctx: Bidder,
    nueva: Annotated[bool, Query()] = False,
) -> Response:
    """The receipt of one of the supplier's own bids: commitment, salt and its lines."""
    tender = service.view_tender(ctx, tender_id)
    own = next(
        (
            o
            for o in service.my_bids(ctx, app_state(request).sealer, tender_id=tender.id)
            if o.bid.id == bid_id
        ),
        None,
    )
    if own is None:
        raise NotFound(f"No tiene una proposición {bid_id} en la licitación {tender.number}.")
    receipt_text = "\n".join(
        [
            f"Licitación: {own.receipt.tender_number}",
            f"Proposición: {own.receipt.bid_id}",
            f"Recibida: {own.receipt.received_at.isoformat()}",
            f"Compromiso: {own.receipt.commitment}",
            f"Sal: {own.receipt.salt}",
        ]
    )
    return render(
        request,
        "tendering/receipt.html",
        ctx,
        tender=tender,
        own=own,
        new=nueva,
        receipt_text=receipt_text,
        warnings=rules.incomplete_lines([rules.BidLineInput(**line) for line in own.lines]),
        bid_states=BID_STATES,
        **_page_values(ctx),
    )


@router.post("/proveedor/licitaciones/{tender_id}/proposiciones/{bid_id}/retirar")
def withdraw_bid(
    request: Request,
    tender_id: TenderId,
    bid_id: str,
    ctx: Bidder,
    confirmar: Annotated[str, Form(max_length=10)] = "",
) -> Response:
    """Withdrawing a sealed bid cannot be undone (a new one must be sealed before the close):
    the form asks the supplier to confirm it."""
    try:
        require_confirmation(
            confirmar,
            refusal="No se retiró la proposición: falta confirmar el retiro.",
            label="Confirmo el retiro",
        )
        service.withdraw_bid(ctx, app_state(request).sealer, tender_id=tender_id, bid_id=bid_id)
    except (ValidationFailed, Conflict, Forbidden, NotFound) as exc:
        ctx.db.rollback()
        return _workspace(request, ctx, status_code=exc.status, error=exc, error_tender=tender_id)
    return RedirectResponse(
        f"/proveedor/licitaciones?retirada={bid_id}#licitacion-{tender_id}", status_code=303
    )


@router.post("/proveedor/licitaciones/{tender_id}/preguntas")
def ask_question(
    request: Request,
    tender_id: TenderId,
    ctx: Bidder,
    text: Annotated[str, Form(max_length=4000)] = "",
    partida: Annotated[str, Form(max_length=10)] = "",
) -> Response:
    try:
        number = partida.strip()
        found = numbers.count_of(number)
        if number and (found is None or found > rules.MAX_PARTIDA):
            raise ValidationFailed(
                "La pregunta se refiere a una partida que no existe.",
                problems=[
                    Problem(
                        "Número de partida no válido",
                        field="partida",
                        value=number,
                        expected="el número de la partida, o vacío para una pregunta general",
                    )
                ],
            )
        question = service.ask_question(ctx, tender_id=tender_id, text=text, partida=found)
    except (ValidationFailed, Conflict, Forbidden) as exc:
        ctx.db.rollback()
        return _workspace(request, ctx, status_code=exc.status, error=exc, error_tender=tender_id)
    return RedirectResponse(
        f"/proveedor/licitaciones?pregunta={question.number}#licitacion-{tender_id}",
        status_code=303,
    )


# ----- the buyer's workspace -----------------------------------------------------------------


def _manage_page(
    request: Request,
    ctx: Context,
    tender_id: int,
    *,
    status_code: int = 200,
    error: AbastoError | None = None,
    notice: str | None = None,
) -> Response:
    tender = service.get_tender(ctx.db, tender_id)
    questions = service.questions_of(ctx.db, tender.id)
    desiertas = ctx.db.scalars(
        select(Partida)
        .where(Partida.tender_id == tender.id, Partida.desierta_at.is_not(None))
        .order_by(Partida.number)
    ).all()
    live = tender.status in rules.LIVE_STATUSES
    return render(
        request,
        "tendering/manage.html",
        ctx,
        status_code,
        tender=tender,
        policy=rules.procedure(tender.procedure),
        milestones=_milestones(tender, ctx.now),
        round_name=_round_name(ctx, tender),
        partida_count=_partida_count(ctx, tender.id),
        invited=service.invited_of(ctx.db, tender.id),
        questions=questions,
        pending=[q for q in questions if q.answer is None],
        desiertas=desiertas,
        sealed=service.sealed_count(ctx.db, tender.id),
        live=live,
        amendable=live and rules.accepts_bids(service.timeline_of(tender), ctx.now),
        cancellable=tender.status not in (rules.CANCELLED, rules.OPENED, rules.AWARDED)
        and (tender.status != rules.OPENING or tender.attention_at is not None),
        stuck=tender.status == rules.SUSPENDED
        or (tender.status == rules.OPENING and tender.attention_at is not None),
        may_open=_may_open(tender, ctx.now),
        draft=_draft_form(ctx, tender) if tender.status == rules.DRAFT else None,
        error=error,
        notice=notice,
        **_page_values(ctx),
    )


def _draft_form(ctx: Context, tender: Tender) -> dict[str, Any]:
    """What the draft's form shows: its title, its dates as the inputs take them, its claves."""
    return {
        "title": tender.title,
        "dates": {
            name: (rules.MILESTONE_LABELS[name], _local_input(getattr(tender, name)))
            for name in ("clarification_deadline", "bid_deadline", "opening_at", "fallo_at")
        },
        "claves": service.draft_choices(ctx.db, tender),
    }


@router.get("/comprador/licitaciones/{tender_id}")
def manage_page(
    request: Request,
    tender_id: TenderId,
    ctx: Buyer,
    hecho: Annotated[str, Query(max_length=20)] = "",
) -> Response:
    """What the buyer does with a tender: publish, amend, answer, declare desierta, cancel, open."""
    return _manage_page(request, ctx, tender_id, notice=BUYER_NOTICES.get(hecho))


def _version(value: str) -> int | None:
    return numbers.count_of(value)


def _buyer_action(
    request: Request, ctx: Context, tender_id: int, done: str, action: Any
) -> Response:
    """Run one buyer action: back to the workspace with a notice, or with the refusal."""
    try:
        action()
    except (ValidationFailed, Conflict) as exc:
        ctx.db.rollback()
        return _manage_page(request, ctx, tender_id, status_code=exc.status, error=exc)
    return RedirectResponse(f"{_buyer_url(tender_id)}?hecho={done}", status_code=303)


@router.post("/comprador/licitaciones/{tender_id}/publicar")
def publish_tender(
    request: Request,
    tender_id: TenderId,
    ctx: Buyer,
    version: Annotated[str, Form(max_length=20)] = "",
    confirmar: Annotated[str, Form(max_length=10)] = "",
) -> Response:
    """Publishing cannot be undone: the form asks the buyer to confirm it (a checkbox the
    browser requires), and a request without the confirmation changes nothing."""

    def publish() -> None:
        require_confirmation(
            confirmar,
            refusal="No se publicó la licitación: falta confirmar la publicación.",
            label="Confirmo la publicación",
        )
        service.publish_tender(ctx, tender_id=tender_id, version=_version(version))

    return _buyer_action(request, ctx, tender_id, "publicada", publish)


@router.post("/comprador/licitaciones/{tender_id}/borrador")
async def edit_draft(request: Request, tender_id: TenderId, ctx: Buyer) -> Response:
    """The draft's form: title, dates and the claves it tenders (checkboxes, several values)."""
    form = await request.form(max_files=0, max_fields=25_000)
    problems: list[Problem] = []

    def text(name: str, limit: int) -> str:
        value = form.get(name)
        return value[:limit] if isinstance(value, str) else ""

    dates = {
        name: _parse_local(
            text(name, 40), name, rules.MILESTONE_LABELS[name], problems, required=False
        )
        for name in ("clarification_deadline", "bid_deadline", "opening_at", "fallo_at")
    }
    claves = [value[:40] for value in form.getlist("clave") if isinstance(value, str)]
    if problems:
        error = ValidationFailed("No se cambió el borrador.", problems=problems)
        return _manage_page(request, ctx, tender_id, status_code=422, error=error)
    return _buyer_action(
        request,
        ctx,
        tender_id,
        "borrador",
        lambda: service.edit_draft(
            ctx,
            tender_id=tender_id,
            version=_version(text("version", 20)),
            title=text("title", 300),
            claves=claves,
            **dates,
        ),
    )


@router.post("/comprador/licitaciones/{tender_id}/modificar")
def amend_tender(
    request: Request,
    tender_id: TenderId,
    ctx: Buyer,
    description: Annotated[str, Form(max_length=4000)] = "",
    clarification_deadline: Annotated[str, Form(max_length=40)] = "",
    bid_deadline: Annotated[str, Form(max_length=40)] = "",
    opening_at: Annotated[str, Form(max_length=40)] = "",
    fallo_at: Annotated[str, Form(max_length=40)] = "",
    version: Annotated[str, Form(max_length=20)] = "",
) -> Response:
    """A recorded change; a new date is optional (empty keeps the current one)."""
    problems: list[Problem] = []
    given = {
        "clarification_deadline": clarification_deadline,
        "bid_deadline": bid_deadline,
        "opening_at": opening_at,
        "fallo_at": fallo_at,
    }
    dates = {
        name: _parse_local(value, name, rules.MILESTONE_LABELS[name], problems, required=False)
        for name, value in given.items()
    }
    if problems:
        error = ValidationFailed("No se modificó la licitación.", problems=problems)
        return _manage_page(request, ctx, tender_id, status_code=422, error=error)
    return _buyer_action(
        request,
        ctx,
        tender_id,
        "modificada",
        lambda: service.amend_tender(
            ctx, tender_id=tender_id, description=description, version=_version(version), **dates
        ),
    )


@router.post("/comprador/licitaciones/{tender_id}/cancelar")
def cancel_tender(
    request: Request,
    tender_id: TenderId,
    ctx: Buyer,
    reason: Annotated[str, Form(max_length=4000)] = "",
    version: Annotated[str, Form(max_length=20)] = "",
) -> Response:
    return _buyer_action(
        request,
        ctx,
        tender_id,
        "cancelada",
        lambda: service.cancel_tender(
            ctx, tender_id=tender_id, reason=reason, version=_version(version)
        ),
    )


@router.post("/comprador/licitaciones/{tender_id}/suspender")
def suspend_opening(
    request: Request,
    tender_id: TenderId,
    ctx: Buyer,
    reason: Annotated[str, Form(max_length=4000)] = "",
) -> Response:
    return _buyer_action(
        request,
        ctx,
        tender_id,
        "suspendida",
        lambda: service.suspend_opening(ctx, tender_id=tender_id, reason=reason),
    )


@router.post("/comprador/licitaciones/{tender_id}/reanudar")
def resume_opening(
    request: Request,
    tender_id: TenderId,
    ctx: Buyer,
    reason: Annotated[str, Form(max_length=4000)] = "",
) -> Response:
    return _buyer_action(
        request,
        ctx,
        tender_id,
        "reanudada",
        lambda: service.resume_opening(ctx, tender_id=tender_id, reason=reason),
    )


@router.post("/comprador/licitaciones/{tender_id}/desierta")
def declare_desierta(
    request: Request,
    tender_id: TenderId,
    ctx: Buyer,
    partida: Annotated[str, Form(max_length=10)] = "",
    reason: Annotated[str, Form(max_length=4000)] = "",
) -> Response:
    number = numbers.count_of(partida)
    if number is None or number > rules.MAX_PARTIDA:
        error = ValidationFailed(
            "No se declaró desierta ninguna partida.",
            problems=[
                Problem(
                    "Número de partida no válido",
                    field="partida",
                    value=partida,
                    expected="el número de la partida",
                )
            ],
        )
        return _manage_page(request, ctx, tender_id, status_code=422, error=error)
    return _buyer_action(
        request,
        ctx,
        tender_id,
        "desierta",
        lambda: service.declare_desierta(ctx, tender_id=tender_id, partida=number, reason=reason),
    )


@router.post("/comprador/licitaciones/{tender_id}/preguntas/{number}/responder")
def answer_question(
    request: Request,
    tender_id: TenderId,
    number: Number,
    ctx: Buyer,
    answer: Annotated[str, Form(max_length=8000)] = "",
) -> Response:
    return _buyer_action(
        request,
        ctx,
        tender_id,
        "respondida",
        lambda: service.answer_question(ctx, tender_id=tender_id, number=number, answer=answer),
    )


@router.post("/comprador/licitaciones/{tender_id}/apertura")
def start_opening(request: Request, tender_id: TenderId, ctx: Buyer) -> Response:
    """Start the public opening and go to its live page, where the bids appear one by one."""
    try:
        service.start_opening(ctx, tender_id=tender_id)
    except Conflict as exc:
        ctx.db.rollback()
        return _manage_page(request, ctx, tender_id, status_code=exc.status, error=exc)
    return RedirectResponse(f"{_tender_url(tender_id)}/apertura", status_code=303)
