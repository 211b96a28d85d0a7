"""Pages of evaluation and award: the fallo, its document and contract drafts, the technical
evaluation workspace, the price import, and the buyer's issuing of the fallo."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, File, Form, Query, Request, UploadFile
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import case, func, select

from abasto.award import fallo_doc, rules, service
from abasto.award.models import TechnicalEvaluation
from abasto.catalog.models import Clave
from abasto.core import numbers
from abasto.core.bounds import INT_MAX
from abasto.core.context import Context
from abasto.core.errors import AbastoError, Conflict, NotFound, Problem, ValidationFailed
from abasto.core.text import fold
from abasto.identity.models import Institution, Role, Supplier
from abasto.tendering import acta
from abasto.tendering import rules as tendering_rules
from abasto.tendering import service as tendering
from abasto.tendering.models import Bid, BidLine, Partida, Tender
from abasto.web.deps import allow, app_state, public, read_uploads
from abasto.web.params import Page, TenderId, require_confirmation
from abasto.web.templating import render, render_live

router = APIRouter(include_in_schema=False)

Public = Annotated[Context, Depends(public)]
Buyer = Annotated[Context, Depends(allow(Role.comprador))]
Evaluator = Annotated[Context, Depends(allow(Role.evaluador))]
Reviewer = Annotated[Context, Depends(allow(Role.evaluador, Role.comprador, Role.auditor))]

PARTIDAS_PER_PAGE = 50
LINES_PER_PAGE = 25
CONTRACTS_PER_PAGE = 20
ISSUABLE = (tendering_rules.OPENED,)
EVALUABLE = (tendering_rules.OPENED, tendering_rules.AWARDED)
MODE_HELP = {
    rules.Mode.LOWEST: "cada partida al precio solvente más bajo; si no cubre la demanda, al "
    "siguiente",
    rules.Mode.SPLIT: "reparte cada partida entre las proposiciones dentro del margen, con los "
    "porcentajes anunciados",
    rules.Mode.OPTIMAL: "el menor costo total de la licitación respetando capacidad, "
    "participación máxima y partidas críticas",
}


def _tender_url(tender_id: int) -> str:
    return f"/licitaciones/{tender_id}"


def _evaluation_url(tender_id: int) -> str:
    return f"/evaluacion/licitaciones/{tender_id}"


def _with_query(path: str, params: Mapping[str, object]) -> str:
    """The path with the parameters that have a value (empty ones and page 1 are left out)."""
    given = {k: v for k, v in params.items() if v is not None and v != "" and (k, v) != ("page", 1)}
    return f"{path}?{urlencode(given)}" if given else path


def _page_values(ctx: Context) -> dict[str, Any]:
    return {
        "status_labels": tendering_rules.STATUS_LABELS,
        "instant": acta.instant,
        "now": ctx.now,
        "tender_url": _tender_url,
        "evaluation_url": _evaluation_url,
    }


def _no_fallo(request: Request, ctx: Context, tender: Tender) -> Response:
    """The page where the fallo will be: when it is due, and what is happening meanwhile."""
    return render(
        request,
        "award/no_fallo.html",
        ctx,
        404,
        tender=tender,
        evaluable=tender.status in EVALUABLE,
        **_page_values(ctx),
    )


def _document(
    request: Request, ctx: Context, tender_id: int, *, reasons: bool = True
) -> fallo_doc.FalloDocument | Response:
    """The tender's fallo document, or the page saying it has none yet."""
    tender = tendering.view_tender(ctx, tender_id)
    if not fallo_doc.has_fallo(ctx, tender.id):
        return _no_fallo(request, ctx, tender)
    return fallo_doc.build_fallo(ctx, tender_id=tender.id, reasons=reasons)


# ----- the fallo -----------------------------------------------------------------------------


