"""Use cases of contracts: from the fallo's drafts to signed contracts, orders, receipts,
penalties and the fill rate.

Scope: an institution's users act only on their institution's contracts, a supplier only on its
own, the buyer on all (``Context.require_institution`` / ``require_supplier``); auditors read.
Orders and receipts lock their contract's row first (``SELECT … FOR UPDATE``; SQLite's single
writer does the same), so concurrent orders never take a line above its maximum and concurrent
receipts never charge penalties beyond the guarantee.
"""

from __future__ import annotations

import hashlib
import io
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from decimal import Decimal
from functools import lru_cache
from typing import Any, TypeVar

from sqlalchemy import Select, Table, func, insert, select, text
from sqlalchemy.orm import InstrumentedAttribute, Session, selectinload

from abasto.award.models import ContractDraft, Fallo
from abasto.catalog.models import Clave
from abasto.contracts import document, orders_file, rules
from abasto.contracts.models import (
    Contract,
    ContractLine,
    Convenio,
    DeliveryPoint,
    Penalty,
    Shipment,
    ShipmentLot,
    SupplyOrder,
)
from abasto.core import ledger
from abasto.core.context import Context
from abasto.core.errors import (
    AbastoError,
    Conflict,
    Forbidden,
    NotFound,
    Problem,
    ValidationFailed,
    check_version,
)
from abasto.core.money import count_of, format_date, format_seconds, to_money
from abasto.core.spreadsheet import CsvWriter
from abasto.identity.models import Institution, Supplier, Unit
from abasto.inventory import service as inventory
from abasto.tendering.models import Partida, Tender

T = TypeVar("T")
TERM_DAYS = 365
"""An open contract's validity when the buyer names none: a year from its start."""
ZERO = Decimal(0)

# ----- scope ---------------------------------------------------------------------------------


def _readable(ctx: Context, contract: Contract) -> None:
    """Buyers and auditors read every contract; each party its own."""
    actor = ctx.actor
    if actor.has_role("comprador", "auditor"):
        return
    if actor.has_role("institucion") and actor.institution_id == contract.institution_id:
        return
    if actor.has_role("proveedor") and actor.supplier_id == contract.supplier_id:
        return
    raise Forbidden("Su usuario no puede ver este contrato.")


@dataclass(frozen=True, slots=True)
class Parties:
    """Which side of a contract the actor may act for (the buyer, for both)."""

    institution: bool
    supplier: bool


def parties(ctx: Context, contract: Contract) -> Parties:
    actor = ctx.actor
    buyer = actor.has_role("comprador")
    return Parties(
        institution=buyer
        or (actor.has_role("institucion") and actor.institution_id == contract.institution_id),
        supplier=buyer
        or (actor.has_role("proveedor") and actor.supplier_id == contract.supplier_id),
    )


def _scoped(ctx: Context, query: Select[T]) -> Select[T]:
    """``query`` (over ``Contract``) narrowed to the contracts the actor may see."""
    actor = ctx.actor
    if actor.has_role("institucion"):
        return query.where(Contract.institution_id == (actor.institution_id or -1))
    if actor.has_role("proveedor"):
        return query.where(Contract.supplier_id == (actor.supplier_id or -1))
    if not actor.has_role("comprador", "auditor"):
        raise Forbidden("Su usuario no puede ver contratos.")
    return query


def _next_number(ctx: Context, column: InstrumentedAttribute[int], where: Any) -> int:
    """The next number of a contract's convenio or order, an order's shipment."""
    return (ctx.db.scalar(select(func.max(column)).where(where)) or 0) + 1


def _entity(contract: Contract) -> str:
    return f"contract:{contract.id}"


def get_contract(ctx: Context, contract_id: int, *, lock: bool = False) -> Contract:
    query = select(Contract).where(Contract.id == contract_id)
    if lock:
        query = query.with_for_update()
    contract = ctx.db.scalar(query)
    if contract is None:
        raise NotFound(f"No existe el contrato {contract_id}.")
    _readable(ctx, contract)
    return contract


def list_contracts(ctx: Context, *, status: str | None = None) -> list[Contract]:
    """The contracts the actor may see, newest first."""
    query = select(Contract).options(
        selectinload(Contract.institution), selectinload(Contract.supplier)
    )
    query = _scoped(ctx, query)
    if status:
        query = query.where(Contract.status == status)
    return list(ctx.db.scalars(query.order_by(Contract.id.desc())))


def terms(contract: Contract) -> rules.Terms:
    return rules.terms_of(dict(contract.terms))


# ----- contracts from the fallo --------------------------------------------------------------


def create_contracts(
    ctx: Context, *, tender_id: int, starts_on: date | None = None, ends_on: date | None = None
) -> list[Contract]:
    """One contract per institution × supplier of the fallo's drafts, in ``borrador``, with its
    partidas, validity, delivery points (the institution's units) and the tender's terms."""
    if not ctx.actor.has_role("comprador"):
        raise Forbidden("Sólo el comprador formaliza los contratos de un fallo.")
    tender = ctx.db.get(Tender, tender_id)
    if tender is None:
        raise NotFound(f"No existe la licitación {tender_id}.")
    fallo = ctx.db.scalar(select(Fallo).where(Fallo.tender_id == tender.id))
    if fallo is None:
        raise NotFound(f"La licitación {tender.number} no tiene fallo todavía.")
    if ctx.db.scalar(select(Contract.id).where(Contract.fallo_id == fallo.id).limit(1)):
        raise Conflict(f"Los contratos del fallo de {tender.number} ya se hicieron.")
    agreed = rules.terms_of(dict(tender.params.get("award") or {}))
    start = starts_on or rules.local_day(fallo.issued_at)
    end = ends_on or start + timedelta(days=TERM_DAYS - 1)
    if end < start:
        raise ValidationFailed(
            "La vigencia termina antes de empezar.",
            problems=[Problem("Vigencia invertida", field="ends_on", value=end.isoformat())],
        )
    drafts: dict[tuple[int, int], list[ContractDraft]] = defaultdict(list)
    for draft in ctx.db.scalars(
        select(ContractDraft)
        .where(ContractDraft.fallo_id == fallo.id)
        .order_by(ContractDraft.institution_id, ContractDraft.supplier_id, ContractDraft.id)
    ):
        drafts[(draft.institution_id, draft.supplier_id)].append(draft)
    if not drafts:
        raise Conflict(
            f"El fallo de {tender.number} no adjudicó ninguna partida: no hay contratos que hacer."
        )
    partidas = {
        p.id: (p, clave)
        for p, clave in ctx.db.execute(
            select(Partida, Clave)
            .join(Clave, Clave.id == Partida.clave_id)
            .where(Partida.tender_id == tender.id)
        ).all()
    }
    units: dict[int, list[int]] = defaultdict(list)
    for unit_id, institution_id in ctx.db.execute(
        select(Unit.id, Unit.institution_id)
        .where(Unit.institution_id.in_({i for i, _ in drafts}))
        .order_by(Unit.id)
    ).all():
        units[institution_id].append(unit_id)
    codes = dict(
        ctx.db.execute(
            select(Institution.id, Institution.code).where(
                Institution.id.in_({i for i, _ in drafts})
            )
        ).all()
    )
    made: list[Contract] = []
    for n, ((institution_id, supplier_id), mine) in enumerate(sorted(drafts.items()), start=1):
        lines = [
            ContractLine(
                partida_id=d.partida_id,
                clave_id=partidas[d.partida_id][1].id,
                clave=partidas[d.partida_id][1].clave,
                description=partidas[d.partida_id][1].description,
                min_qty=d.min_qty,
                max_qty=d.max_qty,
                original_max_qty=d.max_qty,
                unit_price=d.unit_price,
            )
            for d in mine
        ]
        total = sum((rules.amount(line.max_qty, line.unit_price) for line in lines), ZERO)
        contract = Contract(
            number=f"{tender.number}-{codes[institution_id]}-{n:03d}",
            fallo_id=fallo.id,
            tender_id=tender.id,
            institution_id=institution_id,
            supplier_id=supplier_id,
            status=rules.BORRADOR,
            notice_at=fallo.issued_at,
            signing_deadline=rules.signing_deadline(fallo.issued_at, agreed.signing_days),
            starts_on=start,
            ends_on=end,
            terms=rules.terms_payload(agreed),
            original_amount=total,
            max_amount=total,
            guarantee_amount=rules.guarantee_amount(total, agreed.guarantee_rate),
            created_at=ctx.now,
            lines=lines,
            points=[DeliveryPoint(unit_id=u) for u in units[institution_id]],
        )
        ctx.db.add(contract)
        made.append(contract)
    ctx.db.flush()
    ctx.record_many(
        [
            ledger.Record(
                "contract.create",
                _entity(c),
                {
                    "number": c.number,
                    "tender": tender.number,
                    "fallo": fallo.id,
                    "institution": c.institution_id,
                    "supplier": c.supplier_id,
                    "starts_on": c.starts_on,
                    "ends_on": c.ends_on,
                    "max_amount": c.max_amount,
                    "guarantee_amount": c.guarantee_amount,
                    "signing_deadline": c.signing_deadline,
                    "terms": c.terms,
                    "lines": [
                        {
                            "clave": line.clave,
                            "min_qty": line.min_qty,
                            "max_qty": line.max_qty,
                            "unit_price": line.unit_price,
                        }
                        for line in c.lines
                    ],
                    "delivery_points": len(c.points),
                },
                True,
            )
            for c in made
        ]
    )
    return made


