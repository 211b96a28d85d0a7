"""The tick: deadlines applied when due, openings read out one bid at a time at a pace."""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from datetime import timedelta

import pytest

from abasto.core.context import Context
from abasto.tendering import rules, service, tick
from abasto.tendering.models import Tender
from abasto.tendering.rules import CLOSE_BIDS, CLOSE_CLARIFICATIONS, START_OPENING
from abasto.tendering.tick import Ticker, TickReport, run_in_background
from tests.tendering.conftest import (
    POISON_PRICE,
    POISON_QUANTITY,
    SECOND,
    Plan,
    World,
    seal_poison,
)


@dataclass
class FakeTime:
    """Stands in for the ``time`` module inside ``abasto.tendering.tick``."""

    now: float = 1000.0
    slept: list[float] = field(default_factory=list)

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


@pytest.fixture
def fake_time(monkeypatch: pytest.MonkeyPatch) -> FakeTime:
    fake = FakeTime()
    monkeypatch.setattr(tick, "time", fake)
    return fake


def with_bids(world: World, count: int) -> Tender:
    """A licitación with ``count`` sealed bids, its bidding closed."""
    tender = world.tender()
    for minute, key in enumerate("abcd"[:count]):
        world.clock.set(tender.clarification_deadline + timedelta(minutes=minute))
        world.bid(key, tender, {1: f"{100 + minute}.00"})
    world.clock.set(tender.bid_deadline)
    world.tick()
    return tender


def opened(world: World, tender: Tender) -> int:
    return len(world.entries(tender, "bid.open"))


def test_one_bid_is_read_out_per_tick_until_the_pace_has_passed(
    world: World, fake_time: FakeTime
) -> None:
    tender = with_bids(world, 3)
    ticker = world.ticker(pace_seconds=2.0)
    world.clock.set(tender.opening_at)

    first = ticker.tick()
    world.db.expire_all()
    assert first == TickReport(applied=[(tender.id, START_OPENING)], opened=[(tender.id, 1)])
    assert opened(world, tender) == 1

    fake_time.now += 1.9
    assert ticker.tick().opened == [(tender.id, 0)]
    fake_time.now += 0.1
    assert ticker.tick().opened == [(tender.id, 1)]
    world.db.expire_all()
    assert opened(world, tender) == 2
    assert tender.status == rules.OPENING
    assert fake_time.slept == []


def test_finish_reads_out_every_remaining_bid_keeping_the_pace(
    world: World, fake_time: FakeTime
) -> None:
    tender = with_bids(world, 4)
    ticker = world.ticker(pace_seconds=2.0)
    world.clock.set(tender.opening_at)
    ticker.tick()

    report = ticker.tick(finish=True)
    world.db.expire_all()

    assert report.opened == [(tender.id, 3)]
    assert opened(world, tender) == 4
    assert tender.status == rules.OPENED
    # Between two bids, not after the last.
    assert fake_time.slept == [2.0, 2.0]
    assert world.feed(tender)[-1] == "tender.opened"


def test_without_a_pace_each_tick_reads_out_the_next_bid(world: World) -> None:
    tender = with_bids(world, 3)
    world.clock.set(tender.opening_at)
    counts = []
    for _ in range(4):
        report = world.tick()
        counts.append((report.opened, opened(world, tender), tender.status))
    assert counts == [
        ([(tender.id, 1)], 1, rules.OPENING),
        ([(tender.id, 1)], 2, rules.OPENING),
        ([(tender.id, 1)], 3, rules.OPENED),
        ([], 3, rules.OPENED),
    ]


def test_a_tick_applies_only_what_is_due_of_each_tender(world: World) -> None:
    early = world.tender("adjudicacion_directa")
    late = world.tender("licitacion_nacional")
    world.clock.set(early.clarification_deadline - SECOND)
    assert world.tick() == TickReport()
    world.clock.set(early.clarification_deadline)
    assert world.tick().applied == [(early.id, CLOSE_CLARIFICATIONS)]
    assert (early.status, late.status) == (rules.BIDDING, rules.CLARIFICATIONS)
    assert world.tick() == TickReport()


def test_a_tick_after_a_long_pause_applies_every_missed_deadline_in_order(world: World) -> None:
    tender = world.tender()
    world.bid("a", tender, {1: "10.00"})
    world.clock.set(tender.fallo_at)
    report = world.tick(finish=True)
    assert report.applied == [
        (tender.id, CLOSE_CLARIFICATIONS),
        (tender.id, CLOSE_BIDS),
        (tender.id, START_OPENING),
    ]
    assert report.opened == [(tender.id, 1)]
    assert tender.status == rules.OPENED
    # Each transition is recorded with the deadline it applies, not the late instant.
    closed = world.entries(tender, "tender.bids_closed")[0].data()
    assert closed["at"] == tender.bid_deadline.isoformat(timespec="microseconds")
    assert closed["sealed"] == 1


