"""From the fallo to the warehouse, on the real database: contracts signed by both parties with
their guarantee, orders, partial, late and rejected deliveries, penalties to the centavo against
figures computed by hand, and the fill rate."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select

from abasto.contracts import rules, service
from abasto.contracts.models import Penalty
from abasto.core.errors import Conflict
from abasto.core.ledger import LedgerEntry, verify
from abasto.inventory import service as inventory
from tests.contracts.factories import Awarded, lots, planner, signed, supplier
from tests.tendering.conftest import ASPIRINA, NICOTINA, PARACETAMOL, World


def noon(day: date) -> datetime:
    """Noon of the day in Mexico City (UTC−6)."""
    return datetime(day.year, day.month, day.day, 18, 0, tzinfo=UTC)


def test_fallo_to_fill_rate(world: World, fallo: Awarded) -> None:
    service.create_contracts(world.buyer(), tender_id=fallo.tender.id)
    imss_a = signed(world, "IMSS", "a")
    sedena_b = signed(world, "SEDENA", "b")
    assert imss_a.guarantee_amount == Decimal("1520.00")
    # 19 nicotina × $48.00 = $912.00; its guarantee is $91.20, the cap of its penalties.
    assert sedena_b.max_amount == Decimal("912.00")
    assert sedena_b.guarantee_amount == Decimal("91.20")

    d0 = rules.local_day(world.now) + timedelta(days=1)
    world.clock.set(noon(d0))
    imss, sedena, a, b = (
        planner(world, "IMSS"),
        planner(world, "SEDENA"),
        supplier(world, "a"),
        supplier(world, "b"),
    )

    # Order 1: 400 paracetamol, due in 20 natural days.
    one = service.issue_order(
        imss, contract_id=imss_a.id, clave=PARACETAMOL, quantity=400, unit_code="HGZ-1"
    )
    assert one.due_on == d0 + timedelta(days=20)
    # Order 2: the whole 300 aspirina, due in 10 days.
    two = service.issue_order(
        imss,
        contract_id=imss_a.id,
        clave=ASPIRINA,
        quantity=300,
        unit_code="UMF-7",
        due_on=d0 + timedelta(days=10),
    )
    with pytest.raises(Conflict) as over:
        service.issue_order(
            imss, contract_id=imss_a.id, clave=ASPIRINA, quantity=1, unit_code="UMF-7"
        )
    assert "300 piezas ya ordenadas" in str(over.value)
    three = service.issue_order(
        imss,
        contract_id=imss_a.id,
        clave=PARACETAMOL,
        quantity=100,
        unit_code="HGZ-1",
        due_on=d0 + timedelta(days=25),
    )
    four = service.issue_order(
        sedena,
        contract_id=sedena_b.id,
        clave=NICOTINA,
        quantity=19,
        unit_code="HCM-1",
        due_on=d0 + timedelta(days=5),
    )
    for order, who in ((one, a), (two, a), (three, a), (four, b)):
        service.confirm_order(who, order_id=order.id)

    # Order 1, first shipment, received on its due day: L1 whole, L2 with 50 damaged.
    first = service.record_shipment(a, order_id=one.id, lots=lots(("L1", 250), ("L2", 150)))
    world.clock.set(noon(one.due_on))
    service.receive_shipment(
        planner(world, "IMSS"),
        shipment_id=first.id,
        lots=[service.LotReceipt("L1", 250), service.LotReceipt("L2", 100, 50, "danado")],
    )
    assert (one.accepted_qty, one.on_time_qty, one.rejected_qty) == (350, 350, 50)
    assert one.status == rules.ORDER_CONFIRMADA  # partial: 50 still lacking
    # Deductiva: 50 × $9.50 = $475.00 × 1 % = $4.75; no pena, it came on time.
    assert (one.penalty, one.deductiva) == (Decimal("0"), Decimal("4.75"))

    # The 50 replaced, received 4 days late: pena 50 × $9.50 × 1 % × 4 = $19.00.
    second = service.record_shipment(supplier(world, "a"), order_id=one.id, lots=lots(("L3", 50)))
    world.clock.set(noon(one.due_on + timedelta(days=4)))
    service.receive_shipment(
        planner(world, "IMSS"), shipment_id=second.id, lots=[service.LotReceipt("L3", 50)]
    )
    assert one.status == rules.ORDER_SURTIDA
    assert (one.accepted_qty, one.on_time_qty) == (400, 350)
    assert one.penalty == Decimal("19.00")

    # Order 2 (due day 10), received on day 13 whole: 300 × $19.00 × 1 % × 3 = $171.00.
    world.clock.set(noon(d0 + timedelta(days=2)))
    late = service.record_shipment(
        supplier(world, "a"), order_id=two.id, lots=lots(("A1", 200), ("A2", 100))
    )
    world.clock.set(noon(two.due_on + timedelta(days=3)))
    service.receive_shipment(
        planner(world, "IMSS"),
        shipment_id=late.id,
        lots=[service.LotReceipt("A1", 200), service.LotReceipt("A2", 100)],
    )
    assert two.penalty == Decimal("171.00")
    assert two.on_time_qty == 0

    # Order 4 (due day 5) received 20 days late: 19 × $48.00 × 1 % × 20 = $182.40, capped at
    # the guarantee's $91.20; the contract is marked for rescisión.
    nic = service.record_shipment(supplier(world, "b"), order_id=four.id, lots=lots(("N1", 19)))
    world.clock.set(noon(four.due_on + timedelta(days=20)))
    service.receive_shipment(
        planner(world, "SEDENA"), shipment_id=nic.id, lots=[service.LotReceipt("N1", 19)]
    )
    charged = world.db.scalars(select(Penalty).where(Penalty.order_id == four.id)).one()
    assert (charged.computed, charged.amount) == (Decimal("182.40"), Decimal("91.20"))
    assert sedena_b.penalties_at_cap

    # What the units accepted is on their shelves (issue 17): HGZ-1 holds order 1's 400
    # accepted paracetamol in its three lots, UMF-7 order 2's 300 aspirina; the 50 damaged
    # pieces never reach the shelf.
    hgz = inventory.get_unit(world.db, "IMSS", "HGZ-1")
    (shelf,) = inventory.unit_stock(world.db, hgz, clave=PARACETAMOL)
    assert (shelf.on_hand, sorted(x.lot for x in shelf.lots)) == (400, ["L1", "L2", "L3"])
    l3 = next(x for x in shelf.lots if x.lot == "L3")
    (aspirina,) = inventory.unit_stock(
        world.db, inventory.get_unit(world.db, "IMSS", "UMF-7"), clave=ASPIRINA
    )
    assert aspirina.on_hand == 300
    with pytest.raises(Conflict):  # a receipt never posts twice
        inventory.receive(
            planner(world, "IMSS"),
            unit=hgz,
            lines=[inventory.ReceiptLine(PARACETAMOL, "L3", l3.expiry, 50)],
            source=f"receipt:{second.id}",
        )

    penalties = service.penalties_of(planner(world, "IMSS"), imss_a)
    assert [(p.kind, p.days_late, p.amount) for p in penalties] == [
        ("deductiva", 0, Decimal("4.75")),
        ("pena", 4, Decimal("19.00")),
        ("pena", 3, Decimal("171.00")),
    ]

    # Order 3 (100, due day 25) was never delivered: due, and not on time.
    as_of = d0 + timedelta(days=40)
    by_contract = {r.key: r for r in service.fill_rates(world.db, by=["contract"], as_of=as_of)}
    row = by_contract[(imss_a.number,)]
    assert (row.on_time_accepted, row.ordered_due) == (350, 800)
    assert row.rate == Decimal("0.4375")
    by_supplier = {
        r.key: r.rate for r in service.fill_rates(world.db, by=["supplier"], as_of=as_of)
    }
    assert by_supplier == {
        (world.suppliers["a"].rfc,): Decimal("0.4375"),
        (world.suppliers["b"].rfc,): Decimal(0),
    }
    # Before order 3 was due, only orders 1 and 2 count: 350 of 700.
    early = service.fill_rates(
        world.db, by=["clave"], as_of=d0 + timedelta(days=24), contract_id=imss_a.id
    )
    assert {r.key: (r.on_time_accepted, r.ordered_due) for r in early} == {
        (ASPIRINA,): (0, 300),
        (PARACETAMOL,): (350, 400),
    }
    assert three.accepted_qty == 0

    receipts = list(
        world.db.scalars(select(LedgerEntry).where(LedgerEntry.action == "shipment.receive"))
    )
    assert len(receipts) == 4
    assert all(len(e.data()["receipt_sha256"]) == 64 for e in receipts)
    world.db.flush()
    assert verify(world.db.connection()).ok
