"""Inventory benchmark: redistribution of one clave across 15,000 units, against a bare HiGHS
solve of the same model.

The units (seeded) are spread over the 32 states; about 20 % hold more than their maximum
(givers, one to three lots each, some expiring within weeks), about 10 % are below their
minimum (receivers), the rest in between. ``redistribution.plan`` builds the arcs (each
receiver's ``NEIGHBOURS`` cheapest givers), the two LP solves and the plan; the bare figure is
HiGHS alone on the same rows (``plan``'s second solve included), so the ratio is what Abasto's
Python adds. ``python -m benchmarks.inventory`` runs only this benchmark.

Not measured yet (issue 17): one national day loaded by COPY (15,000,000 stock rows,
10,000,000 dispensing lines) and the national indicators by DuckDB over a snapshot.
"""

from __future__ import annotations

import os
import random
import time
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from abasto.inventory import redistribution
from abasto.inventory.redistribution import Site
from abasto.inventory.rules import Lot
from benchmarks import print_standalone

Figure = tuple[str, str, float, str, str]
UNITS = int(os.environ.get("ABASTO_BENCH_INVENTORY_UNITS", "15000"))
NEIGHBOURS = 25
GOAL_SECONDS = 10.0
TODAY = date(2026, 11, 2)
SEED = 17
measured: datetime | None = None


def instance(units: int = UNITS, seed: int = SEED) -> tuple[list[Site], dict[int, str]]:
    rng = random.Random(seed)
    states = sorted(redistribution.STATE_CENTRES)
    sites, where = [], {}
    for unit in range(units):
        where[unit] = rng.choice(states)
        amc = Decimal(round(rng.lognormvariate(4.0, 0.8), 2))  # about 55 a month
        safety, top = int(amc), int(amc * 3)
        draw = rng.random()
        if draw < 0.2:  # above its maximum: a giver
            lots = tuple(
                Lot(
                    f"L{unit}-{i}",
                    TODAY + timedelta(days=rng.randint(15, 600)),
                    rng.randint(1, top),
                )
                for i in range(rng.randint(1, 3))
            )
            need = 0
        elif draw < 0.3:  # below its minimum: a receiver
            held = rng.randint(0, max(safety - 1, 0))
            lots = (
                (Lot(f"L{unit}-0", TODAY + timedelta(days=rng.randint(30, 400)), held),)
                if held
                else ()
            )
            need = top - held
        else:
            lots = (
                Lot(
                    f"L{unit}-0",
                    TODAY + timedelta(days=rng.randint(60, 600)),
                    rng.randint(safety, top),
                ),
            )
            need = 0
        sites.append(Site(unit, lots, amc, safety, need))
    return sites, where


def run() -> list[Figure]:
    global measured
    measured = datetime.now(UTC)
    load = os.getloadavg()[0]
    sites, where = instance()
    cost = redistribution.state_cost(where)
    began = time.perf_counter()
    found = redistribution.plan(sites, today=TODAY, cost=cost, neighbours=NEIGHBOURS, places=where)
    whole = time.perf_counter() - began
    givers = sum(1 for s in sites if s.need == 0 and s.on_hand > s.safety)
    receivers = sum(1 for s in sites if s.need > 0)
    meets = "meets" if whole < GOAL_SECONDS else "misses"
    return [
        (
            f"redistribution of one clave across {len(sites):,} units ({givers:,} givers, "
            f"{receivers:,} short), {NEIGHBOURS} nearest givers each",
            "—",
            whole,
            "s",
            f"({meets} the goal of {GOAL_SECONDS:.0f} s); {found.arcs:,} arcs; "
            f"{found.moved:,} units in {len(found.moves):,} transfers; load average {load:.1f} "
            "at the start",
        ),
        (
            "redistribution: bare HiGHS solves of the same model (both LPs)",
            "—",
            found.solve_seconds,
            "s",
            f"Abasto's whole plan takes {whole / found.solve_seconds:.1f}× the bare solves "
            f"(building the arcs: {found.build_seconds:.2f} s)",
        ),
    ]


def section() -> list[str]:
    return [
        "",
        "## Inventory",
        "",
        f"Goal: redistribution of one clave across 15,000 units in under {GOAL_SECONDS:.0f} s. "
        + (f"Measured {measured:%Y-%m-%d %H:%M} UTC; " if measured else "")
        + "`python -m benchmarks.inventory` runs only this benchmark.",
        "",
        "- *redistribution*: `benchmarks.inventory.instance` (seed 17) places the units in the 32 "
        "states, 20 % above their maximum with one to three lots, 10 % below their minimum; "
        "`redistribution.plan` with the 25 cheapest givers per short unit, costs from the state "
        "capitals. The bare figure is the time inside HiGHS's two `run` calls.",
        "- Not measured yet: a national day loaded by COPY and the national indicators over a "
        "snapshot (issue 17).",
    ]


if __name__ == "__main__":
    print_standalone(run(), section())
