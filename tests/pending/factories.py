"""A world where every role has something to do, built through the services.

On the contracts tests' awarded tender (``tests.contracts.factories.awarded``): the contracts
made, ISSSTE's with «a» signed by ISSSTE (so «a» must sign it), SEDENA's with «b» vigente with
one order (so «b» must confirm it); a second tender opened and not evaluated (the evaluator's
queue); a third published and live, where «a» asked a question and «b» sealed a bid; and a
demand round «2029» open to IMSS with a deadline.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from abasto.contracts import service as contracts
from abasto.demand import service as demand
from abasto.tendering import service as tendering
from abasto.tendering.models import Tender
from tests.award.test_service import opened_tender
from tests.contracts.factories import awarded, contract_of, planner, signed
from tests.tendering.conftest import NICOTINA, World

ROUND = "2029"


@dataclass(frozen=True, slots=True)
class Busy:
    awarded: Tender
    to_evaluate: Tender
    live: Tender
    to_sign_imss: list[int]
    to_sign_a: int
    order_b: int
    bid_b: str


def busy(world: World) -> Busy:
    done = awarded(world).tender
    contracts.create_contracts(world.buyer(), tender_id=done.id)
    to_sign_a = contract_of(world, "ISSSTE", "a").id
    contracts.sign(planner(world, "ISSSTE"), contract_id=to_sign_a, party="institucion")
    vigente = signed(world, "SEDENA", "b")
    order = contracts.issue_order(
        planner(world, "SEDENA"),
        contract_id=vigente.id,
        clave=NICOTINA,
        quantity=2,
        unit_code="HCM-1",
    )
    to_evaluate = opened_tender(world, {"a": {1: "10.00"}, "b": {1: "11.00"}}).tender
    live = world.tender()
    tendering.ask_question(
        world.as_supplier("a"), tender_id=live.id, text="¿Se aceptan presentaciones de 20?"
    )
    bid = world.bid("b", live, {1: "12.00"})
    demand.open_round(
        world.buyer(),
        name=ROUND,
        periods=["2029"],
        institutions=["IMSS"],
        deadline=world.now + timedelta(days=30),
    )
    return Busy(
        done,
        to_evaluate,
        live,
        [contract_of(world, "IMSS", "a").id, contract_of(world, "IMSS", "b").id],
        to_sign_a,
        order.id,
        bid.bid_id,
    )