@router.get("/licitaciones/{tender_id}/fallo")
def fallo_page(
    request: Request,
    tender_id: TenderId,
    ctx: Public,
    q: Annotated[str, Query(max_length=200)] = "",
    estado: Annotated[str, Query(max_length=20)] = "",
    orden: Annotated[str, Query(max_length=20)] = "partida",
    sentido: Annotated[str, Query(max_length=4)] = "",
    page: Page = 1,
    emitido: Annotated[bool, Query()] = False,
) -> Response:
    """The fallo: totals, savings by group, per partida the winners and every bid's outcome."""
    doc = _document(request, ctx, tender_id, reasons=False)
    if isinstance(doc, Response):
        return doc
    order = orden if orden in fallo_doc.SORTS else "partida"
    status = estado if estado in fallo_doc.STATUS_LABELS else ""
    # Amounts read best largest first; numbers and claves in their natural order.
    descending = sentido == "desc" if sentido in ("asc", "desc") else order in ("total", "ahorro")
    found = fallo_doc.select_partidas(
        doc.partidas,
        q=q,
        status=status,
        order=order,
        descending=descending,
        page=page,
        per_page=PARTIDAS_PER_PAGE,
    )
    found = replace(found, items=fallo_doc.with_reasons(ctx, doc, found.items))
    direction = sentido if sentido in ("asc", "desc") else ""
    state = {
        "q": q.strip(),
        "estado": status,
        "orden": "" if order == "partida" else order,
        "sentido": direction,
    }
    path = f"{_tender_url(doc.tender_id)}/fallo"

    def link(**changes: object) -> str:
        return _with_query(path, {**state, "page": found.page, **changes})

    def sort_link(key: str) -> str:
        natural_desc = key in ("total", "ahorro")
        if key == order:
            flip = "asc" if descending else "desc"
            return link(orden=key, sentido=flip, page=1)
        return link(orden=key, sentido="desc" if natural_desc else "asc", page=1)

    groups = doc.groups
    return render_live(
        request,
        "award/fallo.html",
        "award/_fallo_partidas.html",
        ctx,
        doc=doc,
        found=found,
        q=q.strip(),
        estado=status,
        orden=order,
        descending=descending,
        sentido=direction,
        link=link,
        sort_link=sort_link,
        groups=groups,
        chart=fallo_doc.savings_chart(groups),
        desiertas=doc.desiertas,
        sorts=fallo_doc.SORTS,
        partida_statuses=fallo_doc.STATUS_LABELS,
        summary=fallo_doc.summary_rows(doc),
        emitido=emitido,
        **_page_values(ctx),
    )


@router.get("/licitaciones/{tender_id}/fallo/documento")
def fallo_document(request: Request, tender_id: TenderId, ctx: Public) -> Response:
    """The whole fallo, printable: every partida, every bid line and its reasons."""
    doc = _document(request, ctx, tender_id)
    if isinstance(doc, Response):
        return doc
    return render(
        request,
        "award/document.html",
        ctx,
        doc=doc,
        summary=fallo_doc.summary_rows(doc),
        groups=doc.groups,
        desiertas=doc.desiertas,
        **_page_values(ctx),
    )


@router.get("/licitaciones/{tender_id}/fallo.pdf")
def fallo_pdf(request: Request, tender_id: TenderId, ctx: Public) -> Response:
    doc = _document(request, ctx, tender_id)
    if isinstance(doc, Response):
        return doc
    return Response(
        fallo_doc.fallo_pdf(doc),
        media_type="application/pdf",
        headers={
            "Content-Disposition": f'inline; filename="{doc.number}-fallo.pdf"',
            # An issued fallo never changes.
            "Cache-Control": "public, max-age=3600",
        },
    )


# ----- contract drafts -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DraftLine:
    number: int
    clave: str
    description: str
    min_qty: int
    max_qty: int
    unit_price: Decimal

    @property
    def min_amount(self) -> Decimal:
        return self.unit_price * self.min_qty

    @property
    def max_amount(self) -> Decimal:
        return self.unit_price * self.max_qty


