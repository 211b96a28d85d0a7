"""The demo's awarded tender: staged through the services, dated in the past, a sound fallo."""

from __future__ import annotations

import random
from decimal import Decimal

import pytest
from sqlalchemy import select

from abasto.award import rules, service
from abasto.core import ledger
from abasto.core.config import Settings
from abasto.core.context import Context
from abasto.core.ledger import LedgerEntry
from abasto.demand import service as demand
from abasto.scenario import award as staging
from abasto.scenario.build import Scenario, build_scenario
from abasto.scenario.load import load_scenario
from abasto.tendering import rules as tendering_rules
from abasto.tendering import service as tendering
from abasto.tendering.sealing import Sealer
from tests.award.test_service import assert_drafts_apportion_the_award, stored_award


@pytest.fixture(scope="module")
def small() -> Scenario:
    return build_scenario(7, "small")


def test_the_demo_tender_is_awarded_in_the_past_by_the_rules(
    ctx: Context, small: Scenario, settings: Settings
) -> None:
    load_scenario(ctx, small, forecast=False)
    assert not staging.has_fallo(ctx.db)

    staged = staging.stage_awarded_tender(ctx, Sealer.from_settings(settings), small)

    assert staging.has_fallo(ctx.db)
    tender = tendering.get_tender(ctx.db, staged.tender_id)
    assert (tender.title, tender.procedure, tender.status) == (
        staging.AWARD_TITLE,
        "licitacion_nacional",
        tendering_rules.AWARDED,
    )
    assert tender.params["award"] == staging.AWARD_PARAMETERS
    assert staged.partidas == len(tender.partidas) == staging.PARTIDAS
    assert staged.bids == staging.BIDDERS
    # Every step at its instant, all before the load.
    fallo = service.get_fallo(ctx.db, tender.id)
    assert (tender.published_at, tender.opened_at, fallo.issued_at) == (
        ctx.now - staging.PUBLISHED,
        ctx.now - staging.OPENED,
        ctx.now - staging.FALLO,
    )
    assert tender.round_id == demand.get_round(ctx.db, staging.ROUND_NAME).id
    publication = ctx.db.scalars(
        select(LedgerEntry).where(
            LedgerEntry.action == "tender.publish", LedgerEntry.entity == f"tender:{tender.id}"
        )
    ).one()
    assert publication.data()["periods"]["min_bid_days"] == 15

    # The optimal award keeps every rule, tender-wide ones included; most partidas are covered.
    assert fallo.mode == "optimal"
    instance, result = stored_award(ctx.db, tender)
    assert rules.check(instance, result) == []
    assert staged.awarded >= staging.PARTIDAS - 3
    assert staged.total == fallo.total > 0
    outcomes = {o.outcome for o in service.fallo_outcomes(ctx.db, fallo)}
    assert {"adjudicada", "no_cumple", "precio_no_aceptable"} <= outcomes

    # The references are the scenario's prices, the median of three sources.
    specs = {c.clave: c for c in small.claves}
    for partida in tendering.partidas_of(ctx.db, tender.id):
        stored = next(
            p for p in service.fallo_partidas(ctx.db, fallo) if p.partida_number == partida.number
        )
        assert stored.reference_price == specs[partida.clave.clave].reference_price.quantize(
            Decimal("0.01")
        )

    # Each winner's quantity over the round's institutions, by their demand.
    assert assert_drafts_apportion_the_award(ctx.db, tender) >= staged.awarded
    assert ledger.verify(ctx.db.connection()).ok


def test_a_tender_left_without_its_fallo_is_resumed_not_staged_again(
    ctx: Context, small: Scenario, settings: Settings
) -> None:
    load_scenario(ctx, small, forecast=False)
    sealer = Sealer.from_settings(settings)
    left = staging._tender_with_bids(ctx, sealer, random.Random(1), small)
    ctx.db.commit()
    assert staging.unfinished(ctx.db) is left
    assert not staging.has_fallo(ctx.db)

    staged = staging.stage_awarded_tender(ctx, sealer, small)

    assert staged.tender_id == left.id
    assert staging.unfinished(ctx.db) is None
    assert service.get_fallo(ctx.db, left.id).issued_at == left.fallo_at
    assert len(demand.list_rounds(ctx.db)) == 2
