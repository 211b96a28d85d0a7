"""Red flags benchmark: every indicator over 1,000,000 awards and 5,000,000 bids.

The flat tables are generated with numpy (seeded) straight into Arrow columns: 100,000
processes of 10 lots each, one active award per lot to its lowest valid bid, between 1 and 9
bids per lot (5,000,000 in all, about 8 % disqualified, 0.1 % late), one award item and one
contract per award, 20,000 suppliers (some registered recently, 200 sanctioned) and 300 buyers.
It then times ``indicators.compute`` — the shared tables, the seventeen queries and fetching
their flags — with DuckDB on 2 threads, and each indicator's query alone.
``python -m benchmarks.redflags`` runs only this benchmark and prints its figures and section.
"""

from __future__ import annotations

import os
import time
from collections import Counter
from datetime import UTC, datetime

import numpy as np
import pyarrow as pa

from abasto.transparency.redflags import flat, indicators
from benchmarks import print_standalone

Figure = tuple[str, str, float, str, str]
"""(name, database, value, unit, note), as ``benchmarks.__main__.Figure`` takes them."""

PROCESSES = 100_000
LOTS_PER_PROCESS = 10
LOTS = PROCESSES * LOTS_PER_PROCESS
BIDS = 5_000_000
SUPPLIERS = 20_000
BUYERS = 300
CLAVES = 4_000
SEED = 6
THREADS = 2
GOAL_SECONDS = 60.0
T0 = np.datetime64("2024-01-01T00:00:00", "us")
DAY = np.timedelta64(86_400_000_000, "us")
measured: datetime | None = None


def _money(units: np.ndarray) -> pa.Array:
    """Amounts in 1/10,000 of a peso (int64) as the flat tables' decimal128(18, 4)."""
    wide = np.zeros((len(units), 2), dtype=np.int64)
    wide[:, 0] = units
    return pa.Array.from_buffers(flat.MONEY, len(units), [None, pa.py_buffer(wide)])


def _ids(prefix: str, numbers: np.ndarray) -> pa.Array:
    return pa.array(np.char.add(prefix, numbers.astype(str)))


def _when(values: np.ndarray) -> pa.Array:
    return pa.array(values, type=flat.INSTANT)