def contract_pdf(ctx: Context, contract: Contract) -> bytes:
    """The contract as a PDF, drawn from its data only: the same bytes every time."""
    return _drawn(document.build(ctx.db, contract))


@lru_cache(maxsize=64)
def _drawn(doc: document.ContractDocument) -> bytes:
    # The same data draw the same bytes, and drawing takes most of a signature's time (fonts
    # parsed and subset): the supplier's signature, which checks the document the
    # institution signed, and a download after it reuse the drawing.
    return document.contract_pdf(doc)


def _sha256(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()


def sign(ctx: Context, *, contract_id: int, party: str, version: int | None = None) -> Contract:
    """The institution signs, then the supplier, the same document (its SHA-256 is kept); a
    signature after the deadline flags the contract as signed late."""
    contract = get_contract(ctx, contract_id, lock=True)
    check_version(f"El contrato {contract.number}", version, contract.version)
    if party == "institucion":
        ctx.require_institution(contract.institution_id)
        target = rules.FIRMADO_INSTITUCION
    elif party == "proveedor":
        ctx.require_supplier(contract.supplier_id)
        target = rules.FIRMADO_PROVEEDOR
    else:
        raise ValidationFailed(
            "Parte desconocida.",
            problems=[
                Problem(
                    "Parte no válida",
                    field="party",
                    value=party,
                    expected="institucion o proveedor",
                )
            ],
        )
    rules.check_transition(contract.status, target)
    digest = _sha256(contract_pdf(ctx, contract))
    if party == "proveedor" and digest != contract.document_sha256:
        raise Conflict(
            f"El documento del contrato {contract.number} cambió desde la firma de la "
            "institución; no se firmó.",
            problems=[
                Problem(
                    "SHA-256 distinto",
                    field="document_sha256",
                    value=digest,
                    expected=contract.document_sha256,
                )
            ],
        )
    late = rules.signed_late(contract.notice_at, ctx.now, terms(contract).signing_days)
    contract.status = target
    contract.document_sha256 = digest
    contract.signed_late = contract.signed_late or late
    if party == "institucion":
        contract.institution_signed_at, contract.institution_signed_by = ctx.now, ctx.actor.label
    else:
        contract.supplier_signed_at, contract.supplier_signed_by = ctx.now, ctx.actor.label
    ctx.db.flush()
    ctx.record(
        "contract.sign",
        _entity(contract),
        {
            "number": contract.number,
            "party": party,
            "document_sha256": digest,
            "signing_deadline": contract.signing_deadline,
            "late": late,
        },
    )
    _maybe_effective(ctx, contract)
    return contract


def _require_party(ctx: Context, contract: Contract) -> None:
    """Either party of the contract (or the buyer)."""
    if ctx.actor.has_role("proveedor"):
        ctx.require_supplier(contract.supplier_id)
    else:
        ctx.require_institution(contract.institution_id)


def record_guarantee(ctx: Context, *, contract_id: int, issuer: str, document_ref: str) -> Contract:
    """The garantía de cumplimiento as delivered: its issuer (afianzadora) and document."""
    contract = get_contract(ctx, contract_id, lock=True)
    _require_party(ctx, contract)
    if contract.status in (rules.CONCLUIDO, rules.RESCINDIDO, rules.VIGENTE):
        raise Conflict(f"El contrato {contract.number} ya no recibe garantía.")
    problems = [
        Problem(f"Falta {label}", field=field, expected=expected)
        for field, label, value, expected in (
            ("issuer", "la afianzadora o emisora", issuer, "quién emite la garantía"),
            ("document", "el documento", document_ref, "número de póliza o documento"),
        )
        if not value.strip()
    ]
    rules.refuse("No se registró la garantía.", problems)
    contract.guarantee_issuer = " ".join(issuer.split())
    contract.guarantee_document = " ".join(document_ref.split())
    contract.guarantee_recorded_at = ctx.now
    ctx.db.flush()
    ctx.record(
        "contract.guarantee",
        _entity(contract),
        {
            "number": contract.number,
            "issuer": contract.guarantee_issuer,
            "document": contract.guarantee_document,
            "amount": contract.guarantee_amount,
        },
    )
    _maybe_effective(ctx, contract)
    return contract


def exempt_guarantee(ctx: Context, *, contract_id: int, reason: str) -> Contract:
    """The institution exempts the guarantee (LAASSP art. 48), with the reason."""
    contract = get_contract(ctx, contract_id, lock=True)
    ctx.require_institution(contract.institution_id)
    if contract.status in (rules.CONCLUIDO, rules.RESCINDIDO, rules.VIGENTE):
        raise Conflict(f"El contrato {contract.number} ya no cambia de garantía.")
    if not reason.strip():
        raise ValidationFailed(
            "Una excepción de garantía lleva su motivo.",
            problems=[Problem("Falta el motivo", field="reason", expected="el fundamento")],
        )
    contract.guarantee_exempt_reason = reason.strip()
    ctx.db.flush()
    ctx.record(
        "contract.guarantee_exempt",
        _entity(contract),
        {"number": contract.number, "reason": contract.guarantee_exempt_reason},
    )
    _maybe_effective(ctx, contract)
    return contract


def _maybe_effective(ctx: Context, contract: Contract) -> None:
    """Signed by both with the guarantee (or its exemption): the contract is vigente."""
    covered = contract.guarantee_recorded_at is not None or contract.guarantee_exempt_reason
    if contract.status != rules.FIRMADO_PROVEEDOR or not covered:
        return
    contract.status = rules.VIGENTE
    contract.effective_at = ctx.now
    ctx.db.flush()
    ctx.record(
        "contract.effective",
        _entity(contract),
        {"number": contract.number, "signed_late": contract.signed_late},
    )


def close_contract(ctx: Context, *, contract_id: int, rescind: bool, reason: str) -> Contract:
    """Conclude a vigente contract or rescind one (the buyer decides a rescisión)."""
    contract = get_contract(ctx, contract_id, lock=True)
    if rescind and not ctx.actor.has_role("comprador"):
        raise Forbidden("Sólo el comprador rescinde un contrato.")
    ctx.require_institution(contract.institution_id)
    target = rules.RESCINDIDO if rescind else rules.CONCLUIDO
    rules.check_transition(contract.status, target)
    if not reason.strip():
        raise ValidationFailed(
            "Indique el motivo.", problems=[Problem("Falta el motivo", field="reason")]
        )
    contract.status = target
    contract.closed_at = ctx.now
    contract.close_reason = reason.strip()
    ctx.db.flush()
    ctx.record(
        f"contract.{target}",
        _entity(contract),
        {"number": contract.number, "reason": contract.close_reason},
    )
    return contract


# ----- convenios modificatorios --------------------------------------------------------------


def modify(
    ctx: Context,
    *,
    contract_id: int,
    reason: str,
    max_qty: dict[str, int] | None = None,
    ends_on: date | None = None,
) -> Convenio:
    """A convenio modificatorio: new maxima per clave and/or a later end, each within the cap
    (+20 % of what was contracted, in total) of its line, of the amount and of the term."""
    contract = get_contract(ctx, contract_id, lock=True)
    ctx.require_institution(contract.institution_id)
    if contract.status not in (rules.VIGENTE,):
        raise Conflict(f"El contrato {contract.number} no está vigente; no admite convenios.")
    cap = terms(contract).modification_cap
    wanted = dict(max_qty or {})
    problems: list[Problem] = []
    if not reason.strip():
        problems.append(Problem("Falta el motivo", field="reason", expected="por qué se modifica"))
    if not wanted and ends_on is None:
        problems.append(Problem("El convenio no cambia nada", field="max_qty"))
    lines = {line.clave: line for line in contract.lines}
    for clave in wanted:
        if clave not in lines:
            problems.append(
                Problem(
                    "Clave fuera del contrato",
                    field="max_qty",
                    value=clave,
                    expected=", ".join(sorted(lines)),
                )
            )
    new_amount = ZERO
    for clave, line in lines.items():
        proposed = wanted.get(clave, line.max_qty)
        if clave in wanted:
            found = rules.check_modification(
                what=f"Clave {clave}",
                field=f"max_qty.{clave}",
                original=line.original_max_qty,
                current=line.max_qty,
                proposed=proposed,
                cap=cap,
            )
            if found:
                problems.append(found)
        new_amount += rules.amount(proposed, line.unit_price)
    found = rules.check_modification(
        what="Importe máximo",
        field="amount",
        original=int(contract.original_amount * 100),
        current=int(contract.max_amount * 100),
        proposed=int(new_amount * 100),
        cap=cap,
        money=True,
    )
    if found:
        problems.append(found)
    first = ctx.db.scalar(
        select(Convenio.changes)
        .where(Convenio.contract_id == contract.id)
        .order_by(Convenio.number)
        .limit(1)
    )
    original_end = date.fromisoformat(first["original_ends_on"]) if first else contract.ends_on
    if ends_on is not None:
        found = rules.check_modification(
            what="Plazo (días)",
            field="ends_on",
            original=(original_end - contract.starts_on).days + 1,
            current=(contract.ends_on - contract.starts_on).days + 1,
            proposed=(ends_on - contract.starts_on).days + 1,
            cap=cap,
        )
        if found:
            problems.append(found)
    rules.refuse(f"No se registró el convenio del contrato {contract.number}.", problems)
    changes: dict[str, Any] = {"original_ends_on": original_end.isoformat()}
    if wanted:
        changes["max_qty"] = {
            clave: [lines[clave].max_qty, qty] for clave, qty in sorted(wanted.items())
        }
        for clave, qty in wanted.items():
            lines[clave].max_qty = qty
    if ends_on is not None:
        changes["ends_on"] = [contract.ends_on.isoformat(), ends_on.isoformat()]
        contract.ends_on = ends_on
    number = _next_number(ctx, Convenio.number, Convenio.contract_id == contract.id)
    convenio = Convenio(
        contract_id=contract.id,
        number=number,
        reason=reason.strip(),
        changes=changes,
        amount_before=contract.max_amount,
        amount_after=new_amount,
        at=ctx.now,
        by=ctx.actor.label,
    )
    contract.max_amount = new_amount
    ctx.db.add(convenio)
    ctx.db.flush()
    ctx.record(
        "contract.amend",
        _entity(contract),
        {
            "number": contract.number,
            "convenio": number,
            "reason": convenio.reason,
            "changes": changes,
            "amount_before": convenio.amount_before,
            "amount_after": convenio.amount_after,
            "original_amount": contract.original_amount,
        },
    )
    return convenio


def convenios_of(ctx: Context, contract: Contract) -> list[Convenio]:
    return list(
        ctx.db.scalars(
            select(Convenio).where(Convenio.contract_id == contract.id).order_by(Convenio.number)
        )
    )


# ----- supply orders -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LineProgress:
    """A contract line with what has been ordered against it (cancelled orders excepted)."""

    line: ContractLine
    ordered: int

    @property
    def remaining(self) -> int:
        return self.line.max_qty - self.ordered

    @property
    def minimum_progress(self) -> Decimal:
        return rules.minimum_progress(self.ordered, self.line.min_qty)


def progress(ctx: Context, contract: Contract) -> list[LineProgress]:
    ordered = dict(
        ctx.db.execute(
            select(SupplyOrder.line_id, func.sum(SupplyOrder.quantity))
            .where(
                SupplyOrder.contract_id == contract.id,
                SupplyOrder.status != rules.ORDER_CANCELADA,
            )
            .group_by(SupplyOrder.line_id)
        ).all()
    )
    return [LineProgress(line, int(ordered.get(line.id) or 0)) for line in contract.lines]


def issue_order(
    ctx: Context,
    *,
    contract_id: int,
    clave: str,
    quantity: int,
    unit_code: str,
    due_on: date | None = None,
) -> SupplyOrder:
    """An orden de suministro against a vigente contract; never above the line's maximum, even
    when orders race (the contract's row is locked while the sum is read)."""
    contract = get_contract(ctx, contract_id, lock=True)
    ctx.require_institution(contract.institution_id)
    if contract.status != rules.VIGENTE:
        raise Conflict(
            f"El contrato {contract.number} está «{rules.STATUS_LABELS[contract.status]}»; "
            "sólo un contrato vigente recibe órdenes."
        )
    line = next((x for x in contract.lines if x.clave == clave.strip()), None)
    if line is None:
        raise ValidationFailed(
            "La clave no está en el contrato.",
            problems=[
                Problem(
                    "Clave fuera del contrato",
                    field="clave",
                    value=clave,
                    expected=", ".join(x.clave for x in contract.lines),
                )
            ],
        )
    points = {p.unit.code: p.unit for p in contract.points}
    unit = points.get(unit_code.strip().upper())
    if unit is None:
        raise ValidationFailed(
            "El punto de entrega no es del contrato.",
            problems=[
                Problem(
                    "Punto de entrega no válido",
                    field="unit",
                    value=unit_code,
                    expected=", ".join(sorted(points)) or "una unidad registrada",
                )
            ],
        )
    day = rules.local_day(ctx.now)
    due = due_on or rules.due_date(ctx.now, terms(contract).delivery_days)
    if due < day or due > contract.ends_on + timedelta(days=terms(contract).delivery_days):
        raise ValidationFailed(
            "Fecha de entrega fuera de plazo.",
            problems=[
                Problem(
                    "Fecha de entrega no válida",
                    field="due_on",
                    value=format_date(due),
                    expected=f"entre {format_date(day)} y el fin de la vigencia",
                )
            ],
        )
    ordered = next(p.ordered for p in progress(ctx, contract) if p.line.id == line.id)
    problem = rules.order_problem(
        clave=line.clave, max_qty=line.max_qty, ordered=ordered, quantity=quantity
    )
    if problem is not None:
        error = Conflict if quantity >= 1 else ValidationFailed
        raise error(f"No se emitió la orden del contrato {contract.number}.", problems=[problem])
    number = _next_number(ctx, SupplyOrder.number, SupplyOrder.contract_id == contract.id)
    order = SupplyOrder(
        contract_id=contract.id,
        line_id=line.id,
        number=number,
        unit_id=unit.id,
        quantity=quantity,
        unit_price=line.unit_price,
        status=rules.ORDER_EMITIDA,
        issued_at=ctx.now,
        issued_by=ctx.actor.label,
        due_on=due,
        accepted_qty=0,
        on_time_qty=0,
        rejected_qty=0,
        penalty=ZERO,
        deductiva=ZERO,
    )
    ctx.db.add(order)
    ctx.db.flush()
    ctx.record(
        "order.issue",
        _entity(contract),
        {
            "number": contract.number,
            "order": number,
            "clave": line.clave,
            "quantity": quantity,
            "unit": unit.code,
            "due_on": due,
            "unit_price": line.unit_price,
            "ordered_after": ordered + quantity,
            "max_qty": line.max_qty,
        },
    )
    return order


def get_order(ctx: Context, order_id: int) -> SupplyOrder:
    order = ctx.db.get(SupplyOrder, order_id)
    if order is None:
        raise NotFound(f"No existe la orden {order_id}.")
    _readable(ctx, order.contract)
    return order


def list_orders(ctx: Context, *, contract_id: int | None = None) -> list[SupplyOrder]:
    """The orders the actor may see (one contract's, or all of theirs), newest first."""
    query = (
        select(SupplyOrder)
        .join(Contract, Contract.id == SupplyOrder.contract_id)
        .options(
            selectinload(SupplyOrder.line),
            selectinload(SupplyOrder.unit),
            selectinload(SupplyOrder.contract),
        )
    )
    if contract_id is not None:
        get_contract(ctx, contract_id)
        query = query.where(SupplyOrder.contract_id == contract_id)
    query = _scoped(ctx, query)
    return list(ctx.db.scalars(query.order_by(SupplyOrder.id.desc())))


def confirm_order(ctx: Context, *, order_id: int) -> SupplyOrder:
    order = get_order(ctx, order_id)
    ctx.require_supplier(order.contract.supplier_id)
    if order.status != rules.ORDER_EMITIDA:
        raise Conflict(f"La orden {order.number} está «{rules.ORDER_LABELS[order.status]}».")
    order.status = rules.ORDER_CONFIRMADA
    order.confirmed_at = ctx.now
    ctx.db.flush()
    ctx.record(
        "order.confirm",
        _entity(order.contract),
        {"number": order.contract.number, "order": order.number},
    )
    return order


def close_short(ctx: Context, *, order_id: int, reason: str) -> SupplyOrder:
    """The institution closes an order past its due date that was not supplied in full: the
    pieces never accepted charge a deductiva (partial delivery); they still count as due in the
    fill rate."""
    order = get_order(ctx, order_id)
    contract = get_contract(ctx, order.contract_id, lock=True)
    ctx.require_institution(contract.institution_id)
    if order.status not in (rules.ORDER_EMITIDA, rules.ORDER_CONFIRMADA):
        raise Conflict(f"La orden {order.number} está «{rules.ORDER_LABELS[order.status]}».")
    day = rules.local_day(ctx.now)
    problems: list[Problem] = []
    if day <= order.due_on:
        problems.append(
            Problem(
                "La orden aún está en plazo",
                field="due_on",
                value=format_date(order.due_on),
                expected=f"cerrarla después del {format_date(order.due_on)}",
            )
        )
    if _pending(ctx, order):
        problems.append(
            Problem(
                "Hay envíos sin recibir",
                field="shipments",
                expected="recibir antes los envíos en camino",
            )
        )
    if not reason.strip():
        problems.append(Problem("Falta el motivo", field="reason"))
    rules.refuse(f"No se cerró la orden {order.number}.", problems)
    missing = order.quantity - order.accepted_qty
    base = rules.amount(missing, order.unit_price)
    amount = to_money(rules.deductiva(base, terms(contract).deductiva_rate))
    ctx.db.add(
        Penalty(
            contract_id=contract.id,
            order_id=order.id,
            shipment_id=None,
            kind="deductiva",
            base_value=base,
            days_late=0,
            rate=terms(contract).deductiva_rate,
            computed=amount,
            amount=amount,
            at=ctx.now,
        )
    )
    order.deductiva += amount
    order.status = rules.ORDER_CERRADA
    ctx.db.flush()
    ctx.record(
        "order.close",
        _entity(contract),
        {
            "number": contract.number,
            "order": order.number,
            "missing": missing,
            "deductiva": amount,
            "reason": reason.strip(),
        },
    )
    return order


# ----- shipments and receipts ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LotInput:
    """A lot as the supplier ships it."""

    lot: str
    expiry: date
    quantity: int
    registro_sanitario: str


@dataclass(frozen=True, slots=True)
class LotReceipt:
    """A lot as the unit receives it: accepted and rejected pieces, the reason for rejecting."""

    lot: str
    accepted: int
    rejected: int = 0
    reason: str | None = None
    note: str | None = None


def _pending(ctx: Context, order: SupplyOrder) -> int:
    """Pieces shipped and not received yet."""
    return int(
        ctx.db.scalar(
            select(func.coalesce(func.sum(ShipmentLot.quantity), 0))
            .join(Shipment, Shipment.id == ShipmentLot.shipment_id)
            .where(Shipment.order_id == order.id, Shipment.status == "enviado")
        )
        or 0
    )


def record_shipment(ctx: Context, *, order_id: int, lots: Sequence[LotInput]) -> Shipment:
    """The supplier's shipment against a confirmed order: its lots with expiry, quantity and
    registro sanitario; never more than the order still lacks."""
    order = get_order(ctx, order_id)
    contract = get_contract(ctx, order.contract_id, lock=True)
    ctx.require_supplier(contract.supplier_id)
    if order.status != rules.ORDER_CONFIRMADA:
        raise Conflict(
            f"La orden {order.number} está «{rules.ORDER_LABELS[order.status]}»; se envía "
            "contra una orden confirmada."
        )
    problems: list[Problem] = []
    seen: set[str] = set()
    for n, lot in enumerate(lots, start=1):
        name = lot.lot.strip()
        if not name:
            problems.append(Problem("Falta el lote", field="lot", row=n))
        elif name in seen:
            problems.append(Problem("Lote repetido", field="lot", value=name, row=n))
        seen.add(name)
        if lot.quantity < 1:
            problems.append(
                Problem(
                    "Cantidad no válida",
                    field="quantity",
                    value=str(lot.quantity),
                    expected="1 o más",
                    row=n,
                )
            )
        if not lot.registro_sanitario.strip():
            problems.append(
                Problem("Falta el registro sanitario", field="registro_sanitario", row=n)
            )
    if not lots:
        problems.append(Problem("El envío no tiene lotes", field="lots"))
    shipped = sum(max(0, lot.quantity) for lot in lots)
    lacking = order.quantity - order.accepted_qty - _pending(ctx, order)
    if shipped > lacking:
        problems.append(
            Problem(
                f"Se envían {shipped:,} piezas; a la orden le faltan {lacking:,} "
                f"(ordenadas {order.quantity:,}, aceptadas {order.accepted_qty:,}, "
                "en camino el resto)",
                field="quantity",
                value=str(shipped),
                expected=f"a lo más {lacking:,}",
            )
        )
    rules.refuse(f"No se registró el envío de la orden {order.number}.", problems)
    number = _next_number(ctx, Shipment.number, Shipment.order_id == order.id)
    shipment = Shipment(
        order_id=order.id,
        number=number,
        status="enviado",
        shipped_at=ctx.now,
        recorded_by=ctx.actor.label,
        lots=[
            ShipmentLot(
                lot=lot.lot.strip(),
                expiry=lot.expiry,
                quantity=lot.quantity,
                registro_sanitario=" ".join(lot.registro_sanitario.split()),
            )
            for lot in lots
        ],
    )
    ctx.db.add(shipment)
    ctx.db.flush()
    ctx.record(
        "shipment.record",
        _entity(contract),
        {
            "number": contract.number,
            "order": order.number,
            "shipment": number,
            "lots": [
                {
                    "lot": x.lot,
                    "expiry": x.expiry,
                    "quantity": x.quantity,
                    "registro_sanitario": x.registro_sanitario,
                }
                for x in shipment.lots
            ],
        },
    )
    return shipment


def get_shipment(ctx: Context, shipment_id: int) -> Shipment:
    shipment = ctx.db.get(Shipment, shipment_id)
    if shipment is None:
        raise NotFound(f"No existe el envío {shipment_id}.")
    get_order(ctx, shipment.order_id)
    return shipment


def shipments_of(ctx: Context, order: SupplyOrder) -> list[Shipment]:
    return list(
        ctx.db.scalars(
            select(Shipment)
            .where(Shipment.order_id == order.id)
            .order_by(Shipment.number)
            .options(selectinload(Shipment.lots))
        )
    )


def receive_shipment(ctx: Context, *, shipment_id: int, lots: Sequence[LotReceipt]) -> Shipment:
    """The unit receives a shipment: accepted and rejected pieces per lot, shelf life checked;
    a late receipt charges its pena convencional, rejected pieces a deductiva."""
    shipment = get_shipment(ctx, shipment_id)
    order = get_order(ctx, shipment.order_id)
    contract = get_contract(ctx, order.contract_id, lock=True)
    ctx.require_institution(contract.institution_id)
    if shipment.status != "enviado":
        raise Conflict(f"El envío {shipment.number} de la orden {order.number} ya se recibió.")
    agreed = terms(contract)
    day = rules.local_day(ctx.now)
    given = {r.lot.strip(): r for r in lots}
    problems: list[Problem] = []
    for lot in shipment.lots:
        receipt = given.get(lot.lot)
        if receipt is None:
            problems.append(Problem("Falta la recepción del lote", field="lots", value=lot.lot))
            continue
        where = f"lote {lot.lot}"
        if receipt.accepted < 0 or receipt.rejected < 0:
            problems.append(Problem(f"{where}: cantidades negativas", field="accepted"))
        elif receipt.accepted + receipt.rejected != lot.quantity:
            problems.append(
                Problem(
                    f"{where}: aceptadas + rechazadas deben sumar lo enviado",
                    field="accepted",
                    value=f"{receipt.accepted} + {receipt.rejected}",
                    expected=f"{lot.quantity:,}",
                )
            )
        if receipt.rejected > 0 and receipt.reason not in rules.REJECTION_REASONS:
            problems.append(
                Problem(
                    f"{where}: falta el motivo del rechazo",
                    field="reason",
                    value=receipt.reason or "",
                    expected=", ".join(rules.REJECTION_REASONS),
                )
            )
        if receipt.accepted > 0:
            found = rules.shelf_life_problem(day, lot.expiry, agreed.shelf_life_months, lot=lot.lot)
            if found is not None:
                problems.append(found)
    unknown = set(given) - {lot.lot for lot in shipment.lots}
    problems.extend(
        Problem("Lote que no vino en el envío", field="lots", value=x) for x in sorted(unknown)
    )
    rules.refuse(f"No se recibió el envío {shipment.number} de la orden {order.number}.", problems)
    accepted = rejected = 0
    for lot in shipment.lots:
        receipt = given[lot.lot]
        lot.accepted_qty, lot.rejected_qty = receipt.accepted, receipt.rejected
        lot.reason = receipt.reason if receipt.rejected else None
        lot.note = (receipt.note or "").strip() or None
        accepted += receipt.accepted
        rejected += receipt.rejected
    late = rules.days_late(order.due_on, day)
    order.accepted_qty += accepted
    order.rejected_qty += rejected
    if not late:
        order.on_time_qty += accepted
    if order.accepted_qty >= order.quantity:
        order.status = rules.ORDER_SURTIDA
    shipment.status = "recibido"
    shipment.received_at = ctx.now
    shipment.received_by = ctx.actor.label
    charged = _charge(ctx, contract, order, shipment, accepted, rejected, late)
    receipt_doc = {
        "contract": contract.number,
        "order": order.number,
        "shipment": shipment.number,
        "received_at": ctx.now,
        "received_on": day,
        "due_on": order.due_on,
        "days_late": late,
        "lots": [
            {
                "lot": x.lot,
                "expiry": x.expiry,
                "quantity": x.quantity,
                "registro_sanitario": x.registro_sanitario,
                "accepted": x.accepted_qty,
                "rejected": x.rejected_qty,
                "reason": x.reason,
            }
            for x in shipment.lots
        ],
        "penalties": charged,
    }
    shipment.receipt_sha256 = _sha256(ledger.canonical_json(receipt_doc).encode())
    ctx.db.flush()
    ctx.record(
        "shipment.receive",
        _entity(contract),
        {**receipt_doc, "receipt_sha256": shipment.receipt_sha256},
    )
    # What the unit accepted is on its shelf: the receipt posts into the unit's stock, once
    # (inventory refuses a source posted before), in this same transaction.
    received = [
        inventory.ReceiptLine(order.line.clave, x.lot, x.expiry, x.accepted_qty)
        for x in shipment.lots
        if x.accepted_qty
    ]
    if received:
        inventory.receive(
            ctx, unit=order.unit, lines=received, source=f"receipt:{shipment.id}", day=day
        )
    return shipment


def _charge(
    ctx: Context,
    contract: Contract,
    order: SupplyOrder,
    shipment: Shipment,
    accepted: int,
    rejected: int,
    late: int,
) -> list[dict[str, Any]]:
    """The pena for pieces accepted late (capped at the guarantee), the deductiva for pieces
    rejected; each a row, and the order's totals."""
    agreed = terms(contract)
    charged: list[dict[str, Any]] = []
    if late and accepted:
        base = rules.amount(accepted, order.unit_price)
        accrued = (
            ctx.db.scalar(
                select(func.coalesce(func.sum(Penalty.amount), 0)).where(
                    Penalty.contract_id == contract.id, Penalty.kind == "pena"
                )
            )
            or ZERO
        )
        capped = rules.cap_penalty(
            rules.late_penalty(base, late, agreed.penalty_rate),
            Decimal(accrued),
            contract.guarantee_amount,
        )
        charged.append(
            _penalty(
                ctx,
                contract,
                order,
                shipment,
                "pena",
                base,
                late,
                agreed.penalty_rate,
                capped.computed,
                capped.charged,
            )
        )
        order.penalty += capped.charged
        if capped.reaches_cap and not contract.penalties_at_cap:
            contract.penalties_at_cap = True
            ctx.db.flush()
            ctx.record(
                "contract.penalty_cap",
                _entity(contract),
                {
                    "number": contract.number,
                    "cap": contract.guarantee_amount,
                    "note": "Las penas alcanzaron la garantía: procede evaluar la rescisión.",
                },
            )
    if rejected:
        base = rules.amount(rejected, order.unit_price)
        amount = to_money(rules.deductiva(base, agreed.deductiva_rate))
        charged.append(
            _penalty(
                ctx,
                contract,
                order,
                shipment,
                "deductiva",
                base,
                0,
                agreed.deductiva_rate,
                amount,
                amount,
            )
        )
        order.deductiva += amount
    return charged


def _penalty(
    ctx: Context,
    contract: Contract,
    order: SupplyOrder,
    shipment: Shipment,
    kind: str,
    base: Decimal,
    days: int,
    rate: Decimal,
    computed: Decimal,
    charged: Decimal,
) -> dict[str, Any]:
    ctx.db.add(
        Penalty(
            contract_id=contract.id,
            order_id=order.id,
            shipment_id=shipment.id,
            kind=kind,
            base_value=base,
            days_late=days,
            rate=rate,
            computed=computed,
            amount=charged,
            at=ctx.now,
        )
    )
    return {
        "kind": kind,
        "base_value": base,
        "days_late": days,
        "rate": rate,
        "computed": computed,
        "amount": charged,
    }


def penalties_of(ctx: Context, contract: Contract) -> list[Penalty]:
    return list(
        ctx.db.scalars(
            select(Penalty).where(Penalty.contract_id == contract.id).order_by(Penalty.id)
        )
    )


# ----- the fill rate -------------------------------------------------------------------------

FILL_DIMENSIONS = ("supplier", "contract", "clave", "institution", "state", "month")


@dataclass(frozen=True, slots=True)
class FillRow:
    """Nivel de surtimiento of one group: on-time accepted pieces over pieces ordered and due."""

    key: tuple[str, ...]
    ordered_due: int
    on_time_accepted: int

    @property
    def rate(self) -> Decimal | None:
        return rules.fill_rate(self.on_time_accepted, self.ordered_due)


def fill_rates(
    db: Session,
    *,
    by: Sequence[str],
    as_of: date,
    supplier_id: int | None = None,
    contract_id: int | None = None,
) -> list[FillRow]:
    """The fill rate grouped ``by`` any of ``FILL_DIMENSIONS``, over orders due by ``as_of``
    (cancelled ones excepted)."""
    unknown = [b for b in by if b not in FILL_DIMENSIONS]
    if unknown:
        raise ValidationFailed(
            "Agrupación desconocida.",
            problems=[
                Problem(
                    "Dimensión no válida", field="by", value=u, expected=", ".join(FILL_DIMENSIONS)
                )
                for u in unknown
            ],
        )
    # Two GROUP BYs in the database: the orders first, by the few integer keys the grouping
    # needs (their line, their unit) and the month (folded there, ``to_char`` or
    # ``strftime``), with no join; then those sums, far fewer rows, joined to the names and
    # grouped by them. Every join follows a required foreign key, so none drops an order.
    month = (
        func.to_char(SupplyOrder.due_on, "YYYY-MM")
        if db.get_bind().dialect.name == "postgresql"
        else func.strftime("%Y-%m", SupplyOrder.due_on)
    )
    wanted = set(by)
    by_contract = bool({"supplier", "contract", "institution"} & wanted) or supplier_id is not None
    keys: list[Any] = []
    if by_contract or "clave" in wanted:
        keys.append(SupplyOrder.line_id.label("line_id"))
    if "state" in wanted:
        keys.append(SupplyOrder.unit_id.label("unit_id"))
    if "month" in wanted:
        keys.append(month.label("month"))
    orders = select(
        *keys,
        func.sum(SupplyOrder.quantity).label("due"),
        func.sum(SupplyOrder.on_time_qty).label("on_time"),
    ).where(SupplyOrder.due_on <= as_of, SupplyOrder.status != rules.ORDER_CANCELADA)
    if contract_id is not None:
        orders = orders.where(SupplyOrder.contract_id == contract_id)
    sums = orders.group_by(*keys).subquery()
    columns: dict[str, Any] = {
        "supplier": Supplier.rfc,
        "contract": Contract.number,
        "clave": ContractLine.clave,
        "institution": Institution.code,
        "state": func.coalesce(Unit.state_code, ""),
        "month": sums.c.month if "month" in wanted else None,
    }
    chosen = [columns[b] for b in by]
    query = select(*chosen, func.sum(sums.c.due), func.sum(sums.c.on_time)).select_from(sums)
    if by_contract or "clave" in wanted:
        query = query.join(ContractLine, ContractLine.id == sums.c.line_id)
    if by_contract:
        query = query.join(Contract, Contract.id == ContractLine.contract_id)
    if "supplier" in wanted:
        query = query.join(Supplier, Supplier.id == Contract.supplier_id)
    if "institution" in wanted:
        query = query.join(Institution, Institution.id == Contract.institution_id)
    if "state" in wanted:
        query = query.join(Unit, Unit.id == sums.c.unit_id)
    if supplier_id is not None:
        query = query.where(Contract.supplier_id == supplier_id)
    query = query.group_by(*chosen)
    totals: dict[tuple[str, ...], list[int]] = defaultdict(lambda: [0, 0])
    for row in db.execute(query):
        values = list(row)
        key = tuple(str(v) for v in values[: len(by)])
        totals[key][0] += int(values[-2] or 0)
        totals[key][1] += int(values[-1] or 0)
    return [FillRow(k, v[0], v[1]) for k, v in sorted(totals.items())]


ORDER_COLUMNS = (
    "Contrato",
    "Orden",
    "Clave",
    "Punto de entrega",
    "Cantidad",
    "Precio unitario",
    "Estado",
    "Emitida",
    "Fecha de entrega",
    "Aceptadas",
    "A tiempo",
    "Rechazadas",
    "Pena",
    "Deductiva",
)


def orders_csv(orders: Sequence[SupplyOrder]) -> bytes:
    """The orders as CSV (UTF-8 with BOM, so Excel reads the accents), every cell neutralised."""
    out = io.StringIO()
    writer = CsvWriter(out)
    writer.writerow(ORDER_COLUMNS)
    for o in orders:
        writer.writerow(
            [
                o.contract.number,
                o.number,
                o.line.clave,
                o.unit.code,
                o.quantity,
                o.unit_price,
                rules.ORDER_LABELS[o.status],
                rules.local_day(o.issued_at).isoformat(),
                o.due_on.isoformat(),
                o.accepted_qty,
                o.on_time_qty,
                o.rejected_qty,
                o.penalty,
                o.deductiva,
            ]
        )
    return b"\xef\xbb\xbf" + out.getvalue().encode()


FILL_LABELS = {
    "supplier": "Proveedor (RFC)",
    "contract": "Contrato",
    "clave": "Clave",
    "institution": "Institución",
    "state": "Entidad",
    "month": "Mes de entrega",
}


def fill_rates_csv(rows: Sequence[FillRow], by: Sequence[str]) -> bytes:
    """The fill rate as CSV (UTF-8 with BOM), every cell neutralised."""
    out = io.StringIO()
    writer = CsvWriter(out)
    writer.writerow(
        [*(FILL_LABELS[b] for b in by), "Ordenadas vencidas", "A tiempo y aceptadas", "Surtimiento"]
    )
    for row in rows:
        rate = row.rate
        writer.writerow(
            [*row.key, row.ordered_due, row.on_time_accepted, "" if rate is None else f"{rate:.4f}"]
        )
    return b"\xef\xbb\xbf" + out.getvalue().encode()


# ----- orders and their deliveries in bulk ---------------------------------------------------


@dataclass(frozen=True, slots=True)
class DeliveryLine:
    """One lot of one of an order's receipts, as sent and as received (``load_orders``)."""

    shipment: int
    """The order's shipment it came in: 1, 2, …; its lots share one instant of receipt."""
    received_at: datetime
    lot: str
    expiry: date
    accepted: int
    rejected: int = 0
    reason: str | None = None
    registro_sanitario: str = ""


@dataclass(frozen=True, slots=True)
class OrderRecord:
    """An order issued and what came of it, as ``load_orders`` takes it: a year of an
    institution's history, a legacy system's orders, the demo's."""

    contract_id: int
    clave: str
    unit_code: str
    quantity: int
    issued_at: datetime
    due_on: date
    deliveries: tuple[DeliveryLine, ...] = ()


@dataclass(frozen=True, slots=True)
class BulkLoaded:
    """What ``load_orders`` wrote."""

    contracts: int
    orders: int
    shipments: int
    lots: int
    penalties: int


BULK_PROBLEMS = 20
"""A refused load names at most this many problems (and counts the rest)."""
_INT_MAX = 2_147_483_647
_ORDER_COLUMNS = (
    "id, contract_id, line_id, number, unit_id, quantity, unit_price, status, issued_at, "
    "issued_by, due_on, confirmed_at, accepted_qty, on_time_qty, rejected_qty, penalty, "
    "deductiva, version"
)
_SHIPMENT_COLUMNS = (
    "id, order_id, number, status, shipped_at, recorded_by, received_at, received_by, "
    "receipt_sha256"
)
_LOT_COLUMNS = (
    "id, shipment_id, lot, expiry, quantity, registro_sanitario, accepted_qty, rejected_qty, "
    "reason, note"
)
_PENALTY_COLUMNS = (
    "id, contract_id, order_id, shipment_id, kind, base_value, days_late, rate, computed, "
    "amount, at"
)


class _Problems:
    """Problems of a bulk load: the first ``BULK_PROBLEMS`` kept, all counted."""

    def __init__(self) -> None:
        self.kept: list[Problem] = []
        self.count = 0

    def add(self, problem: Problem) -> None:
        self.count += 1
        if len(self.kept) < BULK_PROBLEMS:
            self.kept.append(problem)

    def refuse(self, detail: str, error: type[AbastoError]) -> None:
        if not self.count:
            return
        more = self.count - len(self.kept)
        tail = f" (y {count_of(more, 'problema más', 'problemas más')})" if more else ""
        raise error(f"{detail}{tail}", problems=self.kept)


@dataclass(frozen=True, slots=True)
class _Line:
    """What a bulk load needs of a contract line."""

    id: int
    clave: str
    max_qty: int
    unit_price: Decimal


@dataclass(slots=True)
class _Late:
    """A receipt with pieces accepted late, waiting for its contract's cap in time order."""

    contract_id: int
    received_at: datetime
    order: int
    shipment_id: int
    base: Decimal
    days: int


def load_orders(ctx: Context, *, orders: Sequence[OrderRecord]) -> BulkLoaded:
    """Orders with their shipments and receipts in bulk, under the rules ``issue_order``,
    ``record_shipment`` and ``receive_shipment`` apply one by one: a vigente contract of the
    actor's institution, a clave and delivery point of the contract, a due date within its
    term, never above a line's maximum (orders already there included; the contracts' rows are
    locked as ``issue_order`` locks them), never more shipped than the order lacks, a reason
    for every rejection, the shelf life at receipt; penas for pieces accepted late, capped at
    the guarantee in the order the receipts happened, deductivas for rejected ones.

    All or nothing: a refused load names its first problems and writes nothing. The rows go
    in by COPY on PostgreSQL (executemany elsewhere) with ids reserved from the tables'
    sequences; one ledger entry per contract. Receipts loaded this way post nothing into the
    units' stock: a history of stock is loaded by inventory's own bulk path."""
    if not ctx.actor.has_role("comprador", "institucion"):
        raise Forbidden("Sólo el comprador o la institución cargan órdenes de suministro.")
    ids = sorted({o.contract_id for o in orders})
    contracts = {
        c.id: c
        for c in ctx.db.scalars(
            select(Contract).where(Contract.id.in_(ids)).order_by(Contract.id).with_for_update()
        )
    }
    problems = _Problems()
    for missing in sorted(set(ids) - set(contracts)):
        problems.add(Problem("No existe el contrato", field="contract_id", value=str(missing)))
    problems.refuse("No se cargaron las órdenes.", NotFound)
    for contract in contracts.values():
        ctx.require_institution(contract.institution_id)
        if contract.status != rules.VIGENTE:
            problems.add(
                Problem(
                    f"El contrato {contract.number} está "
                    f"«{rules.STATUS_LABELS[contract.status]}»; sólo un contrato vigente "
                    "recibe órdenes",
                    field="contract_id",
                    value=str(contract.id),
                )
            )
    problems.refuse("No se cargaron las órdenes.", Conflict)
    ordered: dict[int, int] = defaultdict(int)
    for line_id, total in ctx.db.execute(
        select(SupplyOrder.line_id, func.sum(SupplyOrder.quantity))
        .where(SupplyOrder.contract_id.in_(ids), SupplyOrder.status != rules.ORDER_CANCELADA)
        .group_by(SupplyOrder.line_id)
    ):
        ordered[line_id] = int(total or 0)
    numbers: dict[int, int] = defaultdict(int)
    for contract_id, last in ctx.db.execute(
        select(SupplyOrder.contract_id, func.max(SupplyOrder.number))
        .where(SupplyOrder.contract_id.in_(ids))
        .group_by(SupplyOrder.contract_id)
    ):
        numbers[contract_id] = int(last or 0)
    accrued: dict[int, Decimal] = defaultdict(lambda: ZERO)
    for contract_id, charged in ctx.db.execute(
        select(Penalty.contract_id, func.sum(Penalty.amount))
        .where(Penalty.contract_id.in_(ids), Penalty.kind == "pena")
        .group_by(Penalty.contract_id)
    ):
        accrued[contract_id] = Decimal(charged or 0)
    # Plain rows, not ORM objects: a national load names thousands of contracts, each with
    # its lines and its institution's units as delivery points.
    lines: dict[tuple[int, str], _Line] = {}
    claves: dict[int, list[str]] = defaultdict(list)
    for contract_id, clave, line_id, max_qty, unit_price in ctx.db.execute(
        select(
            ContractLine.contract_id,
            ContractLine.clave,
            ContractLine.id,
            ContractLine.max_qty,
            ContractLine.unit_price,
        ).where(ContractLine.contract_id.in_(ids))
    ):
        lines[(contract_id, clave)] = _Line(line_id, clave, max_qty, unit_price)
        claves[contract_id].append(clave)
    points: dict[tuple[int, str], int] = {}
    units: dict[int, list[str]] = defaultdict(list)
    for contract_id, code, point in ctx.db.execute(
        select(DeliveryPoint.contract_id, Unit.code, Unit.id)
        .join(Unit, Unit.id == DeliveryPoint.unit_id)
        .where(DeliveryPoint.contract_id.in_(ids))
    ):
        points[(contract_id, code)] = point
        units[contract_id].append(code)
    agreed = {c.id: terms(c) for c in contracts.values()}
    today = rules.local_day(ctx.now)

    order_ids = _reserve(ctx.db, "supply_orders", len(orders))
    shipment_count = sum(len({d.shipment for d in o.deliveries}) for o in orders)
    lot_count = sum(len(o.deliveries) for o in orders)
    shipment_ids = _reserve(ctx.db, "shipments", shipment_count)
    lot_ids = _reserve(ctx.db, "shipment_lots", lot_count)
    order_rows: list[list[Any]] = []
    shipment_rows: list[tuple[Any, ...]] = []
    lot_rows: list[tuple[Any, ...]] = []
    deductivas: list[tuple[int, int, int, Decimal, Decimal, datetime]] = []
    late: list[_Late] = []
    label = ctx.actor.label
    for n, order in enumerate(orders, start=1):
        contract = contracts[order.contract_id]
        line = lines.get((contract.id, order.clave))
        unit_id = points.get((contract.id, order.unit_code))
        given = _order_problems(
            order, n, contract, line, unit_id, agreed[contract.id], ctx.now, claves, units
        )
        for problem in given:
            problems.add(problem)
        if given or line is None or unit_id is None:
            continue
        above = rules.order_problem(
            clave=line.clave,
            max_qty=line.max_qty,
            ordered=ordered[line.id],
            quantity=order.quantity,
        )
        if above is not None:
            problems.add(replace(above, row=n))
            continue
        ordered[line.id] += order.quantity
        numbers[contract.id] += 1
        order_id = order_ids + n - 1
        accepted = on_time = rejected = 0
        deductiva = ZERO
        confirmed_at = None
        shipments: dict[int, list[DeliveryLine]] = defaultdict(list)
        for delivery in order.deliveries:
            shipments[delivery.shipment].append(delivery)
        previous: datetime | None = None
        for number in sorted(shipments):
            lots = shipments[number]
            received_at = lots[0].received_at
            received_on = rules.local_day(received_at)
            found = _shipment_problems(
                lots,
                n,
                number,
                order,
                received_on,
                previous,
                today,
                accepted,
                agreed[contract.id].shelf_life_months,
            )
            if found:
                for problem in found:
                    problems.add(problem)
                break
            previous = received_at
            confirmed_at = confirmed_at or received_at
            shipment_id = shipment_ids
            shipment_ids += 1
            shipment_rows.append(
                (
                    shipment_id,
                    order_id,
                    number,
                    "recibido",
                    received_at,
                    label,
                    received_at,
                    label,
                    None,
                )
            )
            came = refused = 0
            for delivery in lots:
                lot_rows.append(
                    (
                        lot_ids,
                        shipment_id,
                        delivery.lot.strip(),
                        delivery.expiry,
                        delivery.accepted + delivery.rejected,
                        " ".join(delivery.registro_sanitario.split()),
                        delivery.accepted,
                        delivery.rejected,
                        delivery.reason if delivery.rejected else None,
                        None,
                    )
                )
                lot_ids += 1
                came += delivery.accepted
                refused += delivery.rejected
            days = rules.days_late(order.due_on, received_on)
            accepted += came
            rejected += refused
            if not days:
                on_time += came
            elif came:
                base = rules.amount(came, line.unit_price)
                late.append(
                    _Late(contract.id, received_at, len(order_rows), shipment_id, base, days)
                )
            if refused:
                base = rules.amount(refused, line.unit_price)
                amount = to_money(rules.deductiva(base, agreed[contract.id].deductiva_rate))
                deductivas.append((contract.id, order_id, shipment_id, base, amount, received_at))
                deductiva += amount
        if problems.count:
            continue
        status = (
            rules.ORDER_SURTIDA
            if accepted >= order.quantity
            else rules.ORDER_CONFIRMADA
            if order.deliveries
            else rules.ORDER_EMITIDA
        )
        order_rows.append(
            [
                order_id,
                contract.id,
                line.id,
                numbers[contract.id],
                unit_id,
                order.quantity,
                line.unit_price,
                status,
                order.issued_at,
                label,
                order.due_on,
                confirmed_at,
                accepted,
                on_time,
                rejected,
                ZERO,
                deductiva,
                1,
            ]
        )
    problems.refuse("No se cargaron las órdenes.", ValidationFailed)
    # The one-by-one path caps each receipt's pena at what the contract's earlier penas left
    # of the guarantee: the same here, receipt by receipt in the order they happened.
    penalty_rows: list[tuple[Any, ...]] = []
    capped_now: set[int] = set()
    late.sort(key=lambda x: (x.contract_id, x.received_at, x.order, x.shipment_id))
    for receipt in late:
        contract = contracts[receipt.contract_id]
        rate = agreed[contract.id].penalty_rate
        capped = rules.cap_penalty(
            rules.late_penalty(receipt.base, receipt.days, rate),
            accrued[contract.id],
            contract.guarantee_amount,
        )
        accrued[contract.id] += capped.charged
        row = order_rows[receipt.order]
        row[15] += capped.charged
        penalty_rows.append(
            (
                row[1],
                row[0],
                receipt.shipment_id,
                "pena",
                receipt.base,
                receipt.days,
                rate,
                capped.computed,
                capped.charged,
                receipt.received_at,
            )
        )
        if capped.reaches_cap and not contract.penalties_at_cap:
            contract.penalties_at_cap = True
            capped_now.add(contract.id)
    for contract_id, order_id, shipment_id, base, amount, at in deductivas:
        rate = agreed[contract_id].deductiva_rate
        penalty_rows.append(
            (contract_id, order_id, shipment_id, "deductiva", base, 0, rate, amount, amount, at)
        )
    penalty_ids = _reserve(ctx.db, "contract_penalties", len(penalty_rows))
    _bulk_insert(ctx.db, "supply_orders", _ORDER_COLUMNS, order_rows)
    _bulk_insert(ctx.db, "shipments", _SHIPMENT_COLUMNS, shipment_rows)
    _bulk_insert(ctx.db, "shipment_lots", _LOT_COLUMNS, lot_rows)
    _bulk_insert(
        ctx.db,
        "contract_penalties",
        _PENALTY_COLUMNS,
        [(penalty_ids + i, *row) for i, row in enumerate(penalty_rows)],
    )
    ctx.db.flush()
    totals: dict[int, list[Any]] = {}
    for row in order_rows:
        sums = totals.setdefault(row[1], [0, 0, 0, 0, 0, ZERO, ZERO])
        for i, value in enumerate((1, row[5], row[12], row[13], row[14], row[15], row[16])):
            sums[i] += value
    records = [
        ledger.Record(
            "order.load",
            _entity(contracts[contract_id]),
            {
                "number": contracts[contract_id].number,
                "orders": total[0],
                "first_order": numbers[contract_id] - total[0] + 1,
                "last_order": numbers[contract_id],
                "ordered": total[1],
                "accepted": total[2],
                "on_time": total[3],
                "rejected": total[4],
                "penalty": total[5],
                "deductiva": total[6],
            },
            True,
        )
        for contract_id, total in sorted(totals.items())
    ]
    records += [
        ledger.Record(
            "contract.penalty_cap",
            _entity(contracts[contract_id]),
            {
                "number": contracts[contract_id].number,
                "cap": contracts[contract_id].guarantee_amount,
                "note": "Las penas alcanzaron la garantía: procede evaluar la rescisión.",
            },
            True,
        )
        for contract_id in sorted(capped_now)
    ]
    if records:
        ctx.record_many(records)
    return BulkLoaded(
        contracts=len(totals),
        orders=len(order_rows),
        shipments=len(shipment_rows),
        lots=len(lot_rows),
        penalties=len(penalty_rows),
    )


_FILE_COLUMNS = {
    "contract_id": "Contrato",
    "clave": "Clave",
    "unit": "Unidad",
    "quantity": "Cantidad",
    "issued_at": "Fecha de emisión",
    "due_on": "Fecha límite",
    "shipment": "Remisión",
    "received_at": "Fecha de recepción",
    "lot": "Lote",
    "expiry": "Caducidad",
    "accepted": "Aceptadas",
    "reason": "Motivo de rechazo",
    "registro_sanitario": "Registro sanitario",
}
"""``load_orders``' fields by the column of the orders file (``orders_file``) that gives them."""


def template_example(ctx: Context) -> tuple[str, str, str]:
    """A vigente contract the actor may load orders for, one of its claves and one of its
    delivery points, for the orders file's example rows; empty when there is none."""
    mine = _scoped(ctx, select(Contract.id).where(Contract.status == rules.VIGENTE))
    found = ctx.db.execute(
        select(Contract.number, ContractLine.clave, Unit.code)
        .join(ContractLine, ContractLine.contract_id == Contract.id)
        .join(DeliveryPoint, DeliveryPoint.contract_id == Contract.id)
        .join(Unit, Unit.id == DeliveryPoint.unit_id)
        .where(Contract.id.in_(mine.scalar_subquery()))
        .order_by(Contract.id, ContractLine.id, Unit.code)
        .limit(1)
    ).first()
    return (found[0], found[1], found[2]) if found else ("", "", "")


def import_orders(ctx: Context, *, content: bytes, filename: str) -> BulkLoaded:
    """An orders file (``orders_file``: one row per lot received) loaded whole by
    ``load_orders``; every problem names the file's sheet, row and column."""
    read = orders_file.read(content, filename)
    numbers = sorted({o.contract for o in read})
    ids: dict[str, int] = dict(
        ctx.db.execute(
            select(Contract.number, Contract.id).where(Contract.number.in_(numbers))
        ).all()
    )
    unknown = [o for o in read if o.contract not in ids]
    if unknown:
        raise NotFound(
            f"{count_of(len({o.contract for o in unknown}), 'contrato', 'contratos')} del "
            f"archivo «{filename}» no existen; no se cargó nada.",
            problems=[
                Problem(
                    "No existe el contrato",
                    sheet=o.sheet,
                    row=o.row,
                    column="Contrato",
                    value=o.contract,
                )
                for o in {o.contract: o for o in reversed(unknown)}.values()
            ][:BULK_PROBLEMS],
        )
    records = []
    for order in read:
        shipments = orders_file.delivery_numbers(order)
        records.append(
            OrderRecord(
                contract_id=ids[order.contract],
                clave=order.clave,
                unit_code=order.unit,
                quantity=order.quantity,
                issued_at=order.issued_at,
                due_on=order.due_on,
                deliveries=tuple(
                    DeliveryLine(
                        shipment=shipments[lot.delivery],
                        received_at=lot.received_at,
                        lot=lot.lot,
                        expiry=lot.expiry,
                        accepted=lot.accepted,
                        rejected=lot.rejected,
                        reason=lot.reason,
                        registro_sanitario=lot.registro,
                    )
                    for lot in order.lots
                ),
            )
        )
    try:
        return load_orders(ctx, orders=records)
    except AbastoError as exc:
        exc.problems = tuple(_located(p, read) for p in exc.problems)
        raise


def _located(problem: Problem, read: Sequence[orders_file.OrderRows]) -> Problem:
    """A problem of ``load_orders`` (its order's position, its field) at the file's order:
    the order's first row and the column of the field."""
    if problem.row is None or not 1 <= problem.row <= len(read):
        return problem
    order = read[problem.row - 1]
    return replace(
        problem,
        sheet=order.sheet,
        row=order.row,
        column=_FILE_COLUMNS.get(problem.field or "", problem.column),
        field=None,
    )


def _order_problems(
    order: OrderRecord,
    row: int,
    contract: Contract,
    line: _Line | None,
    unit_id: int | None,
    agreed: rules.Terms,
    now: datetime,
    claves: dict[int, list[str]],
    units: dict[int, list[str]],
) -> list[Problem]:
    """What ``issue_order`` would refuse of one order of a bulk load (the maximum aside)."""
    found: list[Problem] = []
    if line is None:
        found.append(
            Problem(
                f"Clave fuera del contrato {contract.number}",
                row=row,
                field="clave",
                value=order.clave,
                expected=", ".join(sorted(claves[contract.id])),
            )
        )
    if unit_id is None:
        found.append(
            Problem(
                f"El punto de entrega no es del contrato {contract.number}",
                row=row,
                field="unit",
                value=order.unit_code,
                expected=", ".join(sorted(units[contract.id])[:20]),
            )
        )
    if not 1 <= order.quantity <= _INT_MAX:
        found.append(
            Problem(
                "La cantidad de una orden debe ser positiva",
                row=row,
                field="quantity",
                value=str(order.quantity),
                expected=f"un entero entre 1 y {_INT_MAX:,}",
            )
        )
    if order.issued_at.tzinfo is None:
        return [*found, Problem("Instante sin zona horaria", row=row, field="issued_at")]
    effective = contract.effective_at or now
    if not effective <= order.issued_at <= now:
        found.append(
            Problem(
                "Orden emitida fuera de la vigencia del contrato o en el futuro",
                row=row,
                field="issued_at",
                value=format_seconds(order.issued_at),
                expected=f"entre {format_seconds(effective)} y {format_seconds(now)}",
            )
        )
    issued = rules.local_day(order.issued_at)
    last = contract.ends_on + timedelta(days=agreed.delivery_days)
    if not issued <= order.due_on <= last:
        found.append(
            Problem(
                "Fecha de entrega no válida",
                row=row,
                field="due_on",
                value=format_date(order.due_on),
                expected=f"entre {format_date(issued)} y {format_date(last)}",
            )
        )
    elif issued > contract.ends_on:
        found.append(
            Problem(
                "Orden emitida después del fin de la vigencia",
                row=row,
                field="issued_at",
                value=format_date(issued),
                expected=f"hasta el {format_date(contract.ends_on)}",
            )
        )
    return found


def _shipment_problems(
    lots: list[DeliveryLine],
    row: int,
    number: int,
    order: OrderRecord,
    received_on: date,
    previous: datetime | None,
    today: date,
    accepted: int,
    shelf_life_months: int,
) -> list[Problem]:
    """What ``record_shipment`` and ``receive_shipment`` would refuse of one shipment of a
    bulk-loaded order; ``accepted``: the order's pieces accepted before it."""
    where = f"envío {number}"
    found: list[Problem] = []
    first = lots[0].received_at
    if number < 1:
        found.append(Problem(f"{where}: número no válido", row=row, field="shipment"))
    if first.tzinfo is None or any(x.received_at != first for x in lots):
        found.append(
            Problem(
                f"{where}: sus lotes se reciben en un mismo instante, con zona horaria",
                row=row,
                field="received_at",
            )
        )
        return found
    if not rules.local_day(order.issued_at) <= received_on <= today:
        found.append(
            Problem(
                f"{where}: recibido antes de emitirse la orden o en el futuro",
                row=row,
                field="received_at",
                value=format_date(received_on),
                expected=f"entre {format_date(rules.local_day(order.issued_at))} y "
                f"{format_date(today)}",
            )
        )
    if previous is not None and first < previous:
        found.append(
            Problem(
                f"{where}: recibido antes que el envío anterior",
                row=row,
                field="received_at",
                value=format_seconds(first),
                expected=f"{format_seconds(previous)} o después",
            )
        )
    seen: set[str] = set()
    shipped = 0
    shortest = rules.add_months(received_on, shelf_life_months)
    for x in lots:
        name = x.lot.strip()
        if not name or len(name) > 60:
            found.append(
                Problem(f"{where}: lote vacío o largo", row=row, field="lot", value=name[:60])
            )
        elif name in seen:
            found.append(Problem(f"{where}: lote repetido", row=row, field="lot", value=name))
        seen.add(name)
        registro = " ".join(x.registro_sanitario.split())
        if not registro or len(registro) > 100:
            found.append(
                Problem(
                    f"{where}, lote {name}: falta el registro sanitario o es largo",
                    row=row,
                    field="registro_sanitario",
                )
            )
        if x.accepted < 0 or x.rejected < 0 or x.accepted + x.rejected < 1:
            found.append(
                Problem(
                    f"{where}, lote {name}: cantidades no válidas",
                    row=row,
                    field="accepted",
                    value=f"{x.accepted} + {x.rejected}",
                    expected="aceptadas y rechazadas no negativas, que sumen 1 o más",
                )
            )
            continue
        shipped += x.accepted + x.rejected
        if x.rejected and x.reason not in rules.REJECTION_REASONS:
            found.append(
                Problem(
                    f"{where}, lote {name}: falta el motivo del rechazo",
                    row=row,
                    field="reason",
                    value=x.reason or "",
                    expected=", ".join(rules.REJECTION_REASONS),
                )
            )
        if x.accepted and x.expiry < shortest:
            short = rules.shelf_life_problem(received_on, x.expiry, shelf_life_months, lot=name)
            if short is not None:
                found.append(replace(short, row=row))
    lacking = order.quantity - accepted
    if shipped > lacking:
        found.append(
            Problem(
                f"{where}: se envían {shipped:,} piezas; a la orden le faltan {lacking:,}",
                row=row,
                field="quantity",
                value=str(shipped),
                expected=f"a lo más {lacking:,}",
            )
        )
    return found


def _reserve(db: Session, table: str, count: int) -> int:
    """The first of ``count`` consecutive ids taken for ``table``'s new rows. On PostgreSQL
    the table is locked against other inserts until the transaction ends (reads go on), so
    the block moved past in its sequence is this load's alone."""
    if db.get_bind().dialect.name != "postgresql":
        return int(db.scalar(text(f"SELECT COALESCE(MAX(id), 0) + 1 FROM {table}")) or 1)
    if not count:
        return 1
    db.execute(text(f"LOCK TABLE {table} IN SHARE ROW EXCLUSIVE MODE"))
    sequence = f"pg_get_serial_sequence('{table}', 'id')"
    first = int(db.scalar(text(f"SELECT nextval({sequence})")) or 1)
    db.execute(text(f"SELECT setval({sequence}, :last)"), {"last": first + count - 1})
    return first


def _bulk_insert(db: Session, table: str, columns: str, rows: Sequence[Sequence[Any]]) -> None:
    """Rows (in ``columns``' order) into ``table``: COPY on PostgreSQL, executemany elsewhere."""
    if not rows:
        return
    if db.get_bind().dialect.name == "postgresql":
        driver: Any = db.connection().connection.dbapi_connection
        with (
            driver.cursor() as cursor,
            cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy,
        ):
            for row in rows:
                copy.write_row(row)
        return
    names = columns.split(", ")
    target = Contract.metadata.tables[table]
    assert isinstance(target, Table)
    db.execute(insert(target), [dict(zip(names, row, strict=True)) for row in rows])