@dataclass(frozen=True, slots=True)
class Contract:
    """One institution's open contract with one supplier: its partidas, minimum and maximum."""

    institution_code: str
    institution_name: str
    rfc: str
    supplier_name: str
    lines: tuple[DraftLine, ...]

    @property
    def min_amount(self) -> Decimal:
        return sum((line.min_amount for line in self.lines), Decimal(0))

    @property
    def max_amount(self) -> Decimal:
        return sum((line.max_amount for line in self.lines), Decimal(0))

    @property
    def anchor(self) -> str:
        return f"contrato-{self.institution_code}-{self.rfc}".lower()


def _contracts(ctx: Context, tender_id: int) -> list[Contract]:
    """The fallo's contract drafts grouped by institution and supplier."""
    fallo = service.get_fallo(ctx.db, tender_id)
    drafts = service.contract_drafts(ctx.db, fallo)
    partidas = {p.id: p for p in tendering.partidas_of(ctx.db, tender_id)}
    institutions = {
        i: (code, name)
        for i, code, name in ctx.db.execute(
            select(Institution.id, Institution.code, Institution.name).where(
                Institution.id.in_({d.institution_id for d in drafts})
            )
        )
    }
    suppliers = {
        s: (rfc, name)
        for s, rfc, name in ctx.db.execute(
            select(Supplier.id, Supplier.rfc, Supplier.razon_social).where(
                Supplier.id.in_({d.supplier_id for d in drafts})
            )
        )
    }
    grouped: dict[tuple[int, int], list[DraftLine]] = defaultdict(list)
    for draft in drafts:
        partida = partidas[draft.partida_id]
        grouped[(draft.institution_id, draft.supplier_id)].append(
            DraftLine(
                partida.number,
                partida.clave.clave,
                partida.clave.description,
                draft.min_qty,
                draft.max_qty,
                draft.unit_price,
            )
        )
    contracts = [
        Contract(
            *institutions[institution_id],
            *suppliers[supplier_id],
            tuple(sorted(lines, key=lambda line: line.number)),
        )
        for (institution_id, supplier_id), lines in grouped.items()
    ]
    return sorted(contracts, key=lambda c: (c.institution_code, c.supplier_name, c.rfc))