def generate(seed: int = SEED) -> flat.Frames:
    rng = np.random.default_rng(seed)
    process = np.arange(PROCESSES)
    start = T0 + rng.integers(0, 700, PROCESSES) * DAY
    period = rng.choice([5, 10, 16, 20, 25, 30], PROCESSES, p=[0.02, 0.08, 0.3, 0.3, 0.2, 0.1])
    end = start + period * DAY
    method = rng.choice(["open", "selective", "direct"], PROCESSES, p=[0.85, 0.1, 0.05])
    buyer = rng.integers(0, BUYERS, PROCESSES)
    processes = pa.table(
        {
            "process_id": _ids("P", process),
            "title": _ids("Proceso ", process),
            "buyer_id": _ids("B", buyer),
            "buyer_name": _ids("Comprador ", buyer),
            "method": pa.array(method),
            "method_details": pa.array(method),
            "tender_start": _when(start),
            "tender_end": _when(end),
        }
    )

    lot = np.arange(LOTS)
    lot_process = lot // LOTS_PER_PROCESS
    counts = rng.integers(1, 10, LOTS)
    # Make the total exactly BIDS by moving the difference onto lots that can take it.
    diff = BIDS - int(counts.sum())
    step = 1 if diff > 0 else -1
    room = np.flatnonzero(counts < 9) if diff > 0 else np.flatnonzero(counts > 1)
    counts[room[: abs(diff)]] += step
    offsets = np.concatenate([[0], np.cumsum(counts)[:-1]])
    bid_lot = np.repeat(lot, counts)
    position = np.arange(BIDS) - np.repeat(offsets, counts)
    # Distinct tenderers within a lot: a start and a stride per lot.
    first = rng.integers(0, SUPPLIERS, LOTS)
    stride = rng.integers(1, 97, LOTS)
    tenderer = (np.repeat(first, counts) + position * np.repeat(stride, counts)) % SUPPLIERS
    base = np.exp(rng.normal(5.0, 1.5, LOTS)) * 10_000  # the reference, in 1/10,000 peso
    spread = np.exp(rng.normal(0.0, 0.12, BIDS))
    amount = np.round(np.repeat(base, counts) * spread, -2).astype(np.int64)  # whole centavos
    disqualified = rng.random(BIDS) < 0.08
    # Every lot keeps one valid bid, so every lot is awarded: exactly LOTS awards.
    none_valid = np.bincount(bid_lot, weights=~disqualified, minlength=LOTS) == 0
    disqualified[offsets[none_valid]] = False
    deadline = np.repeat(end[lot_process], counts)
    late = rng.random(BIDS) < 0.001
    submitted = deadline - rng.integers(1, 5 * 86_400, BIDS) * 1_000_000 * (~late) + late * DAY

    # The winner: the lowest valid bid of each lot.
    order = np.lexsort((amount, disqualified, bid_lot))
    ranked = order[np.concatenate([[True], bid_lot[order][1:] != bid_lot[order][:-1]])]
    awarded = ranked[~disqualified[ranked]]
    award_lot = bid_lot[awarded]
    quantity = rng.integers(10, 5_000, len(awarded))
    status = np.where(disqualified, "disqualified", "valid")
    bids = pa.table(
        {
            "bid_id": _ids("b", np.arange(BIDS)),
            "lot_id": _ids("L", bid_lot),
            "tenderer_id": _ids("S", tenderer),
            "tenderers": pa.array(np.ones(BIDS, dtype=np.int32)),
            "status": pa.array(status),
            "submitted_at": _when(submitted),
            "amount": _money(amount),
            "currency": pa.array(np.full(BIDS, "MXN")),
            "reason": pa.nulls(BIDS, pa.string()),
        }
    )
    lots = pa.table(
        {
            "lot_id": _ids("L", lot),
            "process_id": _ids("P", lot_process),
            "label": _ids("partida ", lot % LOTS_PER_PROCESS + 1),
            "number_of_tenderers": pa.array(counts.astype(np.int32)),
        }
    )
    award_date = _when(end[lot_process[award_lot]] + 20 * DAY)
    award_ids = _ids("a", award_lot)
    award_amount = amount[awarded] * quantity
    awards = pa.table(
        {
            "award_id": award_ids,
            "lot_id": _ids("L", award_lot),
            "supplier_id": _ids("S", tenderer[awarded]),
            "suppliers": pa.array(np.ones(len(awarded), dtype=np.int32)),
            "status": pa.array(np.full(len(awarded), "active")),
            "award_date": award_date,
            "amount": _money(award_amount),
            "currency": pa.array(np.full(len(awarded), "MXN")),
        }
    )
    clave = rng.integers(0, CLAVES, LOTS)[award_lot]
    # Most suppliers keep to one group of claves (their own); one award in ten strays.
    home = tenderer[awarded] % 4
    stray = rng.random(len(awarded)) < 0.1
    group = np.array(["010", "060", "080", "020"])[np.where(stray, clave % 4, home)]
    items = pa.table(
        {
            "award_id": award_ids,
            "classification": pa.array(np.char.add(np.char.add(group, ".000."), clave.astype(str))),
            "quantity": pa.array(quantity.astype(np.float64)),
            "unit_price": _money(amount[awarded]),
            "amount": _money(award_amount),
            "currency": pa.array(np.full(len(awarded), "MXN")),
            "reference_price": _money(np.round(base[award_lot], -2).astype(np.int64)),
        }
    )
    contracts = pa.table(
        {
            "contract_id": _ids("c", award_lot),
            "process_id": _ids("P", lot_process[award_lot]),
            "buyer_id": _ids("B", buyer[lot_process[award_lot]]),
            "supplier_id": _ids("S", tenderer[awarded]),
            "amount": _money(award_amount),
            "currency": pa.array(np.full(len(awarded), "MXN")),
            "signed_at": award_date,
        }
    )
    supplier = np.arange(SUPPLIERS)
    registered = np.datetime64("2024-06-01") - rng.integers(0, 3_650, SUPPLIERS).astype(
        "timedelta64[D]"
    )
    parties = pa.table(
        {
            "party_id": _ids("S", supplier),
            "name": _ids("Proveedor ", supplier),
            "registered_on": pa.array(registered, type=pa.date32()),
        }
    )
    banned = rng.choice(SUPPLIERS, 200, replace=False)
    starts = np.datetime64("2023-06-01") + rng.integers(0, 700, 200).astype("timedelta64[D]")
    sanctions = pa.table(
        {
            "party_id": _ids("S", banned),
            "starts_on": pa.array(starts, type=pa.date32()),
            "ends_on": pa.array(starts + np.timedelta64(365, "D"), type=pa.date32()),
            "detail": pa.array(np.full(200, "INHABILITACIÓN · 1 AÑO")),
        }
    )
    return flat.Frames(
        currency="MXN",
        processes=processes,
        lots=lots,
        bids=bids,
        awards=awards,
        award_items=items,
        contracts=contracts,
        parties=parties,
        sanctions=sanctions,
    )


