"""Fixtures of transparency: purchases taken through the services from demand to contract drafts.

``build_purchases`` runs the path of tests/award/test_e2e.py (a frozen demand round of IMSS,
ISSSTE and SEDENA, its tender published, bid, opened, evaluated and awarded, the contracts
drafted), then a second tender by hand (no institution's demand, so no drafts) awarded later,
then a third whose bids are still sealed. Every transparency test (open data, portal, OCDS,
red flags) can start from it: ``purchases`` in the suite's rolled-back database, or
``build_purchases`` on a world of one's own (the browser tests commit it in a fresh database).
"""

from __future__ import annotations

import inspect
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from abasto.award import rules as award_rules
from abasto.award import service as award
from abasto.core.clock import FixedClock
from abasto.core.config import Settings
from abasto.core.context import Context, operator
from abasto.core.db import make_engine, session_factory, transaction
from abasto.tendering import service as tendering
from abasto.tendering.models import Tender
from tests.award.test_service import (
    Opened,
    by_clave,
    draft_tender,
    evaluate,
    evaluator,
    import_references,
    opened_tender,
    round_tender,
    verdicts_with,
)
from tests.tendering import conftest as tendering_world
from tests.tendering.conftest import ASPIRINA, NICOTINA, PARACETAMOL, World

world = tendering_world.world
cheap_passwords = tendering_world.cheap_passwords

# The consolidated tender (as tests/award/test_e2e.py): «d»'s nicotina fails the evaluation.
FIRST_OFFERS: dict[str, dict[str, object]] = {
    "a": {PARACETAMOL: "9.50", ASPIRINA: ("19.00", 300)},
    "b": {PARACETAMOL: "10.00"},
    "c": {PARACETAMOL: ("10.40", 1_000), NICOTINA: "48.00"},
    "d": {ASPIRINA: "19.50", NICOTINA: "47.00"},
}
# Lowest price: paracetamol to «a» (split IMSS 1,000, ISSSTE 500, SEDENA 251 by their demand),
# aspirina to «a» 300 and «d» 170, nicotina to «c».
FIRST_AWARD = {
    PARACETAMOL: {"a": (1_751, Decimal("9.50"))},
    ASPIRINA: {"a": (300, Decimal("19.00")), "d": (170, Decimal("19.50"))},
    NICOTINA: {"c": (60, Decimal("48.00"))},
}
FIRST_REFERENCE = {
    PARACETAMOL: Decimal("10.00"),
    ASPIRINA: Decimal("20.00"),
    NICOTINA: Decimal("50.00"),
}
PARACETAMOL_SPLIT = {"IMSS": 1_000, "ISSSTE": 500, "SEDENA": 251}
# The second tender, by hand (partida 1 paracetamol, 2 aspirina, 3 nicotina); nobody bids on
# nicotina, which is left without a winner.
SECOND_OFFERS: dict[str, dict[int, object]] = {
    "a": {1: "9.80"},
    "b": {1: "9.60", 2: "19.40"},
}
# Its references are the medians of the list and the first fallo's prices.
SECOND_REFERENCE = {PARACETAMOL: Decimal("9.75"), ASPIRINA: Decimal("19.50")}
# The third tender's bids, still sealed: no download or page may show any of this.
SEALED_PRICES = {"a": {1: "7319.47", 2: "2846.19"}, "c": {1: "8127.36"}}
SEALED_MAKER = "Fabrica Zentlalli"


@dataclass(frozen=True)
class Purchases:
    world: World
    first: Opened
    """Awarded, with contract drafts per institution."""
    second: Opened
    """Awarded later, without institutions' demand."""
    sealed: Tender
    """Published, bids in, not opened."""
    sealed_bids: dict[str, str]


def build_purchases(world: World) -> Purchases:
    """The three tenders, through the services, moving the world's clock as it goes."""
    draft = round_tender(world)
    offers = {key: by_clave(world.db, draft, o) for key, o in FIRST_OFFERS.items()}
    opened = opened_tender(world, offers, draft=draft)
    first = opened.tender
    import_references(world)
    number = {p.clave.clave: p.number for p in tendering.partidas_of(world.db, first.id)}
    award.record_evaluations(
        evaluator(world),
        tender_id=first.id,
        verdicts=verdicts_with(world, opened, failing=[("d", number[NICOTINA])]),
    )
    world.clock.set(first.fallo_at)
    award.issue_fallo(world.buyer(), tender_id=first.id, mode=award_rules.Mode.LOWEST)

    world.clock.advance(timedelta(days=30))
    second = opened_tender(world, SECOND_OFFERS, draft=draft_tender(world))
    evaluate(world, second)
    world.clock.set(second.tender.fallo_at)
    award.issue_fallo(world.buyer(), tender_id=second.tender.id, mode=award_rules.Mode.LOWEST)

    world.clock.advance(timedelta(days=1))
    sealed = world.tender()
    sealed_bids = {}
    for key, prices in SEALED_PRICES.items():
        world.clock.advance(timedelta(minutes=1))
        sealed_bids[key] = world.bid(key, sealed, prices, manufacturer=SEALED_MAKER).bid_id
    world.db.commit()
    world.db.expire_all()
    return Purchases(world, opened, second, sealed, sealed_bids)


@pytest.fixture
def purchases(world: World) -> Purchases:
    return build_purchases(world)


@dataclass(frozen=True)
class Committed:
    """Purchases committed in a database of their own, for a served app to read."""

    url: str
    first_id: int
    second_id: int


@pytest.fixture
def committed_purchases(
    fresh_database_url: str, tmp_path: Path, cheap_passwords: None
) -> Iterator[Committed]:
    """``build_purchases`` in a fresh database, on the tendering world (suppliers, users, staff,
    the catalog), with the secret ``tests.conftest.served`` uses, as of a month and a half ago."""
    engine = make_engine(fresh_database_url)
    sessions = session_factory(engine)
    settings = Settings(database_url=fresh_database_url, data_dir=tmp_path, secret_key="test")
    clock = FixedClock(datetime.now(UTC) - timedelta(days=90))
    # The tendering world's fixture, called as a function on this database.
    make_world = inspect.unwrap(tendering_world.world)
    with transaction(sessions) as db:
        ctx = Context(db=db, actor=operator("pruebas"), now=clock.now())
        built: World = make_world(ctx, clock, settings, sessions, None)
        done = build_purchases(built)
        ids = (done.first.tender.id, done.second.tender.id)
    yield Committed(fresh_database_url, *ids)
    engine.dispose()