def test_an_opening_under_way_is_carried_on_by_the_next_tick(world: World) -> None:
    tender = with_bids(world, 2)
    world.clock.set(tender.opening_at + timedelta(minutes=10))

    service.start_opening(world.buyer(), tender_id=tender.id)
    assert world.tick(finish=True).opened == [(tender.id, 2)]
    assert tender.status == rules.OPENED


class SignallingTicker(Ticker):
    """A ticker that says when it has ticked, or fails on purpose."""

    def __init__(self, base: Ticker, *, fail: bool = False) -> None:
        super().__init__(base.sessions, base.clock, base.sealer, base.pace_seconds)
        self.fail = fail
        self.ticks = 0
        self.ticked = threading.Event()

    def tick(self, *, finish: bool = False) -> TickReport:
        self.ticks += 1
        if self.fail and self.ticks == 1:
            raise RuntimeError("la base de datos no respondió")
        report = super().tick(finish=finish)
        self.ticked.set()
        return report


def test_the_background_loop_ticks_and_survives_an_error(world: World) -> None:
    tender = world.tender()
    world.clock.set(tender.clarification_deadline)
    ticker = SignallingTicker(world.ticker(), fail=True)
    errors: list[str] = []
    stop = threading.Event()

    thread = run_in_background(ticker, 0.01, stop, on_error=lambda: errors.append("x"))
    assert ticker.ticked.wait(10), "the loop never ticked"
    stop.set()
    thread.join(10)

    assert not thread.is_alive()
    assert errors == ["x"]
    world.db.expire_all()
    assert tender.status == rules.BIDDING


# ----- poison: one tender's failure stops no other -------------------------------------------


def test_a_poisoned_opening_is_held_for_the_buyer_and_every_other_tender_goes_on(
    world: World, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Issue 14: a sealed bid the opening could not write failed every tick; the tender stayed
    in «opening» forever and the tick of every other tender stalled behind it."""
    poisoned = world.tender()
    world.clock.set(poisoned.clarification_deadline)
    world.bid("b", poisoned, {1: "101.00"})
    seal_poison(world, "a", poisoned, monkeypatch)
    # Published now, its clarifications close when the poisoned tender's opening is due.
    other = world.tender(
        plan=Plan(
            poisoned.opening_at,
            poisoned.opening_at + timedelta(days=10),
            poisoned.opening_at + timedelta(days=10, hours=1),
            poisoned.opening_at + timedelta(days=11),
        )
    )
    assert poisoned.id < other.id
    world.clock.set(poisoned.opening_at)
    caplog.set_level(logging.DEBUG)

    for _ in range(3):
        world.tick(finish=True)

    assert other.status == rules.BIDDING
    assert poisoned.status == rules.OPENING
    assert poisoned.attention_at == world.now
    assert poisoned.attention is not None
    assert "apertura" in poisoned.attention
    # Recorded once, privately, not on every tick; the public feed shows nothing of it.
    [held] = world.entries(poisoned, "tender.attention")
    assert held.public is False
    assert "tender.attention" not in world.feed(poisoned)
    # Nothing of the sealed bid reached the log or the ledger entry.
    for text in (caplog.text, held.payload):
        assert str(POISON_QUANTITY) not in text
        assert POISON_PRICE not in text
    assert f"tender {poisoned.id}" in caplog.text


def test_a_held_tender_is_not_retried_until_the_buyer_resumes_it(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    tender = world.tender()
    world.clock.set(tender.clarification_deadline)
    seal_poison(world, "a", tender, monkeypatch)
    world.clock.set(tender.opening_at)
    world.tick(finish=True)
    assert tender.attention_at is not None
    assert service.due_tenders(world.db, world.now) == []

    service.resume_opening(world.buyer(), tender_id=tender.id, reason="Se revisó la base de datos.")
    world.db.flush()
    assert tender.attention_at is None
    assert service.due_tenders(world.db, world.now) == [tender.id]
    world.tick(finish=True)
    assert len(world.entries(tender, "tender.attention")) == 2


def test_a_failure_in_one_tender_is_isolated_whatever_it_is(
    world: World, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    first, second = world.tender(), world.tender()
    world.clock.set(first.clarification_deadline)
    real = service.apply_due

    def failing(ctx: Context, tender: Tender) -> list[str]:
        if tender.id == first.id:
            raise RuntimeError("secreto: 7319.47 por 3000000000 piezas")
        return real(ctx, tender)

    monkeypatch.setattr(service, "apply_due", failing)
    report = world.tick()

    assert report.applied == [(second.id, CLOSE_CLARIFICATIONS)]
    assert (first.status, second.status) == (rules.CLARIFICATIONS, rules.BIDDING)
    assert first.attention_at is not None
    [held] = world.entries(first, "tender.attention")
    assert "RuntimeError" in held.payload
    assert "secreto" not in held.payload
    assert "secreto" not in caplog.text
