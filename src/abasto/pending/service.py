"""What each user has to do now, gathered from every domain: «Mis pendientes».

A read over the domains' tables, scoped like each domain scopes them (a planner sees its own
institution's, a supplier its own), never a write. Each task names where it is done (``url``),
so the page is a list of links and the API the same list for a system to poll.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from urllib.parse import quote

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from abasto.award import service as award
from abasto.award.models import Fallo
from abasto.catalog.models import Clave
from abasto.contracts import rules as contracts_rules
from abasto.contracts.models import (
    Contract,
    ContractLine,
    Shipment,
    ShipmentLot,
    SupplyOrder,
)
from abasto.core.context import Context
from abasto.core.money import MEXICO_CITY, count_of
from abasto.demand import service as demand
from abasto.demand.models import DemandLine, DemandRound, ForecastSuggestion, RoundInstitution
from abasto.identity.models import Institution, Supplier
from abasto.tendering import rules as tendering_rules
from abasto.tendering import service as tendering
from abasto.tendering.models import Invitation, Question, Tender
from abasto.tendering.sealing import Sealer

ROUNDS, QUESTIONS, EVALUATIONS, FALLOS, ATTENTION = (
    "rounds",
    "questions",
    "evaluations",
    "fallos",
    "attention",
)
TO_BID, BIDS, ORDERS_TO_CONFIRM, ORDERS_TO_SHIP = "to_bid", "bids", "to_confirm", "to_ship"
CONTRACTS_TO_SIGN, SHIPMENTS_TO_RECEIVE = "to_sign", "to_receive"

SECTION_TITLES = {
    ROUNDS: "Rondas de demanda abiertas",
    QUESTIONS: "Preguntas por responder",
    EVALUATIONS: "Evaluaciones técnicas",
    FALLOS: "Fallos por emitir",
    ATTENTION: "Licitaciones detenidas",
    TO_BID: "Licitaciones abiertas a proposiciones",
    BIDS: "Sus proposiciones selladas",
    ORDERS_TO_CONFIRM: "Órdenes de suministro por confirmar",
    ORDERS_TO_SHIP: "Órdenes de suministro por enviar",
    CONTRACTS_TO_SIGN: "Contratos por firmar",
    SHIPMENTS_TO_RECEIVE: "Envíos por recibir",
}


@dataclass(frozen=True, slots=True)
class Task:
    """One thing to do: what, where it is done, and by when."""

    kind: str
    title: str
    detail: str
    url: str
    due: datetime | None = None
    overdue: bool = False


@dataclass(frozen=True, slots=True)
class Section:
    kind: str
    tasks: list[Task] = field(default_factory=list)

    @property
    def title(self) -> str:
        return SECTION_TITLES[self.kind]


@dataclass(frozen=True, slots=True)
class Pending:
    role: str
    sections: list[Section]

    @property
    def total(self) -> int:
        return sum(len(s.tasks) for s in self.sections)


def my_pending(ctx: Context, sealer: Sealer) -> Pending:
    """The actor's pending tasks by kind, in the order the role works through them; kinds
    with nothing to do are left out."""
    role = ctx.actor.role or ""
    kinds: list[tuple[str, list[Task]]] = []
    if role == "institucion":
        institution_id = ctx.actor.institution_id or -1
        kinds = [
            (ROUNDS, _planner_rounds(ctx, institution_id)),
            (CONTRACTS_TO_SIGN, _contracts_to_sign(ctx.db, institution_id=institution_id)),
            (SHIPMENTS_TO_RECEIVE, _shipments_to_receive(ctx.db, institution_id)),
        ]
    elif role == "comprador":
        kinds = [
            (ROUNDS, _buyer_rounds(ctx)),
            (QUESTIONS, _questions(ctx.db)),
            (ATTENTION, _attention(ctx.db)),
            (EVALUATIONS, _evaluations(ctx.db, evaluator=False)),
            (FALLOS, _fallos(ctx.db)),
        ]
    elif role == "proveedor":
        supplier_id = ctx.actor.supplier_id or -1
        to_bid, bids = _supplier_tenders(ctx, sealer, supplier_id)
        kinds = [
            (TO_BID, to_bid),
            (BIDS, bids),
            (CONTRACTS_TO_SIGN, _contracts_to_sign(ctx.db, supplier_id=supplier_id)),
            (ORDERS_TO_CONFIRM, _orders(ctx.db, supplier_id, contracts_rules.ORDER_EMITIDA)),
            (ORDERS_TO_SHIP, _orders(ctx.db, supplier_id, contracts_rules.ORDER_CONFIRMADA)),
        ]
    elif role == "evaluador":
        kinds = [(EVALUATIONS, _evaluations(ctx.db, evaluator=True))]
    return Pending(role, [Section(kind, tasks) for kind, tasks in kinds if tasks])


def _round_url(name: str, code: str | None = None) -> str:
    url = f"/demanda/{quote(name, safe='')}"
    return f"{url}/{quote(code, safe='')}" if code else url


def _deadline(found: DemandRound, now: datetime) -> tuple[str, bool]:
    if found.deadline is None:
        return "sin fecha límite", False
    shown = f"{found.deadline.astimezone(MEXICO_CITY):%d/%m/%Y %H:%M}"
    if found.deadline < now:
        return f"fecha límite {shown}, vencida", True
    return f"fecha límite {shown}", False


def _open_rounds(db: Session) -> list[DemandRound]:
    return list(
        db.scalars(
            select(DemandRound)
            .where(DemandRound.status == demand.OPEN)
            .order_by(DemandRound.deadline.is_(None), DemandRound.deadline, DemandRound.name)
        )
    )


def _planner_rounds(ctx: Context, institution_id: int) -> list[Task]:
    """Each open round its institution takes part in and has not submitted: the lines it has
    captured and the claves its forecast suggests that it has not captured yet."""
    institution = ctx.db.get(Institution, institution_id)
    if institution is None:
        return []
    tasks = []
    for found in _open_rounds(ctx.db):
        participant = ctx.db.scalar(
            select(RoundInstitution).where(
                RoundInstitution.round_id == found.id,
                RoundInstitution.institution_id == institution_id,
            )
        )
        if participant is None or participant.submitted_at is not None:
            continue
        lines = _count(
            ctx.db,
            select(func.count())
            .select_from(DemandLine)
            .where(DemandLine.round_id == found.id, DemandLine.institution_id == institution_id),
        )
        missing = _count(
            ctx.db,
            select(func.count())
            .select_from(ForecastSuggestion)
            .join(Clave, Clave.id == ForecastSuggestion.clave_id)
            .where(
                ForecastSuggestion.round_id == found.id,
                ForecastSuggestion.institution_id == institution_id,
                ForecastSuggestion.suggested_max > 0,
                ~select(DemandLine.id)
                .where(
                    DemandLine.round_id == found.id,
                    DemandLine.institution_id == institution_id,
                    DemandLine.clave_id == ForecastSuggestion.clave_id,
                )
                .exists(),
            ),
        )
        when, overdue = _deadline(found, ctx.now)
        detail = [
            count_of(lines, "línea capturada", "líneas capturadas"),
            count_of(missing, "clave con consumo sin capturar", "claves con consumo sin capturar"),
            when,
        ]
        tasks.append(
            Task(
                ROUNDS,
                f"Capturar y enviar la demanda de {institution.code} · ronda {found.name}",
                " · ".join(detail),
                _round_url(found.name, institution.code),
                found.deadline,
                overdue,
            )
        )
    return tasks


def _buyer_rounds(ctx: Context) -> list[Task]:
    tasks = []
    for found in _open_rounds(ctx.db):
        pending = _count(
            ctx.db,
            select(func.count())
            .select_from(RoundInstitution)
            .where(RoundInstitution.round_id == found.id, RoundInstitution.submitted_at.is_(None)),
        )
        when, overdue = _deadline(found, ctx.now)
        waiting = count_of(pending, "institución no ha enviado", "instituciones no han enviado")
        tasks.append(
            Task(
                ROUNDS,
                f"Ronda {found.name}: consolidar y congelar",
                f"{waiting} · {when}",
                _round_url(found.name),
                found.deadline,
                overdue and pending > 0,
            )
        )
    return tasks


def _count(db: Session, query: Select[int]) -> int:
    return int(db.scalar(query) or 0)


def _manage_url(tender_id: int, anchor: str = "") -> str:
    return f"/comprador/licitaciones/{tender_id}{anchor}"


def _questions(db: Session) -> list[Task]:
    """Tenders with questions still unanswered, the earliest asked first."""
    rows = db.execute(
        select(Tender.id, Tender.number, Tender.title, func.count(), func.min(Question.asked_at))
        .join(Question, Question.tender_id == Tender.id)
        .where(Question.answer.is_(None), Tender.status.in_(tendering_rules.LIVE_STATUSES))
        .group_by(Tender.id, Tender.number, Tender.title)
        .order_by(func.min(Question.asked_at))
    )
    return [
        Task(
            QUESTIONS,
            f"{number} · {title}",
            count_of(count, "pregunta por responder", "preguntas por responder"),
            _manage_url(tender_id, "#preguntas"),
        )
        for tender_id, number, title, count, _ in rows
    ]


def _attention(db: Session) -> list[Task]:
    return [
        Task(ATTENTION, f"{t.number} · {t.title}", t.attention or "", _manage_url(t.id))
        for t in db.scalars(
            select(Tender).where(Tender.attention_at.is_not(None)).order_by(Tender.attention_at)
        )
    ]


def _opened_without_fallo(db: Session) -> list[Tender]:
    return list(
        db.scalars(
            select(Tender)
            .where(
                Tender.status == tendering_rules.OPENED,
                ~select(Fallo.id).where(Fallo.tender_id == Tender.id).exists(),
            )
            .order_by(Tender.fallo_at, Tender.id)
        )
    )


def _evaluations(db: Session, *, evaluator: bool) -> list[Task]:
    """Opened tenders whose bid lines are not all evaluated; the evaluator's queue."""
    tasks = []
    for tender in _opened_without_fallo(db):
        done, total = award.evaluation_status(db, tender.id)
        if total == 0 or done >= total:
            continue
        left = count_of(
            total - done, "línea de proposición por evaluar", "líneas de proposición por evaluar"
        )
        tasks.append(
            Task(
                EVALUATIONS,
                f"{tender.number} · {tender.title}",
                f"{left} de {total:,}" + ("" if evaluator else " (las registran los evaluadores)"),
                f"/evaluacion/licitaciones/{tender.id}",
                tender.fallo_at,
            )
        )
    return tasks


