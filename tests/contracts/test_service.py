"""Contracts on the real database: from the fallo's drafts to signing, guarantee, convenios,
orders, shipments, receipts, penalties and the fill rate."""

from __future__ import annotations

import hashlib
from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import delete, func, select

from abasto.award import service as award
from abasto.award.models import ContractDraft
from abasto.contracts import rules, service
from abasto.contracts.models import Contract
from abasto.core.errors import Conflict, Forbidden, ValidationFailed
from abasto.core.ledger import LedgerEntry
from tests.contracts.factories import (
    Awarded,
    awarded,
    contract_of,
    lots,
    planner,
    signed,
    supplier,
)
from tests.tendering.conftest import ASPIRINA, NICOTINA, PARACETAMOL, World


def entries(world: World, contract: Contract, action: str) -> list[LedgerEntry]:
    return list(
        world.db.scalars(
            select(LedgerEntry)
            .where(LedgerEntry.entity == f"contract:{contract.id}", LedgerEntry.action == action)
            .order_by(LedgerEntry.seq)
        )
    )


def test_the_fallo_s_drafts_become_one_contract_per_institution_and_supplier(
    world: World, fallo: Awarded
) -> None:
    made = service.create_contracts(world.buyer(), tender_id=fallo.tender.id)

    drafts = award.contract_drafts(world.db, award.get_fallo(world.db, fallo.tender.id))
    pairs = {(d.institution_id, d.supplier_id) for d in drafts}
    assert {(c.institution_id, c.supplier_id) for c in made} == pairs
    assert len(made) == len(pairs) == 5
    assert len({c.number for c in made}) == 5
    imss_a = contract_of(world, "IMSS", "a")
    assert imss_a.status == rules.BORRADOR
    assert {(x.clave, x.max_qty, x.unit_price) for x in imss_a.lines} == {
        (PARACETAMOL, 1000, Decimal("9.50")),
        (ASPIRINA, 300, Decimal("19.00")),
    }
    assert all(0 < x.min_qty <= x.max_qty for x in imss_a.lines)
    # 1,000 × 9.50 + 300 × 19.00 = 15,200.00; the guarantee is 10 % of it.
    assert imss_a.max_amount == Decimal("15200.00")
    assert imss_a.guarantee_amount == Decimal("1520.00")
    assert sorted(p.unit.code for p in imss_a.points) == ["HGZ-1", "UMF-7"]
    fallo_row = award.get_fallo(world.db, fallo.tender.id)
    assert imss_a.signing_deadline == rules.signing_deadline(fallo_row.issued_at)
    assert len(entries(world, imss_a, "contract.create")) == 1
    with pytest.raises(Conflict):
        service.create_contracts(world.buyer(), tender_id=fallo.tender.id)


def test_only_the_buyer_formalises_a_fallo(world: World, fallo: Awarded) -> None:
    with pytest.raises(Forbidden):
        service.create_contracts(planner(world, "IMSS"), tender_id=fallo.tender.id)


def test_a_fallo_that_awarded_nothing_has_no_contracts_to_make(
    world: World, fallo: Awarded
) -> None:
    """Every partida desierta: a conflict that says so (the API fuzz found a 500 here)."""
    world.db.execute(delete(ContractDraft))
    with pytest.raises(Conflict, match="no adjudicó ninguna partida"):
        service.create_contracts(world.buyer(), tender_id=fallo.tender.id)
    assert world.db.scalar(select(func.count()).select_from(Contract)) == 0


