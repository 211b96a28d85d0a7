"""Award benchmark: the whole-tender model on a generated national instance.

4,000 partidas × 10 bids from 300 suppliers, capacities that bind for some of them and a 15 %
maximum share per supplier: ``abasto award bench-instance`` with its defaults (seed 1). It times
the model's build and solve (HiGHS, 2 threads, ``mip_rel_gap`` 1e-4), checks the result with the
independent checker and compares its cost with the lowest-price award, which ignores capacities
and the maximum share. ``python -m benchmarks.award`` runs only this benchmark and prints its
figures and its section of docs/benchmarks.md.
"""

from __future__ import annotations

import os
import time
from datetime import UTC, datetime
from decimal import Decimal

from abasto.award import instance as instance_json
from abasto.award import model, rules
from abasto.award.rules import Mode
from benchmarks import print_standalone

Figure = tuple[str, str, float, str, str]
"""(name, database, value, unit, note), as ``benchmarks.__main__.Figure`` takes them."""

PARTIDAS = int(os.environ.get("ABASTO_BENCH_AWARD_PARTIDAS", "4000"))
"""``ABASTO_BENCH_AWARD_PARTIDAS`` runs a reduced instance while developing."""
BIDS_PER_PARTIDA = 10
SUPPLIERS = 300
SEED = 1
MAX_SHARE = Decimal("0.15")
GOAL_SECONDS = 30.0
GOAL_GAP = 1e-4
INSTANCE = f"{PARTIDAS:,} partidas × {BIDS_PER_PARTIDA} bids, {SUPPLIERS} suppliers"
measured: datetime | None = None
"""When ``run`` last ran, for the section."""


def run() -> list[Figure]:
    global measured
    measured = datetime.now(UTC)
    load = os.getloadavg()[0]
    began = time.perf_counter()
    instance = instance_json.generate(
        partidas=PARTIDAS,
        bids_per_partida=BIDS_PER_PARTIDA,
        suppliers=SUPPLIERS,
        seed=SEED,
        max_share=MAX_SHARE,
    )
    generated = time.perf_counter() - began
    built = model.build(instance, rules.evaluate(instance))
    result = model.solve_optimal(instance, rel_gap=GOAL_GAP, threads=2)
    lowest = rules.award_by_rule(instance, Mode.LOWEST)
    violations = rules.check(instance, result)
    baseline_breaks = rules.check(instance, lowest, tender_wide=True)

    elapsed = result.build_seconds + result.solve_seconds
    gap = result.gap if result.gap is not None else float("nan")
    proven = result.status == "optimal" and gap <= GOAL_GAP
    verdict = "meets" if proven and elapsed < GOAL_SECONDS else "MISSES"
    capacities = {s.id: s.capacity for s in instance.suppliers}
    awarded = rules.supplier_totals(result)
    full = sum(1 for s, (qty, _) in awarded.items() if (c := capacities[s]) and qty >= c)
    declared = sum(1 for c in capacities.values() if c)
    at_share = sum(1 for _, value in awarded.values() if value * 1000 >= result.objective * 149)
    statuses = [a.status for a in result.partidas]
    extra = float(result.objective / lowest.objective - 1) * 100
    broken = {
        rule: sum(1 for v in baseline_breaks if v.rule == rule)
        for rule in ("capacidad", "participacion", "proveedores_criticos")
    }
    return [
        (
            f"award model, national instance ({INSTANCE}, 15 % maximum share): build",
            "—",
            result.build_seconds,
            "s",
            f"{built.num_col:,} variables ({built.n:,} quantities of the lines the margin rule "
            f"allows), {built.num_row:,} rows "
            f"before the share rule, {len(built.index):,} nonzeros; instance generated in "
            f"{generated:.2f} s",
        ),
        (
            "award model: solve (HiGHS 1.16, 2 threads, mip_rel_gap 1e-4)",
            "—",
            result.solve_seconds,
            "s",
            f"status {result.status}, gap {gap:.2e}",
        ),
        (
            "award model: build + solve",
            "—",
            elapsed,
            "s",
            f"({verdict} the goal of {GOAL_SECONDS:.0f} s, proven within {GOAL_GAP * 100:.2f} %); "
            f"load average {load:.1f} at the start",
        ),
        (
            "award model: optimal cost",
            "—",
            float(result.objective),
            "MXN",
            f"checker: {len(violations)} violations; partidas {statuses.count('adjudicada'):,} "
            f"awarded, {statuses.count('parcial')} partly and {statuses.count('desierta')} "
            f"wholly desiertas; {full} of {declared} declared capacities used up, "
            f"{at_share} suppliers at the maximum share (14.9 % or more)",
        ),
        (
            "award: lowest-price baseline cost (per partida, ignores capacity and share)",
            "—",
            float(lowest.objective),
            "MXN",
            f"the optimal award costs {extra:+.2f} %; "
            f"the baseline overruns {broken['capacidad']} capacities and "
            f"{broken['participacion']} maximum shares, and leaves "
            f"{broken['proveedores_criticos']} critical partidas short of suppliers",
        ),
    ]


def section() -> list[str]:
    """The Award model section of docs/benchmarks.md (its figures are in the results table)."""
    return [
        "",
        "## Award model",
        "",
        f"Goal: the whole-tender award of a national instance ({INSTANCE}, supplier "
        f"capacities, a 15 % maximum share) proven optimal within a gap of "
        f"{GOAL_GAP * 100:.2f} %, in under {GOAL_SECONDS:.0f} s from instance to result on 2 "
        "cores. "
        + (f"Measured {measured:%Y-%m-%d %H:%M} UTC on the machine above; " if measured else "")
        + "`python -m benchmarks.award` runs only this benchmark.",
        "",
        "- *instance*: `abasto.award.instance.generate` (what `abasto award bench-instance` "
        "writes) with seed 1: log-normal demand and reference prices, budgets for three partidas "
        "in four, 8 % of partidas critical (2 suppliers with at least 10 % each), suppliers of "
        "Pareto sizes whose price level falls with size, prices spread around the reference "
        "with some lines not acceptable, not convenient or non-compliant, about 3 % of partidas "
        "with no bid or no solvent bid. Some suppliers declare a capacity below what they would "
        "win at the lowest prices, only where the others can still cover their partidas, so a "
        "feasible award exists.",
        "- *build*: validation, economic evaluation of every line, the margin rule and the "
        "constraint matrix assembled with numpy and passed to HiGHS in one call.",
        "- *solve*: phase 1 (the most demand covered, then the suppliers of critical partidas) "
        "and phase 2 (least cost), the maximum share probed against a constant total and "
        "bisected between proven bound and best solution (see `abasto/award/model.py`); the "
        "minimum lot (one delivery's worth, 12 deliveries) added lazily, only for the partidas "
        "where a line fell under it, first with continuous quantities. The "
        "cost is recomputed exactly in centavos and the result passes the independent checker. "
        "Written directly, with one row for the total awarded value, the same model did not "
        "finish in 10 minutes (HiGHS's root heuristics propagate that dense row after every "
        "rounding), and with those heuristics off it had not closed a 0.06 % gap after 100 s.",
        "- *baseline*: `rules.award_by_rule(…, LOWEST)`, each partida to its cheapest solvent "
        "lines in ranking order, with the same coverage; the checker's tender-wide rules count "
        "what it breaks.",
    ]


if __name__ == "__main__":
    print_standalone(run(), section())
