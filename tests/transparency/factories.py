"""What happens after the purchases' first fallo, through the services: its contracts (one
signed with its guarantee and amended), an order delivered late in two lots with pieces
rejected, its penalties; a tender's clarification questions and amendment; a unit with stock and
the day's indicators; the red flags. The open data tables are checked against it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from abasto.contracts import rules
from abasto.contracts import service as contracts
from abasto.contracts.models import Contract, Convenio, Shipment, SupplyOrder
from abasto.identity import service as identity
from abasto.inventory import service as inventory
from abasto.tendering import service as tendering
from abasto.tendering.models import Tender
from abasto.transparency.redflags import service as redflags
from tests.contracts.factories import lots, planner, signed, supplier
from tests.tendering.conftest import PARACETAMOL
from tests.transparency.conftest import Purchases

UNIT = identity.UnitSpec(
    "HGZ-9", "Hospital General de Zona 9", "hospital", "09", latitude=Decimal("19.432608")
)
ORDERED = 100
ACCEPTED = {"L1": 60, "L2": 30}
REJECTED = ("L2", 10, "danado")
DAYS_LATE = 2
# Received 2 days late with 10 damaged: pena 90 × $9.50 × 1 % × 2 = $17.10, deductiva
# 10 × $9.50 × 1 % = $0.95 (as tests/contracts/test_api.py computes them).
PENA, DEDUCTIVA = Decimal("17.10"), Decimal("0.95")
AMENDED_MAX = 1_100
"""IMSS's paracetamol maximum after the convenio (1,000 contracted: +10 %)."""
ANSWERED = ("¿Se aceptan cajas de 20 tabletas?", "Sí, en cajas de 10 o de 20 tabletas.")
UNANSWERED = "¿Puede entregarse en el almacén central?"


@dataclass(frozen=True)
class AfterFallo:
    contract: Contract
    """IMSS × «a», signed by both with its guarantee, amended once."""
    order: SupplyOrder
    shipment: Shipment
    convenio: Convenio
    tender: Tender
    """Published, with one question answered, one not, and one amendment."""


def noon(day: date) -> datetime:
    """Noon of the day in Mexico City (UTC−6)."""
    return datetime(day.year, day.month, day.day, 18, 0, tzinfo=UTC)


def after_the_fallo(purchases: Purchases) -> AfterFallo:
    world = purchases.world
    identity.add_unit(world.buyer(), institution_code="IMSS", unit=UNIT)
    contracts.create_contracts(world.buyer(), tender_id=purchases.first.tender.id)
    contract = signed(world, "IMSS", "a")

    due = rules.local_day(world.now) + timedelta(days=5)
    order = contracts.issue_order(
        planner(world, "IMSS"),
        contract_id=contract.id,
        clave=PARACETAMOL,
        quantity=ORDERED,
        unit_code=UNIT.code,
        due_on=due,
    )
    contracts.confirm_order(supplier(world, "a"), order_id=order.id)
    shipment = contracts.record_shipment(
        supplier(world, "a"), order_id=order.id, lots=lots(("L1", 60), ("L2", 40))
    )
    world.clock.set(noon(due + timedelta(days=DAYS_LATE)))
    lot, rejected, reason = REJECTED
    contracts.receive_shipment(
        planner(world, "IMSS"),
        shipment_id=shipment.id,
        lots=[
            contracts.LotReceipt("L1", ACCEPTED["L1"]),
            contracts.LotReceipt(lot, ACCEPTED[lot], rejected, reason, note="Cajas mojadas"),
        ],
    )
    convenio = contracts.modify(
        planner(world, "IMSS"),
        contract_id=contract.id,
        reason="Aumento de la demanda de paracetamol",
        max_qty={PARACETAMOL: AMENDED_MAX},
    )

    tender = world.tender()
    asked = tendering.ask_question(
        world.as_supplier("b"), tender_id=tender.id, text=ANSWERED[0], partida=1
    )
    tendering.answer_question(
        world.buyer(), tender_id=tender.id, number=asked.number, answer=ANSWERED[1]
    )
    tendering.ask_question(world.as_supplier("c"), tender_id=tender.id, text=UNANSWERED)
    tendering.amend_tender(
        world.buyer(),
        tender_id=tender.id,
        description="Se amplía el plazo de presentación de proposiciones.",
        bid_deadline=tender.bid_deadline + timedelta(days=1),
        opening_at=tender.opening_at + timedelta(days=1),
        fallo_at=tender.fallo_at + timedelta(days=1),
    )

    inventory.snapshot(world.buyer())
    redflags.refresh(world.buyer())
    world.db.flush()
    return AfterFallo(contract, order, shipment, convenio, tender)