def _fallos(db: Session) -> list[Task]:
    """Opened tenders with every bid line evaluated and no fallo yet."""
    tasks = []
    for tender in _opened_without_fallo(db):
        done, total = award.evaluation_status(db, tender.id)
        if done < total:
            continue
        shown = f"{tender.fallo_at.astimezone(MEXICO_CITY):%d/%m/%Y %H:%M}"
        tasks.append(
            Task(
                FALLOS,
                f"{tender.number} · {tender.title}",
                "evaluación completa · fallo previsto el " + shown,
                _manage_url(tender.id),
                tender.fallo_at,
            )
        )
    return tasks


def _supplier_tenders(
    ctx: Context, sealer: Sealer, supplier_id: int
) -> tuple[list[Task], list[Task]]:
    """The live tenders it may bid on: without a sealed bid of its own (to bid), with one
    (which it may still replace or withdraw until the close)."""
    supplier = ctx.db.get(Supplier, supplier_id)
    if supplier is None:
        return [], []
    invited = set(
        ctx.db.scalars(select(Invitation.tender_id).where(Invitation.supplier_id == supplier_id))
    )
    to_bid, bids = [], []
    for tender in ctx.db.scalars(
        select(Tender)
        .where(
            Tender.status.in_((tendering_rules.CLARIFICATIONS, tendering_rules.BIDDING)),
            Tender.bid_deadline > ctx.now,
        )
        .order_by(Tender.bid_deadline, Tender.id)
    ):
        if not tendering_rules.accepts_bids(tendering.timeline_of(tender), ctx.now):
            continue
        if not tendering_rules.procedure(tender.procedure).open_to_all and tender.id not in invited:
            continue
        shown = f"{tender.bid_deadline.astimezone(MEXICO_CITY):%d/%m/%Y %H:%M}"
        mine = tendering.my_bids(ctx, sealer, tender_id=tender.id)
        own = [o for o in mine if o.bid.status == tendering.SEALED]
        url = f"/proveedor/licitaciones#licitacion-{tender.id}"
        title = f"{tender.number} · {tender.title}"
        if own:
            bids.append(
                Task(
                    BIDS,
                    title,
                    f"proposición {own[0].bid.id} sellada · puede sustituirla o retirarla hasta "
                    f"el cierre, {shown}",
                    f"/proveedor/licitaciones/{tender.id}/proposiciones/{own[0].bid.id}",
                    tender.bid_deadline,
                )
            )
        else:
            partidas = len(tendering.partidas_of(ctx.db, tender.id))
            to_bid.append(
                Task(
                    TO_BID,
                    title,
                    f"{count_of(partidas, 'partida', 'partidas')} · cierre {shown}",
                    url,
                    tender.bid_deadline,
                )
            )
    return to_bid, bids