def run() -> list[Figure]:
    global measured
    measured = datetime.now(UTC)
    load = os.getloadavg()[0]
    began = time.perf_counter()
    frames = generate()
    generated = time.perf_counter() - began

    began = time.perf_counter()
    flags = indicators.compute(frames, threads=THREADS)
    total = time.perf_counter() - began
    counts = Counter(f.code for f in flags)

    # Each query alone, after the shared tables, on one connection.
    params = indicators.Parameters()
    con = flat.connect(frames, threads=THREADS)
    began = time.perf_counter()
    indicators.prepare(con, params)
    shared = time.perf_counter() - began
    each: dict[str, float] = {}
    for code in indicators.CODES:
        began = time.perf_counter()
        indicators.run_one(con, code, params)
        each[code] = time.perf_counter() - began
    con.close()

    verdict = "meets" if total < GOAL_SECONDS else "MISSES"
    figures: list[Figure] = [
        (
            "red flags: generate 1,000,000 awards and 5,000,000 bids (numpy → Arrow)",
            "DuckDB",
            generated,
            "s",
            f"{frames.awards.num_rows:,} awards, {frames.bids.num_rows:,} bids, "
            f"{frames.lots.num_rows:,} lots, {frames.processes.num_rows:,} processes",
        ),
        (
            "red flags: all 17 indicators (DuckDB, 2 threads)",
            "DuckDB",
            total,
            "s",
            f"{verdict} the goal of {GOAL_SECONDS:.0f} s; {len(flags):,} flags; "
            f"load average {load:.1f} at the start",
        ),
        (
            "red flags: shared tables (party rows, single awards, second-lowest bids)",
            "DuckDB",
            shared,
            "s",
            "before any indicator",
        ),
    ]
    for code in indicators.CODES:
        figures.append(
            (
                f"red flags: {code} {indicators.INDICATORS[code].title}",
                "DuckDB",
                each[code],
                "s",
                f"{counts.get(code, 0):,} flags",
            )
        )
    return figures


def section() -> list[str]:
    """The Red flags section of docs/benchmarks.md (its figures are in the results table)."""
    return [
        "",
        "## Red flags",
        "",
        f"Goal: every indicator (Cardinal's eleven and Abasto's six) over 1,000,000 awards and "
        f"5,000,000 bids in under {GOAL_SECONDS:.0f} s on 2 cores. "
        + (f"Measured {measured:%Y-%m-%d %H:%M} UTC on the machine above; " if measured else "")
        + "`python -m benchmarks.redflags` runs only this benchmark.",
        "",
        "- *generate*: `benchmarks.redflags.generate` (seed 6) builds the flat tables of "
        "`abasto.transparency.redflags.flat` with numpy, straight into Arrow columns: 100,000 "
        "processes × 10 lots, 1 to 9 bids per lot (5,000,000 exactly) at log-normal prices, 8 % "
        "disqualified (never every bid of a lot), 0.1 % late, the lowest valid bid of each lot "
        "awarded (1,000,000 awards), one item and one "
        "contract per award, 20,000 suppliers, 200 of them sanctioned, 300 buyers. Not part of "
        "the indicators' time.",
        "- *all indicators*: `indicators.compute(frames, threads=2)`: the Arrow tables registered "
        "in an in-memory DuckDB (no copy), the shared tables, the seventeen queries and the "
        "flags fetched as Python objects with their evidence (explanations are built when "
        "shown).",
        "- *per indicator*: the same queries one by one on one connection after the shared "
        "tables, each including the fetch of its flags.",
    ]


if __name__ == "__main__":
    print_standalone(run(), section())