def test_both_parties_sign_the_same_document_and_the_guarantee_makes_it_vigente(
    world: World, fallo: Awarded
) -> None:
    service.create_contracts(world.buyer(), tender_id=fallo.tender.id)
    contract = contract_of(world, "IMSS", "a")
    pdf = service.contract_pdf(world.buyer(), contract)
    assert pdf.startswith(b"%PDF")
    assert pdf == service.contract_pdf(world.buyer(), contract)

    with pytest.raises(Conflict):  # the supplier signs after the institution
        service.sign(supplier(world, "a"), contract_id=contract.id, party="proveedor")
    with pytest.raises(Forbidden):  # another institution's planner
        service.sign(planner(world, "ISSSTE"), contract_id=contract.id, party="institucion")
    service.sign(planner(world, "IMSS"), contract_id=contract.id, party="institucion")
    with pytest.raises(Forbidden):  # another supplier
        service.sign(supplier(world, "b"), contract_id=contract.id, party="proveedor")
    service.sign(supplier(world, "a"), contract_id=contract.id, party="proveedor")

    assert contract.status == rules.FIRMADO_PROVEEDOR
    assert contract.document_sha256 == hashlib.sha256(pdf).hexdigest()
    assert contract.institution_signed_by == "usuario:plan.imss"
    assert contract.supplier_signed_by == "usuario:prov.a"
    assert not contract.signed_late
    signatures = entries(world, contract, "contract.sign")
    assert [e.data()["document_sha256"] for e in signatures] == [contract.document_sha256] * 2
    with pytest.raises(Conflict):  # no orders before it is vigente
        service.issue_order(
            planner(world, "IMSS"),
            contract_id=contract.id,
            clave=PARACETAMOL,
            quantity=1,
            unit_code="HGZ-1",
        )
    with pytest.raises(ValidationFailed):
        service.record_guarantee(
            supplier(world, "a"), contract_id=contract.id, issuer=" ", document_ref=""
        )
    service.record_guarantee(
        supplier(world, "a"), contract_id=contract.id, issuer="Afianzadora", document_ref="Póliza 1"
    )
    assert contract.status == rules.VIGENTE
    assert len(entries(world, contract, "contract.effective")) == 1


def test_a_contract_signed_after_fifteen_days_is_flagged_late(world: World, fallo: Awarded) -> None:
    service.create_contracts(world.buyer(), tender_id=fallo.tender.id)
    contract = contract_of(world, "ISSSTE", "a")
    deadline = contract.signing_deadline
    # Noon of the deadline day in Mexico City is on time; the next day is late.
    world.clock.set(
        world.now.replace(year=deadline.year, month=deadline.month, day=deadline.day, hour=18)
    )
    service.sign(planner(world, "ISSSTE"), contract_id=contract.id, party="institucion")
    assert not contract.signed_late
    world.clock.advance(timedelta(days=1))
    service.sign(supplier(world, "a"), contract_id=contract.id, party="proveedor")
    assert contract.signed_late
    assert entries(world, contract, "contract.sign")[-1].data()["late"] is True


def test_an_exempted_guarantee_needs_its_reason(world: World, fallo: Awarded) -> None:
    service.create_contracts(world.buyer(), tender_id=fallo.tender.id)
    contract = signed(world, "SEDENA", "b", guarantee=False)
    assert contract.status == rules.FIRMADO_PROVEEDOR
    with pytest.raises(ValidationFailed):
        service.exempt_guarantee(planner(world, "SEDENA"), contract_id=contract.id, reason=" ")
    with pytest.raises(Forbidden):
        service.exempt_guarantee(supplier(world, "b"), contract_id=contract.id, reason="x")
    service.exempt_guarantee(
        planner(world, "SEDENA"), contract_id=contract.id, reason="LAASSP art. 48, último párrafo"
    )
    assert contract.status == rules.VIGENTE