def _contracts_to_sign(
    db: Session, *, institution_id: int | None = None, supplier_id: int | None = None
) -> list[Task]:
    """The institution signs a contract in borrador first; then the supplier."""
    if institution_id is not None:
        query = select(Contract).where(
            Contract.institution_id == institution_id,
            Contract.status == contracts_rules.BORRADOR,
        )
    else:
        query = select(Contract).where(
            Contract.supplier_id == supplier_id,
            Contract.status == contracts_rules.FIRMADO_INSTITUCION,
        )
    return [
        Task(
            CONTRACTS_TO_SIGN,
            f"Contrato {c.number}",
            f"firma a más tardar el {c.signing_deadline:%d/%m/%Y}",
            f"/contratos/{c.id}",
            None,
            False,
        )
        for c in db.scalars(query.order_by(Contract.signing_deadline, Contract.id))
    ]


def _orders(db: Session, supplier_id: int, status: str) -> list[Task]:
    """Its orders to confirm (emitida), or confirmed ones that still lack pieces not yet on
    their way: what ``contracts.service.record_shipment`` would still accept."""
    kind = ORDERS_TO_CONFIRM if status == contracts_rules.ORDER_EMITIDA else ORDERS_TO_SHIP
    in_transit = (
        select(func.coalesce(func.sum(ShipmentLot.quantity), 0))
        .join(Shipment, Shipment.id == ShipmentLot.shipment_id)
        .where(Shipment.order_id == SupplyOrder.id, Shipment.status == "enviado")
        .scalar_subquery()
    )
    rows = db.execute(
        select(SupplyOrder, Contract.number, ContractLine.clave, in_transit)
        .join(Contract, Contract.id == SupplyOrder.contract_id)
        .join(ContractLine, ContractLine.id == SupplyOrder.line_id)
        .where(Contract.supplier_id == supplier_id, SupplyOrder.status == status)
        .order_by(SupplyOrder.due_on, SupplyOrder.id)
    )
    tasks = []
    for order, number, clave, travelling in rows:
        lacking = order.quantity - order.accepted_qty - int(travelling or 0)
        if lacking <= 0:
            continue
        pieces = count_of(order.quantity, "pieza", "piezas")
        if kind == ORDERS_TO_SHIP:
            pieces = (
                f"{count_of(lacking, 'pieza por enviar', 'piezas por enviar')} "
                f"de {order.quantity:,}"
            )
        tasks.append(
            Task(
                kind,
                f"Orden {order.number} del contrato {number}",
                f"{pieces} de {clave} · entrega a más tardar el {order.due_on:%d/%m/%Y}",
                f"/ordenes/{order.id}",
            )
        )
    return tasks


def _shipments_to_receive(db: Session, institution_id: int) -> list[Task]:
    rows = db.execute(
        select(Shipment, SupplyOrder.id, SupplyOrder.number, Contract.number)
        .join(SupplyOrder, SupplyOrder.id == Shipment.order_id)
        .join(Contract, Contract.id == SupplyOrder.contract_id)
        .where(Contract.institution_id == institution_id, Shipment.status == "enviado")
        .order_by(Shipment.shipped_at)
    )
    return [
        Task(
            SHIPMENTS_TO_RECEIVE,
            f"Envío {shipment.number} de la orden {order_number} (contrato {number})",
            f"enviado el {shipment.shipped_at.astimezone(MEXICO_CITY):%d/%m/%Y}",
            f"/ordenes/{order_id}",
        )
        for shipment, order_id, order_number, number in rows
    ]
