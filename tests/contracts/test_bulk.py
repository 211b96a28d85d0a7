"""Orders and deliveries loaded in bulk (``service.load_orders``), on the real database: the
same figures as the one-by-one path of the end-to-end test, the same refusals, nothing written
when a row is refused, and the penalties' cap applied in the order the receipts happened."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from abasto.contracts import rules, service
from abasto.contracts.models import Penalty, Shipment, ShipmentLot, SupplyOrder
from abasto.core.errors import Forbidden, ValidationFailed
from abasto.core.ledger import LedgerEntry, verify
from tests.contracts.factories import FAR, Awarded, planner, signed, supplier
from tests.contracts.test_e2e import noon
from tests.tendering.conftest import ASPIRINA, NICOTINA, PARACETAMOL, World

REGISTRO = "123M2015 SSA"


def delivery(
    shipment: int,
    day: date,
    lot: str,
    accepted: int,
    rejected: int = 0,
    reason: str | None = None,
    expiry: date = FAR,
) -> service.DeliveryLine:
    return service.DeliveryLine(
        shipment, noon(day), lot, expiry, accepted, rejected, reason, REGISTRO
    )


def count(world: World, model: type) -> int:
    return int(world.db.scalar(select(func.count()).select_from(model)) or 0)


def test_a_bulk_load_charges_what_the_one_by_one_path_charges(world: World, fallo: Awarded) -> None:
    service.create_contracts(world.buyer(), tender_id=fallo.tender.id)
    imss_a = signed(world, "IMSS", "a")
    d0 = rules.local_day(world.now) + timedelta(days=1)
    world.clock.set(noon(d0 + timedelta(days=40)))
    due1, due2 = d0 + timedelta(days=20), d0 + timedelta(days=10)
    # The end-to-end test's orders 1 to 3 (tests/contracts/test_e2e.py), figures by hand there.
    loaded = service.load_orders(
        planner(world, "IMSS"),
        orders=[
            service.OrderRecord(
                imss_a.id,
                PARACETAMOL,
                "HGZ-1",
                400,
                noon(d0),
                due1,
                (
                    delivery(1, due1, "L1", 250),
                    delivery(1, due1, "L2", 100, 50, "danado"),
                    delivery(2, due1 + timedelta(days=4), "L3", 50),
                ),
            ),
            service.OrderRecord(
                imss_a.id,
                ASPIRINA,
                "UMF-7",
                300,
                noon(d0),
                due2,
                (
                    delivery(1, due2 + timedelta(days=3), "A1", 200),
                    delivery(1, due2 + timedelta(days=3), "A2", 100),
                ),
            ),
            service.OrderRecord(
                imss_a.id, PARACETAMOL, "HGZ-1", 100, noon(d0), d0 + timedelta(days=25)
            ),
        ],
    )
    assert (loaded.orders, loaded.shipments, loaded.lots, loaded.penalties) == (3, 3, 5, 3)
    one, two, three = world.db.scalars(
        select(SupplyOrder).where(SupplyOrder.contract_id == imss_a.id).order_by(SupplyOrder.number)
    )
    assert (one.number, two.number, three.number) == (1, 2, 3)
    assert (one.status, one.accepted_qty, one.on_time_qty, one.rejected_qty) == (
        rules.ORDER_SURTIDA,
        400,
        350,
        50,
    )
    assert (one.penalty, one.deductiva) == (Decimal("19.00"), Decimal("4.75"))
    assert (two.status, two.penalty, two.on_time_qty) == (rules.ORDER_SURTIDA, Decimal("171.00"), 0)
    assert (three.status, three.accepted_qty) == (rules.ORDER_EMITIDA, 0)
    penalties = service.penalties_of(planner(world, "IMSS"), imss_a)
    assert sorted((p.kind, p.days_late, p.amount) for p in penalties) == [
        ("deductiva", 0, Decimal("4.75")),
        ("pena", 3, Decimal("171.00")),
        ("pena", 4, Decimal("19.00")),
    ]
    lots = {x.lot: x for x in world.db.scalars(select(ShipmentLot))}
    assert (lots["L2"].quantity, lots["L2"].accepted_qty, lots["L2"].reason) == (150, 100, "danado")
    assert {s.status for s in world.db.scalars(select(Shipment))} == {"recibido"}
    [row] = service.fill_rates(world.db, by=["contract"], as_of=d0 + timedelta(days=40))
    assert (row.on_time_accepted, row.ordered_due) == (350, 800)
    # The maximum counts the loaded orders: 500 of 1,000 paracetamol are taken.
    assert {p.line.clave: p.remaining for p in service.progress(world.buyer(), imss_a)} == {
        PARACETAMOL: 500,
        ASPIRINA: 0,
    }
    [entry] = world.db.scalars(select(LedgerEntry).where(LedgerEntry.action == "order.load"))
    assert (entry.data()["orders"], entry.data()["penalty"]) == (3, "190.00")
    world.db.flush()
    assert verify(world.db.connection()).ok


def test_a_load_never_takes_a_line_above_its_maximum_and_writes_nothing(
    world: World, fallo: Awarded
) -> None:
    service.create_contracts(world.buyer(), tender_id=fallo.tender.id)
    imss_a = signed(world, "IMSS", "a")
    d0 = rules.local_day(world.now) + timedelta(days=1)
    world.clock.set(noon(d0))
    service.issue_order(
        planner(world, "IMSS"),
        contract_id=imss_a.id,
        clave=PARACETAMOL,
        quantity=600,
        unit_code="HGZ-1",
    )
    due = d0 + timedelta(days=20)
    orders = [
        service.OrderRecord(imss_a.id, PARACETAMOL, "HGZ-1", 300, noon(d0), due),
        service.OrderRecord(imss_a.id, PARACETAMOL, "UMF-7", 200, noon(d0), due),
    ]
    with pytest.raises(ValidationFailed) as refused:
        service.load_orders(planner(world, "IMSS"), orders=orders)
    [problem] = refused.value.problems
    assert problem.row == 2
    assert "900 piezas ya ordenadas + 200 = 1,100 superan el máximo contratado de 1,000" in (
        problem.message
    )
    assert count(world, SupplyOrder) == 1
    # What fits goes in.
    assert service.load_orders(planner(world, "IMSS"), orders=orders[:1]).orders == 1
    assert count(world, SupplyOrder) == 2


def test_a_load_refuses_what_the_one_by_one_path_refuses(world: World, fallo: Awarded) -> None:
    service.create_contracts(world.buyer(), tender_id=fallo.tender.id)
    imss_a = signed(world, "IMSS", "a")
    d0 = rules.local_day(world.now) + timedelta(days=1)
    world.clock.set(noon(d0 + timedelta(days=30)))
    due = d0 + timedelta(days=20)

    def order(*deliveries: service.DeliveryLine, unit: str = "HGZ-1") -> service.OrderRecord:
        return service.OrderRecord(imss_a.id, PARACETAMOL, unit, 100, noon(d0), due, deliveries)

    bad = [
        order(unit="HR-1"),  # ISSSTE's unit, not a delivery point of the contract
        order(delivery(1, due, "S1", 10, expiry=due + timedelta(days=100))),  # short shelf life
        order(delivery(1, due, "R1", 5, 5)),  # rejected with no reason
        order(delivery(1, due, "B1", 60), delivery(1, due, "B2", 50)),  # 110 of 100 shipped
        service.OrderRecord(imss_a.id, "999.999.9999.99", "HGZ-1", 1, noon(d0), due),
        service.OrderRecord(imss_a.id, PARACETAMOL, "HGZ-1", 1, noon(d0), d0 - timedelta(1)),
    ]
    with pytest.raises(ValidationFailed) as refused:
        service.load_orders(planner(world, "IMSS"), orders=bad)
    found = {(p.row, p.field) for p in refused.value.problems}
    assert found == {
        (1, "unit"),
        (2, "expiry"),
        (3, "reason"),
        (4, "quantity"),
        (5, "clave"),
        (6, "due_on"),
    }
    assert count(world, SupplyOrder) == count(world, ShipmentLot) == 0
    with pytest.raises(Forbidden):
        service.load_orders(supplier(world, "a"), orders=[order()])
    with pytest.raises(Forbidden):  # ISSSTE's planner, IMSS's contract
        service.load_orders(planner(world, "ISSSTE"), orders=[order()])


def test_the_penalties_cap_is_reached_in_the_order_receipts_happened(
    world: World, fallo: Awarded
) -> None:
    service.create_contracts(world.buyer(), tender_id=fallo.tender.id)
    sedena_b = signed(world, "SEDENA", "b")
    assert sedena_b.guarantee_amount == Decimal("91.20")
    d0 = rules.local_day(world.now) + timedelta(days=1)
    world.clock.set(noon(d0 + timedelta(days=60)))
    due = d0 + timedelta(days=5)
    # Listed first, received last: 10 × $48.00 × 1 % × 20 days = $96.00 computed, and only
    # what the earlier receipt left of the guarantee charged: $91.20 − $43.20 = $48.00.
    # The earlier: 9 × $48.00 × 1 % × 10 days = $43.20.
    service.load_orders(
        planner(world, "SEDENA"),
        orders=[
            service.OrderRecord(
                sedena_b.id,
                NICOTINA,
                "HCM-1",
                10,
                noon(d0),
                due,
                (delivery(1, due + timedelta(days=20), "N1", 10),),
            ),
            service.OrderRecord(
                sedena_b.id,
                NICOTINA,
                "HM-2",
                9,
                noon(d0),
                due,
                (delivery(1, due + timedelta(days=10), "N2", 9),),
            ),
        ],
    )
    charged = list(world.db.scalars(select(Penalty).order_by(Penalty.at)))
    assert [(p.computed, p.amount) for p in charged] == [
        (Decimal("43.20"), Decimal("43.20")),
        (Decimal("96.00"), Decimal("48.00")),
    ]
    assert sedena_b.penalties_at_cap
    assert (
        world.db.scalar(select(func.count()).where(LedgerEntry.action == "contract.penalty_cap"))
        == 1
    )


def defined_fill_rates(
    world: World, by: list[str], as_of: date
) -> dict[tuple[str, ...], tuple[int, int]]:
    """The fill rate by its definition, order by order in Python: pieces ordered and due by
    ``as_of`` (cancelled orders excepted) and those accepted on time, per group."""
    totals: dict[tuple[str, ...], tuple[int, int]] = {}
    for order in world.db.scalars(select(SupplyOrder)):
        if order.due_on > as_of or order.status == rules.ORDER_CANCELADA:
            continue
        values = {
            "supplier": order.contract.supplier.rfc,
            "contract": order.contract.number,
            "clave": order.line.clave,
            "institution": order.contract.institution.code,
            "state": order.unit.state_code or "",
            "month": order.due_on.strftime("%Y-%m"),
        }
        key = tuple(values[b] for b in by)
        due, on_time = totals.get(key, (0, 0))
        totals[key] = (due + order.quantity, on_time + order.on_time_qty)
    return totals


def test_the_national_report_s_query_is_the_fill_rate_s_definition(
    world: World, fallo: Awarded
) -> None:
    service.create_contracts(world.buyer(), tender_id=fallo.tender.id)
    imss_a = signed(world, "IMSS", "a")
    sedena_b = signed(world, "SEDENA", "b")
    issued = noon(date(2026, 11, 19))
    world.clock.set(noon(date(2027, 1, 15)))
    dec3, dec13, jan5 = date(2026, 12, 3), date(2026, 12, 13), date(2027, 1, 5)
    service.load_orders(
        world.buyer(),
        orders=[
            # December: 100 on time, 50 two days late.
            service.OrderRecord(
                imss_a.id,
                PARACETAMOL,
                "HGZ-1",
                100,
                issued,
                dec3,
                (delivery(1, dec3, "P1", 100),),
            ),
            service.OrderRecord(
                imss_a.id,
                PARACETAMOL,
                "UMF-7",
                50,
                issued,
                dec13,
                (delivery(1, dec13 + timedelta(days=2), "P2", 50),),
            ),
            # January: 20 of 30 aspirina the day before, nicotina never came.
            service.OrderRecord(
                imss_a.id,
                ASPIRINA,
                "HGZ-1",
                30,
                issued,
                jan5,
                (delivery(1, jan5 - timedelta(1), "A1", 20),),
            ),
            service.OrderRecord(sedena_b.id, NICOTINA, "HCM-1", 10, issued, date(2027, 1, 6)),
            # Due after the report's day: not counted.
            service.OrderRecord(imss_a.id, PARACETAMOL, "HGZ-1", 40, issued, date(2027, 1, 20)),
        ],
    )
    as_of = date(2027, 1, 10)
    a, b = world.suppliers["a"].rfc, world.suppliers["b"].rfc
    national = service.fill_rates(world.db, by=["supplier", "clave", "month"], as_of=as_of)
    assert {r.key: (r.ordered_due, r.on_time_accepted) for r in national} == {
        (a, PARACETAMOL, "2026-12"): (150, 100),
        (a, ASPIRINA, "2027-01"): (30, 20),
        (b, NICOTINA, "2027-01"): (10, 0),
    }
    assert [r.key for r in national] == sorted(r.key for r in national)
    for by in (
        *([d] for d in service.FILL_DIMENSIONS),
        ["institution", "state", "month"],
        ["contract", "clave"],
        [],
    ):
        found = {
            r.key: (r.ordered_due, r.on_time_accepted)
            for r in service.fill_rates(world.db, by=by, as_of=as_of)
        }
        assert found == defined_fill_rates(world, by, as_of), by
    [mine] = service.fill_rates(
        world.db, by=["month"], as_of=as_of, supplier_id=world.suppliers["b"].id
    )
    assert (mine.key, mine.ordered_due) == (("2027-01",), 10)