@router.get("/licitaciones/{tender_id}/contratos")
def contracts_page(
    request: Request,
    tender_id: TenderId,
    ctx: Public,
    q: Annotated[str, Query(max_length=200)] = "",
    page: Page = 1,
) -> Response:
    """Contract drafts per institution × supplier: partidas, minimum, maximum, price, amount."""
    tender = tendering.view_tender(ctx, tender_id)
    if not fallo_doc.has_fallo(ctx, tender.id):
        return _no_fallo(request, ctx, tender)
    contracts = _contracts(ctx, tender.id)
    words = fold(q).split()
    shown = [
        c
        for c in contracts
        if all(
            w in fold(f"{c.institution_code} {c.institution_name} {c.rfc} {c.supplier_name}")
            for w in words
        )
    ]
    pages = max(1, -(-len(shown) // CONTRACTS_PER_PAGE))
    page = min(page, pages)
    path = f"{_tender_url(tender.id)}/contratos"
    return render(
        request,
        "award/contracts.html",
        ctx,
        tender=tender,
        contracts=shown[(page - 1) * CONTRACTS_PER_PAGE : page * CONTRACTS_PER_PAGE],
        count=len(shown),
        all_count=len(contracts),
        total_max=sum((c.max_amount for c in contracts), Decimal(0)),
        total_min=sum((c.min_amount for c in contracts), Decimal(0)),
        q=q.strip(),
        page=page,
        pages=pages,
        page_link=lambda n: _with_query(path, {"q": q.strip(), "page": n}),
        **_page_values(ctx),
    )


# ----- the technical evaluation --------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Recorded:
    complies: bool
    reason: str
    evaluator: str
    at: datetime


@dataclass(frozen=True, slots=True)
class RequirementCell:
    code: str
    label: str
    proposed: service.Verdict | None
    recorded: Recorded | None

    @property
    def complies(self) -> bool | None:
        """What the form starts with: the recorded verdict, else the proposal."""
        if self.recorded is not None:
            return self.recorded.complies
        return self.proposed.complies if self.proposed else None

    @property
    def reason(self) -> str:
        if self.recorded is not None:
            return self.recorded.reason
        return self.proposed.reason if self.proposed else ""


@dataclass(frozen=True, slots=True)
class LineSummary:
    """An opened bid line to evaluate, with how many of its requirements have a verdict."""

    bid_id: str
    partida: int
    clave: str
    rfc: str
    name: str
    unit_price: Decimal
    quantity: int
    recorded: int
    failing: int
    search_text: str

    @property
    def complete(self) -> bool:
        return self.recorded >= len(service.REQUIREMENTS)


@dataclass(frozen=True, slots=True)
class EvaluationLine:
    """A line as the page shows it: each requirement with its proposal and its verdict."""

    line: LineSummary
    requirements: tuple[RequirementCell, ...]

    @property
    def anchor(self) -> str:
        return f"linea-{self.line.bid_id}-{self.line.partida}"


EVALUATION_FILTERS = {
    "": "Todas las líneas",
    "pendientes": "Con requisitos sin evaluar",
    "no_cumplen": "Que no cumplen algún requisito",
}


def _line_summaries(ctx: Context, tender: Tender) -> list[LineSummary]:
    """Every matching opened bid line, by partida and price (40,000 in a national tender: read
    as columns, folded once per bidder)."""
    counts = {
        (bid_id, number): (recorded, failing or 0)
        for bid_id, number, recorded, failing in ctx.db.execute(
            select(
                TechnicalEvaluation.bid_id,
                TechnicalEvaluation.partida_number,
                func.count(),
                func.sum(case((TechnicalEvaluation.complies.is_(False), 1), else_=0)),
            )
            .where(TechnicalEvaluation.tender_id == tender.id)
            .group_by(TechnicalEvaluation.bid_id, TechnicalEvaluation.partida_number)
        )
    }
    bidders: dict[int | None, tuple[str, str, str]] = {None: ("—", acta.UNKNOWN_BIDDER, "")}
    rows = ctx.db.execute(
        select(
            BidLine.bid_id,
            BidLine.partida_number,
            Clave.clave,
            Clave.search_text,
            Bid.supplier_id,
            BidLine.unit_price,
            BidLine.quantity,
        )
        .join(Bid, Bid.id == BidLine.bid_id)
        .join(Partida, Partida.id == BidLine.partida_id)
        .join(Clave, Clave.id == Partida.clave_id)
        .where(Bid.tender_id == tender.id, Bid.check == tendering.MATCHES)
        .order_by(BidLine.partida_number, BidLine.unit_price, BidLine.bid_id)
    ).all()
    wanted = {row.supplier_id for row in rows} - set(bidders)
    for known_id, rfc, name in ctx.db.execute(
        select(Supplier.id, Supplier.rfc, Supplier.razon_social).where(Supplier.id.in_(wanted))
    ):
        bidders[known_id] = (rfc, name, fold(f"{rfc} {name}"))
    summaries = []
    for bid_id, number, clave, clave_text, supplier_id, price, quantity in rows:
        rfc, name, bidder_text = bidders.get(supplier_id, bidders[None])
        recorded, failing = counts.get((bid_id, number), (0, 0))
        summaries.append(
            LineSummary(
                bid_id,
                number,
                clave,
                rfc,
                name,
                price,
                quantity,
                recorded,
                failing,
                f"{clave_text} {bidder_text} {bid_id.lower()}",
            )
        )
    return summaries


def _with_requirements(
    ctx: Context, tender: Tender, lines: Sequence[LineSummary]
) -> list[EvaluationLine]:
    """The page's lines with each requirement's proposal (while evaluating) and verdict."""
    if not lines:
        return []
    proposals: dict[tuple[str, int, str], service.Verdict] = {}
    if tender.status == tendering_rules.OPENED:
        proposals = {
            (v.bid_id, v.partida, v.requirement): v
            for v in service.propose_verdicts(ctx.db, tender.id)
        }
    keys = {(line.bid_id, line.partida) for line in lines}
    recorded = {
        (bid_id, number, requirement): Recorded(complies, reason, evaluator, at)
        for bid_id, number, requirement, complies, reason, evaluator, at in ctx.db.execute(
            select(
                TechnicalEvaluation.bid_id,
                TechnicalEvaluation.partida_number,
                TechnicalEvaluation.requirement,
                TechnicalEvaluation.complies,
                TechnicalEvaluation.reason,
                TechnicalEvaluation.evaluator,
                TechnicalEvaluation.at,
            ).where(
                TechnicalEvaluation.tender_id == tender.id,
                TechnicalEvaluation.bid_id.in_({bid for bid, _ in keys}),
                TechnicalEvaluation.partida_number.in_({number for _, number in keys}),
            )
        )
        if (bid_id, number) in keys
    }
    return [
        EvaluationLine(
            line,
            tuple(
                RequirementCell(
                    code,
                    label,
                    proposals.get((line.bid_id, line.partida, code)),
                    recorded.get((line.bid_id, line.partida, code)),
                )
                for code, label in service.REQUIREMENTS.items()
            ),
        )
        for line in lines
    ]


def _line_matches(line: LineSummary, q: str, state: str) -> bool:
    if state == "pendientes" and line.complete:
        return False
    if state == "no_cumplen" and not line.failing:
        return False
    words = q.strip()
    if not words:
        return True
    compact = "".join(words.split())
    if words.isdigit():
        return line.partida == numbers.count_of(words)
    if fallo_doc.CLAVE_PREFIX.fullmatch(compact):
        return line.clave.startswith(compact)
    return all(w in line.search_text for w in fold(words).split())


def _evaluation_page(
    request: Request,
    ctx: Context,
    tender_id: int,
    *,
    q: str = "",
    estado: str = "",
    page: int = 1,
    status_code: int = 200,
    error: AbastoError | None = None,
    notice: str | None = None,
    mode: str = rules.Mode.OPTIMAL.value,
    changes: service.VerdictsChange | None = None,
    stale_confirmation: bool = False,
) -> Response:
    tender = tendering.view_tender(ctx, tender_id)
    state = estado if estado in EVALUATION_FILTERS else ""
    evaluable = tender.status in EVALUABLE
    lines = _line_summaries(ctx, tender) if evaluable else []
    shown = [line for line in lines if _line_matches(line, q, state)]
    pages = max(1, -(-len(shown) // LINES_PER_PAGE))
    page = min(max(page, 1), pages)
    on_page = _with_requirements(
        ctx, tender, shown[(page - 1) * LINES_PER_PAGE : page * LINES_PER_PAGE]
    )
    # The same count as service.evaluation_status, from the lines already read.
    done, total = sum(1 for line in lines if line.complete), len(lines)
    missing_references: list[tuple[int, str]] = []
    if tender.status in ISSUABLE and ctx.actor.has_role(Role.comprador):
        partidas = [p for p in tendering.partidas_of(ctx.db, tender.id) if p.desierta_at is None]
        known = service.references(ctx.db, [p.clave.clave for p in partidas])
        missing_references = [
            (p.number, p.clave.clave) for p in partidas if p.clave.clave not in known
        ]
    path = _evaluation_url(tender.id)
    return render(
        request,
        "award/evaluation.html",
        ctx,
        status_code,
        tender=tender,
        evaluable=evaluable,
        issuable=tender.status in ISSUABLE,
        has_fallo=tender.status == tendering_rules.AWARDED,
        lines=on_page,
        shown_count=len(shown),
        line_count=len(lines),
        done=done,
        total=total,
        q=q.strip(),
        estado=state,
        filters=EVALUATION_FILTERS,
        page=page,
        pages=pages,
        page_link=lambda n: _with_query(path, {"q": q.strip(), "estado": state, "page": n}),
        back={"q": q.strip(), "estado": state, "page": page},
        may_record=ctx.actor.has_role(Role.evaluador) and tender.status == tendering_rules.OPENED,
        may_issue=ctx.actor.has_role(Role.comprador) and tender.status in ISSUABLE,
        missing_references=missing_references,
        modes=[(m.value, fallo_doc.MODE_LABELS[m.value], MODE_HELP[m]) for m in rules.Mode],
        mode=mode,
        template_url=f"/api/v1/tenders/{tender.id}/evaluations/template.xlsx",
        error=error,
        notice=notice,
        changes=changes,
        stale_confirmation=stale_confirmation,
        **_page_values(ctx),
    )


EVALUATION_NOTICES = {"veredicto": "Se registró el veredicto."}


@router.get("/evaluacion/licitaciones/{tender_id}")
def evaluation_page(
    request: Request,
    tender_id: TenderId,
    ctx: Reviewer,
    q: Annotated[str, Query(max_length=200)] = "",
    estado: Annotated[str, Query(max_length=20)] = "",
    page: Page = 1,
    hecho: Annotated[str, Query(max_length=20)] = "",
    registrados: Annotated[int | None, Query(ge=0, le=INT_MAX)] = None,
    cambiados: Annotated[int, Query(ge=0, le=INT_MAX)] = 0,
    iguales: Annotated[int, Query(ge=0, le=INT_MAX)] = 0,
) -> Response:
    """Technical evaluation: progress, each bid line's requirements proposed and recorded."""
    notice = EVALUATION_NOTICES.get(hecho)
    if registrados is not None:
        notice = f"Se registraron {registrados:,} veredictos de la hoja de evaluación."
        if cambiados:
            notice += f" Se cambiaron {cambiados:,} veredictos ya registrados, confirmados."
        if iguales:
            notice += f" {iguales:,} ya estaban registrados igual y no se tocaron."
    return _evaluation_page(request, ctx, tender_id, q=q, estado=estado, page=page, notice=notice)


def _back_to_evaluation(tender_id: int, back: Mapping[str, object], anchor: str = "") -> str:
    url = _with_query(_evaluation_url(tender_id), back)
    return f"{url}{anchor}"


@router.post("/evaluacion/licitaciones/{tender_id}/veredictos")
def record_verdict(
    request: Request,
    tender_id: TenderId,
    ctx: Evaluator,
    bid_id: Annotated[str, Form(max_length=40)] = "",
    partida: Annotated[str, Form(max_length=10)] = "",
    requirement: Annotated[str, Form(max_length=40)] = "",
    complies: Annotated[str, Form(max_length=5)] = "",
    reason: Annotated[str, Form(max_length=2000)] = "",
    q: Annotated[str, Form(max_length=200)] = "",
    estado: Annotated[str, Form(max_length=20)] = "",
    page: Annotated[int, Form(ge=1, le=INT_MAX)] = 1,
) -> Response:
    """Record (or correct) one verdict: a bid line, a requirement, complies or not, and why."""
    back = {"q": q, "estado": estado, "page": page}
    problems: list[Problem] = []
    number = numbers.count_of(partida)
    if number is None:
        problems.append(
            Problem(
                "Número de partida no válido",
                field="partida",
                value=partida,
                expected="el número de la partida",
            )
        )
    if complies not in ("si", "no"):
        problems.append(
            Problem("Indique si cumple", field="complies", value=complies, expected="«Sí» o «No»")
        )
    try:
        if problems:
            raise ValidationFailed("No se registró el veredicto.", problems=problems)
        service.record_evaluations(
            ctx,
            tender_id=tender_id,
            verdicts=[
                service.Verdict(
                    bid_id.strip(), number or 0, requirement.strip(), complies == "si", reason
                )
            ],
            # «Corregir» names the one verdict it changes, shown beside it: that is the
            # confirmation a sheet's changes need.
            confirm=True,
        )
    except (ValidationFailed, Conflict, NotFound) as exc:
        ctx.db.rollback()
        return _evaluation_page(
            request,
            ctx,
            tender_id,
            q=q,
            estado=estado,
            page=page,
            status_code=exc.status,
            error=exc,
        )
    return RedirectResponse(
        _back_to_evaluation(
            tender_id, {**back, "hecho": "veredicto"}, f"#linea-{bid_id.strip()}-{partida.strip()}"
        ),
        status_code=303,
    )


@router.post("/evaluacion/licitaciones/{tender_id}/hoja", dependencies=[Depends(read_uploads)])
def upload_sheet(
    request: Request,
    tender_id: TenderId,
    ctx: Evaluator,
    file: Annotated[UploadFile | None, File()] = None,
    confirmar: Annotated[str, Form(max_length=64)] = "",
) -> Response:
    """Record every verdict of a filled evaluation sheet; all or nothing, every problem shown.

    A sheet that would change recorded verdicts is not recorded: the page lists the changes and
    asks to send it again confirming them. The confirmation names exactly those changes
    (``confirmar`` is their digest), so it does not apply to a different file, nor after the
    recorded verdicts changed meanwhile.
    """
    try:
        if file is None or not file.filename:
            raise ValidationFailed(
                "Elija la hoja de evaluación.",
                expected="la plantilla de evaluación (.xlsx) con «Cumple» y «Motivo» llenos",
            )
        verdicts = service.read_verdicts(file.file.read(), file.filename)
        if not verdicts:
            raise ValidationFailed(
                f"«{file.filename}» no tiene ningún veredicto: «Cumple» y «Motivo» están en "
                "blanco.",
                expected="«Cumple» (Sí o No) y «Motivo» en las filas que evaluó",
            )
        try:
            recorded = service.record_evaluations(ctx, tender_id=tender_id, verdicts=verdicts)
        except service.VerdictsChange as changes:
            if changes.digest != confirmar:
                ctx.db.rollback()
                return _evaluation_page(
                    request,
                    ctx,
                    tender_id,
                    status_code=changes.status,
                    changes=changes,
                    stale_confirmation=bool(confirmar),
                )
            recorded = service.record_evaluations(
                ctx, tender_id=tender_id, verdicts=verdicts, confirm=True
            )
    except (ValidationFailed, Conflict, NotFound) as exc:
        ctx.db.rollback()
        return _evaluation_page(request, ctx, tender_id, status_code=exc.status, error=exc)
    return RedirectResponse(
        _with_query(
            _evaluation_url(tender_id),
            {
                "registrados": recorded.new,
                "cambiados": recorded.changed or None,
                "iguales": recorded.unchanged or None,
            },
        ),
        status_code=303,
    )


# ----- issuing the fallo (the buyer) ---------------------------------------------------------


def _preview_url(tender_id: int) -> str:
    return f"/comprador/licitaciones/{tender_id}/fallo"


def _preview_page(
    request: Request,
    ctx: Context,
    tender_id: int,
    *,
    mode: str,
    status_code: int = 200,
    error: AbastoError | None = None,
) -> Response:
    tendering.view_tender(ctx, tender_id)
    preview = service.preview_fallo(ctx.db, tender_id)
    chosen = rules.Mode(mode) if mode in set(rules.Mode) else rules.Mode.OPTIMAL
    return render(
        request,
        "award/preview.html",
        ctx,
        status_code,
        tender=preview.tender,
        preview=preview,
        chosen=preview.modes.get(chosen),
        mode=chosen.value,
        modes=[(m.value, fallo_doc.MODE_LABELS[m.value], MODE_HELP[m]) for m in rules.Mode],
        mode_labels=fallo_doc.MODE_LABELS,
        missing_prices=isinstance(preview.blocked, service.MissingReferences),
        error=error,
        **_page_values(ctx),
    )


@router.get("/comprador/licitaciones/{tender_id}/fallo")
def fallo_preview(
    request: Request,
    tender_id: TenderId,
    ctx: Buyer,
    modo: Annotated[str, Query(max_length=20)] = rules.Mode.OPTIMAL.value,
) -> Response:
    """The award in every mode, not stored, and the chosen one's detail: what the buyer confirms
    before issuing the fallo."""
    return _preview_page(request, ctx, tender_id, mode=modo)


@router.post("/comprador/licitaciones/{tender_id}/fallo")
def issue_fallo(
    request: Request,
    tender_id: TenderId,
    ctx: Buyer,
    mode: Annotated[str, Form(max_length=20)] = "",
    confirmar: Annotated[str, Form(max_length=10)] = "",
) -> Response:
    """Decide the award in the chosen mode and publish the fallo, once the buyer confirmed it
    after its preview; then show it."""
    try:
        try:
            chosen = rules.Mode(mode)
        except ValueError:
            raise ValidationFailed(
                "No se emitió el fallo.",
                problems=[
                    Problem(
                        "Modo de adjudicación desconocido",
                        field="mode",
                        value=mode,
                        expected=", ".join(fallo_doc.MODE_LABELS.values()),
                    )
                ],
            ) from None
        require_confirmation(
            confirmar,
            refusal="No se emitió el fallo: falta la confirmación.",
            label="Confirmo el fallo",
        )
        service.issue_fallo(ctx, tender_id=tender_id, mode=chosen, signer=app_state(request).signer)
    except (ValidationFailed, Conflict, NotFound) as exc:
        ctx.db.rollback()
        return _preview_page(request, ctx, tender_id, mode=mode, status_code=exc.status, error=exc)
    return RedirectResponse(f"{_tender_url(tender_id)}/fallo?emitido=1", status_code=303)


# ----- market research: importing prices -----------------------------------------------------

RATES_EXPECTED = "una por línea: MONEDA=pesos por unidad, p. ej. USD=18.20"
MAPPING_EXPECTED = "una por línea: ESQUEMA:ID=CLAVE, p. ej. CPV:33600000=010.000.0104.00"


def _lines(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip()]


def _prices_page(
    request: Request,
    ctx: Context,
    *,
    form: Mapping[str, str],
    status_code: int = 200,
    summary: service.PriceImportSummary | None = None,
    filename: str = "",
    error: AbastoError | None = None,
) -> Response:
    return render(
        request,
        "award/prices_import.html",
        ctx,
        status_code,
        form=form,
        summary=summary,
        filename=filename,
        error=error,
        rates_expected=RATES_EXPECTED,
        mapping_expected=MAPPING_EXPECTED,
    )


@router.get("/precios/importar")
def prices_page(request: Request, ctx: Buyer) -> Response:
    return _prices_page(request, ctx, form={"rates": "", "mapping": ""})


@router.post("/precios/importar", dependencies=[Depends(read_uploads)])
def import_prices(
    request: Request,
    ctx: Buyer,
    file: Annotated[UploadFile | None, File()] = None,
    rates: Annotated[str, Form(max_length=20_000)] = "",
    mapping: Annotated[str, Form(max_length=2_000_000)] = "",
) -> Response:
    """A price list (.csv, .xlsx) or OCDS data (JSON); all or nothing, every problem shown."""
    form = {"rates": rates, "mapping": mapping}
    try:
        if file is None or not file.filename:
            raise ValidationFailed(
                "Elija el archivo de precios.",
                expected="una lista de precios .csv o .xlsx (Clave, Precio unitario) o datos OCDS",
            )
        filename = file.filename
        summary = service.import_prices(
            ctx,
            content=file.file.read(),
            filename=filename,
            rates=service.parse_rates(_lines(rates)),
            mapping=service.parse_mapping(_lines(mapping)),
        )
    except ValidationFailed as exc:
        ctx.db.rollback()
        return _prices_page(request, ctx, form=form, status_code=exc.status, error=exc)
    return _prices_page(request, ctx, form=form, summary=summary, filename=filename)
