"""HiGHS solves from several threads of one process, on several thread counts."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import date, timedelta
from decimal import Decimal
from typing import TypeVar

from abasto.award import instance as instance_json
from abasto.award import model
from abasto.inventory import redistribution
from abasto.inventory.redistribution import Site
from abasto.inventory.rules import Lot

T = TypeVar("T")
TODAY = date(2026, 1, 1)
INSTANCE = instance_json.generate(partidas=6, bids_per_partida=3, suppliers=4, seed=5)


def award(threads: int) -> str:
    return model.solve_optimal(INSTANCE, threads=threads).status


def redistribute() -> int:
    late = TODAY + timedelta(days=200)
    sites = [
        Site(1, (Lot("A", late, 50),), Decimal("30.44"), 10, 0),
        Site(2, (), Decimal("30.44"), 30, 20),
    ]
    return redistribution.plan(sites, today=TODAY, cost=lambda a, b: 7).cost


def in_a_new_thread(work: Callable[[], T]) -> T:
    done: list[T] = []
    failed: list[BaseException] = []

    def target() -> None:
        try:
            done.append(work())
        except BaseException as error:  # handed back to the caller's thread
            failed.append(error)

    thread = threading.Thread(target=target)
    thread.start()
    thread.join()
    if failed:
        raise failed[0]
    return done[0]


def test_each_thread_keeps_its_own_scheduler() -> None:
    """HiGHS's scheduler is per thread: after this thread solved on one thread and another on
    two, this one solving on two got an error from every run (the demo's fallo in CI)."""
    assert award(1) == "optimal"
    assert in_a_new_thread(lambda: award(2)) == "optimal"
    assert award(2) == "optimal"
    assert in_a_new_thread(lambda: award(1)) == "optimal"
    assert award(1) == "optimal"


def test_redistribution_and_award_share_a_thread() -> None:
    """A redistribution solved first in a thread started its scheduler on HiGHS's own count
    (the machine's cores); the award on one thread failed after it there."""
    assert award(1) == "optimal"

    def both() -> list[object]:
        return [redistribute(), award(1), award(2), redistribute(), award(1)]

    assert in_a_new_thread(both) == [20 * 7, "optimal", "optimal", 20 * 7, "optimal"]
