"""Abasto's own database as the flat input of the indicators.

A bid is read only once opened and matched to its public commitment (as the award reads it):
one flat bid per partida of an opened bid. Its status is the fallo's outcome — ``valid`` when
solvent (awarded or not), ``disqualified`` when not — and ``pending`` before the fallo. The
number of tenderers of a partida is known only after the opening; before it, it is unknown, so
no indicator can count sealed bids. Every tender is run by the coordinating buyer (the first
institution of kind «compra consolidada»), which processes name, as our OCDS does; a per-buyer
comparison has no peers then, and R038 compares buyers only when there are two or more.
Contracts name the institution that signs them.

After the fallo, the contracts made from it (``signed_contracts``: signatures against their
deadline, convenios against the original amount, penalties against the guarantee), their
received shipments (``deliveries``) and each supplier's fill rate as the contracts domain
computes it (``fill_rates``, orders due by the day given).
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from abasto.award.models import ContractDraft, Fallo, FalloLine, FalloOutcome
from abasto.catalog.models import Clave
from abasto.contracts import service as contracts_service
from abasto.contracts.models import (
    Contract,
    ContractLine,
    Convenio,
    Penalty,
    Shipment,
    ShipmentLot,
    SupplyOrder,
)
from abasto.demand.service import BUYER_KIND
from abasto.identity.models import Institution, Sanction, Supplier
from abasto.identity.rules import is_acquittal
from abasto.identity.sanctions import parse_term_months
from abasto.tendering import rules as tendering_rules
from abasto.tendering.models import Bid, BidLine, Partida, Tender
from abasto.tendering.service import MATCHES
from abasto.transparency.redflags.flat import Frames, table

SOLVENT = {"adjudicada", "solvente"}


def lot_id(number: str, partida: int) -> str:
    return f"{number}/{partida}"


def add_months(day: date, months: int) -> date:
    """The same day ``months`` later (the month's last day when it has fewer days)."""
    total = day.year * 12 + day.month - 1 + months
    year, month = divmod(total, 12)
    for last in (31, 30, 29, 28):
        try:
            return date(year, month + 1, min(day.day, last))
        except ValueError:
            continue
    raise ValueError(day)


def load(db: Session, *, as_of: date | None = None) -> Frames:
    """The flat tables of every published tender, its opened bids, fallo and contract drafts,
    and of the contracts made from them; the fill rate counts the orders due by ``as_of`` (none
    without it)."""
    tenders = db.execute(
        select(
            Tender.id,
            Tender.number,
            Tender.title,
            Tender.procedure,
            Tender.published_at,
            Tender.bid_deadline,
            Tender.opened_at,
        ).where(Tender.published_at.is_not(None))
    ).all()
    numbers = {t.id: t.number for t in tenders}
    # Every tender is run by the coordinating buyer, as its OCDS names it.
    buyer = db.execute(
        select(Institution.code, Institution.name)
        .where(Institution.kind == BUYER_KIND)
        .order_by(Institution.id)
        .limit(1)
    ).first()
    processes = [
        {
            "process_id": t.number,
            "title": t.title,
            "buyer_id": buyer.code if buyer else None,
            "buyer_name": buyer.name if buyer else None,
            "method": tendering_rules.procedure(t.procedure).ocds_method,
            "method_details": tendering_rules.procedure(t.procedure).label,
            "tender_start": t.published_at,
            "tender_end": t.bid_deadline,
        }
        for t in tenders
    ]
    opened = {t.id for t in tenders if t.opened_at is not None}

    partidas = db.execute(
        select(Partida.id, Partida.tender_id, Partida.number, Clave.clave).join(
            Clave, Clave.id == Partida.clave_id
        )
    ).all()
    partida_of = {p.id: p for p in partidas if p.tender_id in numbers}

    lines = db.execute(
        select(
            BidLine.bid_id,
            BidLine.partida_id,
            BidLine.partida_number,
            BidLine.unit_price,
            Bid.tender_id,
            Bid.submitted_at,
            Supplier.rfc,
        )
        .join(Bid, Bid.id == BidLine.bid_id)
        .join(Supplier, Supplier.id == Bid.supplier_id)
        .where(Bid.check == MATCHES)
    ).all()
    fallos = {
        f.tender_id: f for f in db.execute(select(Fallo.id, Fallo.tender_id, Fallo.issued_at))
    }
    outcomes = {
        (o.fallo_id, o.bid_id, o.partida_number): o
        for o in db.execute(
            select(
                FalloOutcome.fallo_id,
                FalloOutcome.bid_id,
                FalloOutcome.partida_number,
                FalloOutcome.outcome,
                FalloOutcome.reasons,
            )
        )
    }
    bidders: defaultdict[int, set[str]] = defaultdict(set)
    bids: list[dict[str, Any]] = []
    for b in lines:
        if b.tender_id not in numbers:
            continue
        bidders[b.partida_id].add(b.rfc)
        fallo = fallos.get(b.tender_id)
        outcome = outcomes.get((fallo.id, b.bid_id, b.partida_number)) if fallo else None
        status = (
            "pending"
            if outcome is None
            else ("valid" if outcome.outcome in SOLVENT else "disqualified")
        )
        bids.append(
            {
                "bid_id": f"{b.bid_id}/{b.partida_number}",
                "lot_id": lot_id(numbers[b.tender_id], b.partida_number),
                "tenderer_id": b.rfc,
                "tenderers": 1,
                "status": status,
                "submitted_at": b.submitted_at,
                "amount": b.unit_price,
                "currency": "MXN",
                "reason": "; ".join(outcome.reasons)
                if outcome is not None and status == "disqualified"
                else None,
            }
        )
    lots = [
        {
            "lot_id": lot_id(numbers[p.tender_id], p.number),
            "process_id": numbers[p.tender_id],
            "label": f"partida {p.number} ({p.clave})",
            "number_of_tenderers": len(bidders[p.id]) if p.tender_id in opened else None,
        }
        for p in partida_of.values()
    ]

    issued = {f.id: (f.tender_id, f.issued_at) for f in fallos.values()}
    awards: list[dict[str, Any]] = []
    items: list[dict[str, Any]] = []
    for a in db.execute(
        select(
            FalloLine.fallo_id,
            FalloLine.partida_id,
            FalloLine.partida_number,
            FalloLine.quantity,
            FalloLine.unit_price,
            FalloLine.reference_price,
            Supplier.rfc,
        ).join(Supplier, Supplier.id == FalloLine.supplier_id)
    ):
        tender_id, issued_at = issued[a.fallo_id]
        if tender_id not in numbers:
            continue
        award_id = f"{numbers[tender_id]}/{a.partida_number}/{a.rfc}"
        amount = a.unit_price * a.quantity
        awards.append(
            {
                "award_id": award_id,
                "lot_id": lot_id(numbers[tender_id], a.partida_number),
                "supplier_id": a.rfc,
                "suppliers": 1,
                "status": "active",
                "award_date": issued_at,
                "amount": amount,
                "currency": "MXN",
            }
        )
        items.append(
            {
                "award_id": award_id,
                "classification": partida_of[a.partida_id].clave,
                "quantity": float(a.quantity),
                "unit_price": a.unit_price,
                "amount": amount,
                "currency": "MXN",
                "reference_price": a.reference_price,
            }
        )

    contracts = [
        {
            "contract_id": f"{numbers[issued[c.fallo_id][0]]}/"
            f"{partida_of[c.partida_id].number}/{c.code}/{c.rfc}",
            "process_id": numbers[issued[c.fallo_id][0]],
            "buyer_id": c.code,
            "supplier_id": c.rfc,
            "amount": c.unit_price * c.max_qty,
            "currency": "MXN",
            "signed_at": issued[c.fallo_id][1],
        }
        for c in db.execute(
            select(
                ContractDraft.fallo_id,
                ContractDraft.partida_id,
                ContractDraft.max_qty,
                ContractDraft.unit_price,
                Institution.code,
                Supplier.rfc,
            )
            .join(Institution, Institution.id == ContractDraft.institution_id)
            .join(Supplier, Supplier.id == ContractDraft.supplier_id)
        )
        if issued[c.fallo_id][0] in numbers
    ]

    suppliers = db.execute(
        select(
            Supplier.rfc, Supplier.razon_social, Supplier.registered_on, Supplier.normalised_name
        )
    ).all()
    parties = [
        {"party_id": s.rfc, "name": s.razon_social, "registered_on": s.registered_on}
        for s in suppliers
    ]
    return Frames(
        currency="MXN",
        processes=table("processes", processes),
        lots=table("lots", lots),
        bids=table("bids", bids),
        awards=table("awards", awards),
        award_items=table("award_items", items),
        contracts=table("contracts", contracts),
        parties=table("parties", parties),
        sanctions=table("sanctions", _sanctions(db, {s.normalised_name: s.rfc for s in suppliers})),
        signed_contracts=table("signed_contracts", _signed_contracts(db)),
        deliveries=table("deliveries", _deliveries(db)),
        fill_rates=table(
            "fill_rates",
            [
                {
                    "supplier_id": row.key[0],
                    "ordered_due": row.ordered_due,
                    "on_time_accepted": row.on_time_accepted,
                }
                for row in (
                    contracts_service.fill_rates(db, by=["supplier"], as_of=as_of) if as_of else []
                )
            ],
        ),
    )


def _signed_contracts(db: Session) -> list[dict[str, Any]]:
    """Each contract with its amounts, convenios, signing deadline and the later of its two
    signatures (none until both signed), its guarantee and the penas charged (grouped in SQL)."""
    penas = (
        select(Penalty.contract_id, func.sum(Penalty.amount).label("amount"))
        .where(Penalty.kind == "pena")
        .group_by(Penalty.contract_id)
        .subquery()
    )
    convenios = (
        select(Convenio.contract_id, func.count().label("n"))
        .group_by(Convenio.contract_id)
        .subquery()
    )
    rows = db.execute(
        select(
            Contract.number,
            Tender.number.label("process"),
            Institution.code,
            Supplier.rfc,
            Contract.original_amount,
            Contract.max_amount,
            convenios.c.n,
            Contract.signing_deadline,
            Contract.institution_signed_at,
            Contract.supplier_signed_at,
            Contract.guarantee_amount,
            penas.c.amount,
        )
        .join(Tender, Tender.id == Contract.tender_id)
        .join(Institution, Institution.id == Contract.institution_id)
        .join(Supplier, Supplier.id == Contract.supplier_id)
        .outerjoin(penas, penas.c.contract_id == Contract.id)
        .outerjoin(convenios, convenios.c.contract_id == Contract.id)
        .order_by(Contract.id)
    )
    return [
        {
            "contract_id": r.number,
            "process_id": r.process,
            "buyer_id": r.code,
            "supplier_id": r.rfc,
            "currency": "MXN",
            "original_amount": r.original_amount,
            "max_amount": r.max_amount,
            "convenios": r.n or 0,
            "signing_deadline": r.signing_deadline,
            "signed_at": (
                max(r.institution_signed_at, r.supplier_signed_at)
                if r.institution_signed_at and r.supplier_signed_at
                else None
            ),
            "guarantee_amount": r.guarantee_amount,
            "penalties": Decimal(str(r.amount or 0)),
        }
        for r in rows
    ]


def _deliveries(db: Session) -> dict[str, list[Any]]:
    """Each received shipment: its order's due day and supplier, when it was received, and the
    pieces accepted and rejected (summed over its lots in SQL)."""
    rows = db.execute(
        select(
            Contract.number,
            SupplyOrder.number,
            Shipment.number,
            Supplier.rfc,
            ContractLine.clave,
            SupplyOrder.due_on,
            Shipment.received_at,
            func.sum(func.coalesce(ShipmentLot.accepted_qty, 0)),
            func.sum(func.coalesce(ShipmentLot.rejected_qty, 0)),
        )
        .join(SupplyOrder, SupplyOrder.id == Shipment.order_id)
        .join(ShipmentLot, ShipmentLot.shipment_id == Shipment.id)
        .join(Contract, Contract.id == SupplyOrder.contract_id)
        .join(ContractLine, ContractLine.id == SupplyOrder.line_id)
        .join(Supplier, Supplier.id == Contract.supplier_id)
        .where(Shipment.received_at.is_not(None))
        .group_by(
            Contract.number,
            SupplyOrder.number,
            Shipment.number,
            Supplier.rfc,
            ContractLine.clave,
            SupplyOrder.due_on,
            Shipment.received_at,
        )
    ).all()
    return {
        "delivery_id": [f"{r[0]}/orden-{r[1]}/envio-{r[2]}" for r in rows],
        "contract_id": [r[0] for r in rows],
        "supplier_id": [r[3] for r in rows],
        "clave": [r[4] for r in rows],
        "due_on": [r[5] for r in rows],
        "received_at": [r[6] for r in rows],
        "accepted": [int(r[7]) for r in rows],
        "rejected": [int(r[8]) for r in rows],
    }


def _sanctions(db: Session, rfc_by_name: dict[str, str]) -> list[dict[str, Any]]:
    """The list's rows naming a registered supplier (matched as identity matches them), dated:
    from the notification (else the resolution), for the published term when it reads; an
    unreadable or missing term leaves the end open. Acquittals bar nothing and are left out."""
    rows = []
    for s in db.scalars(select(Sanction).where(Sanction.normalised_name.in_(rfc_by_name))):
        if is_acquittal(s.resolution):
            continue
        starts = s.notified_on or s.resolved_on
        if starts is None:
            continue
        months = parse_term_months(s.term) if s.term else None
        rows.append(
            {
                "party_id": rfc_by_name[s.normalised_name],
                "starts_on": starts,
                "ends_on": add_months(starts, months) if months else None,
                "detail": " · ".join(
                    part for part in (s.resolution, s.term, s.agency, s.file_number) if part
                ),
            }
        )
    return rows
