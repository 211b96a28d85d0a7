"""From a demand round to the contract drafts, through the services, in every award mode."""

from __future__ import annotations

from decimal import Decimal

import pytest
from sqlalchemy import select

from abasto.award import rules, service
from abasto.award.models import FalloOutcome
from abasto.core import ledger
from abasto.identity.models import Institution
from abasto.tendering import rules as tendering_rules
from abasto.tendering import service as tendering
from tests.award.test_service import (
    DEMAND,
    MODES,
    NOT_VALID,
    ROUND,
    Offer,
    Opened,
    assert_drafts_apportion_the_award,
    by_clave,
    evaluator,
    frozen_round,
    import_references,
    numbers,
    stored_award,
    submit,
    verdicts_with,
)
from tests.tendering import conftest as tendering_world
from tests.tendering.conftest import ASPIRINA, NICOTINA, PARACETAMOL, World, plan_for

world = tendering_world.world
cheap_passwords = tendering_world.cheap_passwords

# Paracetamol (1,751 pieces): «a», «b» and «c» within 10 % of the lowest (a split 60/40 goes to
# the first two). Aspirina (470): «a» offers 300 only, «d» the rest within the margin.
# Nicotina (60): «d» is cheapest, but its registro sanitario is found not valid.
OFFERS: dict[str, dict[str, Offer]] = {
    "a": {PARACETAMOL: "9.50", ASPIRINA: ("19.00", 300)},
    "b": {PARACETAMOL: "10.00"},
    "c": {PARACETAMOL: ("10.40", 1_000), NICOTINA: "48.00"},
    "d": {ASPIRINA: "19.50", NICOTINA: "47.00"},
}
EXPECTED = {
    rules.Mode.LOWEST: {
        PARACETAMOL: {"a": 1_751},
        ASPIRINA: {"a": 300, "d": 170},
        NICOTINA: {"c": 60},
    },
    rules.Mode.SPLIT: {
        PARACETAMOL: {"a": 1_051, "b": 700},
        ASPIRINA: {"a": 282, "d": 188},
        NICOTINA: {"c": 60},
    },
}
EXPECTED[rules.Mode.OPTIMAL] = EXPECTED[rules.Mode.LOWEST]


@pytest.mark.parametrize("mode", MODES)
def test_a_round_tendered_opened_evaluated_and_awarded_becomes_contract_drafts(
    world: World, mode: rules.Mode
) -> None:
    # The demand round: opened, each institution's lines by its planner, frozen.
    frozen_round(world)

    # The tender of the round, with its award parameters, published.
    tender = tendering.create_tender(
        world.buyer(),
        world.sealer,
        title="Compra consolidada de medicamentos 2027-2028",
        procedure="licitacion_nacional",
        round_name=ROUND,
        award={"split_shares": [60, 40], "split_margin": "0.10"},
        **plan_for("licitacion_nacional", world.now).as_kwargs(),
    )
    tendering.publish_tender(world.buyer(), tender_id=tender.id)
    institutions = dict(world.db.execute(select(Institution.id, Institution.code)).all())
    stated = {
        p.clave.clave: {institutions[d.institution_id]: d.max_qty for d in p.demands}
        for p in tendering.partidas_of(world.db, tender.id)
    }
    assert stated == {
        clave: {code: lines[clave] for code, lines in DEMAND.items() if clave in lines}
        for clave in (PARACETAMOL, ASPIRINA, NICOTINA)
    }

    # The clock closes the clarifications; the bids come in; the clock closes the bidding and
    # starts the opening, which the buyer finishes.
    world.clock.set(tender.clarification_deadline)
    world.tick()
    assert tender.status == tendering_rules.BIDDING
    bids = {
        key: submit(world, key, tender, by_clave(world.db, tender, o)) for key, o in OFFERS.items()
    }
    world.db.commit()  # as each bid's own request would: its commitment reaches the ledger
    world.clock.set(tender.bid_deadline)
    world.tick()
    assert tender.status == tendering_rules.CLOSED
    world.clock.set(tender.opening_at)
    assert world.tick().opened == [(tender.id, 1)]
    tendering.open_all(world.buyer(), world.sealer, tender_id=tender.id)
    assert tender.status == tendering_rules.OPENED
    opened = Opened(tender, bids)

    # Market research, then the technical evaluation: one line does not comply.
    import_references(world)
    nicotina = numbers(world.db, tender)[NICOTINA]
    verdicts = verdicts_with(world, opened, failing=[("d", nicotina)])
    service.record_evaluations(evaluator(world), tender_id=tender.id, verdicts=verdicts)
    assert service.evaluation_status(world.db, tender.id) == (7, 7)

    # The fallo.
    world.clock.set(tender.fallo_at)
    fallo = service.issue_fallo(world.buyer(), tender_id=tender.id, mode=mode)

    number = numbers(world.db, tender)
    won = {
        clave: {
            key: line.quantity
            for key, bid in bids.items()
            for line in fallo.lines
            if line.bid_id == bid and line.partida_number == number[clave]
        }
        for clave in number
    }
    assert won == EXPECTED[mode]
    assert all(p.status == "adjudicada" for p in service.fallo_partidas(world.db, fallo))
    refused = world.db.scalars(
        select(FalloOutcome).where(
            FalloOutcome.fallo_id == fallo.id, FalloOutcome.bid_id == bids["d"]
        )
    ).all()
    # An awarded line says how much and why it got it (rules.explain).
    reasons = {(o.partida_number, o.outcome): tuple(o.reasons) for o in refused}
    assert reasons.pop((number[NICOTINA], "no_cumple")) == (
        "no cumple técnicamente",
        f"Registro sanitario vigente: {NOT_VALID}",
    )
    (awarded,) = reasons.pop((number[ASPIRINA], "adjudicada"))
    assert awarded.startswith(f"Adjudicadas {EXPECTED[mode][ASPIRINA]['d']} piezas: ")
    assert reasons == {}
    instance, result = stored_award(world.db, tender)
    assert rules.check(instance, result) == []
    assert (
        fallo.total
        == result.objective
        == sum((w.unit_price * w.quantity for w in fallo.lines), Decimal(0))
    )

    # The contract drafts: each winner's quantity over the institutions, by their demand.
    assert_drafts_apportion_the_award(world.db, tender)
    drafts = service.contract_drafts(world.db, fallo)
    assert sum(d.max_qty for d in drafts) == 1_751 + 470 + 60
    if mode is not rules.Mode.SPLIT:
        paracetamol = {
            institutions[d.institution_id]: d.max_qty
            for d in drafts
            if d.partida_id == tender.partidas[number[PARACETAMOL] - 1].id
        }
        assert paracetamol == {"IMSS": 1_000, "ISSSTE": 500, "SEDENA": 251}

    assert tender.status == tendering_rules.AWARDED
    assert ledger.verify(world.db.connection()).ok
    assert world.feed(tender)[-1] == "fallo.issue"