def test_convenios_add_at_most_twenty_percent_in_total(world: World, fallo: Awarded) -> None:
    service.create_contracts(world.buyer(), tender_id=fallo.tender.id)
    contract = signed(world, "IMSS", "a")
    imss = planner(world, "IMSS")
    first = service.modify(
        imss, contract_id=contract.id, reason="Mayor consumo invernal", max_qty={PARACETAMOL: 1100}
    )
    assert first.amount_before == Decimal("15200.00")
    assert first.amount_after == Decimal("16150.00")
    with pytest.raises(ValidationFailed) as refused:
        service.modify(
            imss, contract_id=contract.id, reason="Otra ampliación", max_qty={PARACETAMOL: 1201}
        )
    text = str(refused.value)
    assert "1,201" in text
    assert "1,200" in text
    service.modify(imss, contract_id=contract.id, reason="Tope exacto", max_qty={PARACETAMOL: 1200})
    assert contract.max_amount == Decimal("17100.00")
    term = (contract.ends_on - contract.starts_on).days + 1
    with pytest.raises(ValidationFailed):
        service.modify(
            imss,
            contract_id=contract.id,
            reason="Plazo",
            ends_on=contract.starts_on + timedelta(days=term + term // 5),
        )
    service.modify(
        imss,
        contract_id=contract.id,
        reason="Plazo",
        ends_on=contract.starts_on + timedelta(days=term + term // 5 - 1),
    )
    assert len(entries(world, contract, "contract.amend")) == 3
    with pytest.raises(ValidationFailed):
        service.modify(imss, contract_id=contract.id, reason="", max_qty={PARACETAMOL: 1200})


def test_an_order_never_takes_a_line_above_its_maximum(world: World, fallo: Awarded) -> None:
    service.create_contracts(world.buyer(), tender_id=fallo.tender.id)
    contract = signed(world, "IMSS", "a")
    imss = planner(world, "IMSS")
    service.issue_order(
        imss, contract_id=contract.id, clave=ASPIRINA, quantity=250, unit_code="HGZ-1"
    )
    with pytest.raises(Conflict) as refused:
        service.issue_order(
            imss, contract_id=contract.id, clave=ASPIRINA, quantity=51, unit_code="UMF-7"
        )
    assert "quedan 50" in str(refused.value)
    service.issue_order(
        imss, contract_id=contract.id, clave=ASPIRINA, quantity=50, unit_code="umf-7"
    )
    progress = {p.line.clave: p for p in service.progress(imss, contract)}
    assert progress[ASPIRINA].remaining == 0
    assert progress[ASPIRINA].minimum_progress == 1
    with pytest.raises(ValidationFailed):  # a unit that is not a delivery point
        service.issue_order(
            imss, contract_id=contract.id, clave=PARACETAMOL, quantity=1, unit_code="HR-1"
        )
    with pytest.raises(Forbidden):
        service.issue_order(
            planner(world, "ISSSTE"),
            contract_id=contract.id,
            clave=PARACETAMOL,
            quantity=1,
            unit_code="HGZ-1",
        )
    with pytest.raises(ValidationFailed):
        service.issue_order(
            imss, contract_id=contract.id, clave=NICOTINA, quantity=1, unit_code="HGZ-1"
        )


def test_a_lot_with_short_shelf_life_is_not_accepted(world: World, fallo: Awarded) -> None:
    service.create_contracts(world.buyer(), tender_id=fallo.tender.id)
    contract = signed(world, "IMSS", "a")
    order = service.issue_order(
        planner(world, "IMSS"),
        contract_id=contract.id,
        clave=PARACETAMOL,
        quantity=10,
        unit_code="HGZ-1",
    )
    service.confirm_order(supplier(world, "a"), order_id=order.id)
    today = rules.local_day(world.now)
    short = rules.add_months(today, 12) - timedelta(days=1)
    shipment = service.record_shipment(
        supplier(world, "a"), order_id=order.id, lots=lots(("L-CORTO", 10), expiry=short)
    )
    with pytest.raises(ValidationFailed) as refused:
        service.receive_shipment(
            planner(world, "IMSS"),
            shipment_id=shipment.id,
            lots=[service.LotReceipt("L-CORTO", 10)],
        )
    assert "12 meses" in str(refused.value)
    service.receive_shipment(
        planner(world, "IMSS"),
        shipment_id=shipment.id,
        lots=[service.LotReceipt("L-CORTO", 0, 10, "caducidad_corta")],
    )
    assert order.rejected_qty == 10
    assert order.accepted_qty == 0
    # The deductiva: 10 × 9.50 = 95.00 × 1 % = 0.95.
    assert order.deductiva == Decimal("0.95")


def test_the_supplier_never_ships_more_than_the_order_lacks(world: World, fallo: Awarded) -> None:
    service.create_contracts(world.buyer(), tender_id=fallo.tender.id)
    contract = signed(world, "IMSS", "a")
    order = service.issue_order(
        planner(world, "IMSS"),
        contract_id=contract.id,
        clave=PARACETAMOL,
        quantity=100,
        unit_code="HGZ-1",
    )
    with pytest.raises(Conflict):  # not confirmed yet
        service.record_shipment(supplier(world, "a"), order_id=order.id, lots=lots(("L1", 10)))
    with pytest.raises(Forbidden):
        service.confirm_order(supplier(world, "b"), order_id=order.id)
    service.confirm_order(supplier(world, "a"), order_id=order.id)
    service.record_shipment(supplier(world, "a"), order_id=order.id, lots=lots(("L1", 60)))
    with pytest.raises(ValidationFailed) as refused:
        service.record_shipment(supplier(world, "a"), order_id=order.id, lots=lots(("L2", 41)))
    assert "a lo más 40" in str(refused.value)


def test_the_tender_s_terms_become_the_contract_s(world: World) -> None:
    fallo = awarded(world, {"guarantee_rate": "0.05", "signing_days": 10, "delivery_days": 7})
    service.create_contracts(world.buyer(), tender_id=fallo.tender.id)
    contract = contract_of(world, "IMSS", "a")
    # 5 % of $15,200.00.
    assert contract.guarantee_amount == Decimal("760.00")
    notice = award.get_fallo(world.db, fallo.tender.id).issued_at
    assert contract.signing_deadline == rules.local_day(notice) + timedelta(days=10)
    signed(world, "IMSS", "a")
    order = service.issue_order(
        planner(world, "IMSS"),
        contract_id=contract.id,
        clave=PARACETAMOL,
        quantity=1,
        unit_code="HGZ-1",
    )
    assert order.due_on == rules.local_day(world.now) + timedelta(days=7)


def test_an_order_closed_short_charges_a_deductiva_for_what_never_came(
    world: World, fallo: Awarded
) -> None:
    service.create_contracts(world.buyer(), tender_id=fallo.tender.id)
    contract = signed(world, "IMSS", "a")
    imss = planner(world, "IMSS")
    order = service.issue_order(
        imss, contract_id=contract.id, clave=PARACETAMOL, quantity=100, unit_code="HGZ-1"
    )
    service.confirm_order(supplier(world, "a"), order_id=order.id)
    shipment = service.record_shipment(
        supplier(world, "a"), order_id=order.id, lots=lots(("L1", 60))
    )
    with pytest.raises(ValidationFailed):  # in time, and a shipment on its way
        service.close_short(planner(world, "IMSS"), order_id=order.id, reason="Faltante")
    service.receive_shipment(
        planner(world, "IMSS"), shipment_id=shipment.id, lots=[service.LotReceipt("L1", 60)]
    )
    world.clock.advance(timedelta(days=rules.DELIVERY_DAYS + 1))
    with pytest.raises(Forbidden):
        service.close_short(supplier(world, "a"), order_id=order.id, reason="Faltante")
    service.close_short(planner(world, "IMSS"), order_id=order.id, reason="Faltante")
    # 40 pieces never came: 40 × $9.50 = $380.00 × 1 % = $3.80.
    assert order.deductiva == Decimal("3.80")
    assert order.status == rules.ORDER_CERRADA
    [row] = service.fill_rates(world.db, by=["contract"], as_of=rules.local_day(world.now))
    assert (row.on_time_accepted, row.ordered_due) == (60, 100)
