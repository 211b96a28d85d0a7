"""Forecast benchmark: suggestions for 240,000 monthly series of 36 months on two processes.

The series are generated in memory (60 units × 4,000 claves; the file a planner uploads never
holds 8.6 million rows): 40 % smooth, trending or cut by stock-outs, 60 % intermittent or lumpy,
the kind of mix a national catalog has, where most claves are rarely used by most units.
``ABASTO_BENCH_FORECAST_UNITS`` shrinks the run (e.g. 6 for a quick look).
"""

from __future__ import annotations

import os
import time
from collections import Counter

import numpy as np

from abasto.demand.forecast import (
    AUTO_ETS,
    FloatArray,
    forecast_batch,
    forecast_many,
    known_values,
    synthetic_histories,
)

Figure = tuple[str, str, float, str, str]
"""(name, database, value, unit, note), as ``benchmarks.__main__.Figure`` takes them."""

UNITS = int(os.environ.get("ABASTO_BENCH_FORECAST_UNITS", "60"))
CLAVES = 4000
MONTHS = 36
HORIZON = 24
N_JOBS = 2
SEED = 2026
GOAL_SECONDS = 300.0
MIX = {"smooth": 0.25, "trending": 0.10, "stockout": 0.05, "intermittent": 0.35, "lumpy": 0.25}
ETS_SAMPLE = 12_000
"""Series timed with AutoETS alone, to tell what forecasting everything with it would cost."""


def run() -> list[Figure]:
    n = UNITS * CLAVES
    sample = synthetic_histories(
        n, months=MONTHS, seed=SEED, kinds=MIX, future_months=HORIZON, claves_per_unit=CLAVES
    )
    histories = {key: series.adjusted() for key, series in sample.items()}
    began = time.perf_counter()
    suggestions = forecast_many(histories, horizon_months=HORIZON, n_jobs=N_JOBS)
    seconds = time.perf_counter() - began
    models = Counter(suggestion.model for suggestion in suggestions.values())
    used = ", ".join(f"{model} {count:,}" for model, count in models.most_common())
    verdict = "meets" if seconds < GOAL_SECONDS else "MISSES"
    ets_seconds = _all_ets_seconds(list(histories.values()), n)
    ets_verdict = "would meet" if ets_seconds < GOAL_SECONDS else "would miss"
    return [
        (
            f"forecast_many, {n:,} series × {MONTHS} months, horizon {HORIZON}, n_jobs={N_JOBS}",
            "—",
            seconds,
            "s",
            f"({verdict} the goal of {GOAL_SECONDS:.0f} s; models: {used})",
        ),
        (
            "forecast_many throughput",
            "—",
            n / seconds,
            "series/s",
            "(classification, one statsforecast call per model, sums)",
        ),
        (
            f"AutoETS on every series, extrapolated from {min(ETS_SAMPLE, n):,}",
            "—",
            ets_seconds,
            "s",
            f"(all-AutoETS {ets_verdict} the goal of {GOAL_SECONDS:.0f} s)",
        ),
    ]


def _all_ets_seconds(histories: list[FloatArray], n: int) -> float:
    """Seconds AutoETS alone would take on all ``n`` series, timed on an even sample."""
    step = max(1, n // ETS_SAMPLE)
    chosen = [known_values(series) for series in histories[::step][:ETS_SAMPLE]]
    chosen = [series for series in chosen if series.size and np.any(series > 0)]
    began = time.perf_counter()
    forecast_batch(chosen, [AUTO_ETS], HORIZON, N_JOBS)
    return (time.perf_counter() - began) * n / len(chosen)


if __name__ == "__main__":
    for name, database, value, unit, note in run():
        print(f"  {name} [{database}]: {value:,.2f} {unit} {note}")
