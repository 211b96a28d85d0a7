"""Inventory benchmark: redistribution of one clave across 15,000 units, against a bare HiGHS
solve of the same model.

The units (seeded) are spread over the 32 states; about 20 % hold more than their maximum
(givers, one to three lots each, some expiring within weeks), about 10 % are below their
minimum (receivers), the rest in between. ``redistribution.plan`` builds the arcs (each
receiver's ``NEIGHBOURS`` cheapest givers), the two LP solves and the plan; the bare figure is
HiGHS alone on the same rows (``plan``'s second solve included), so the ratio is what Abasto's
Python adds. ``python -m benchmarks.inventory`` runs only this benchmark.

It also loads a day of stock and dispensing into PostgreSQL through ``service.load_day_feed``
(COPYed in parts by two connections, each part indexed and its foreign keys validated once, then
attached as the day's partition; the balances of a first day streamed by COPY, then indexed; no
lot may end the day below zero), for ``LOAD_UNITS`` units × ``LOAD_CLAVES`` claves (15,000 ×
1,000 by default: 15,000,000 stock rows, 10,000,000 dispensing lines), against a bare COPY of
the same file into a table of the feed's columns, with the seconds of each step; and the
national indicators over a 90-day window, rolled a day from the day before's per-pair state
(``inventory.rolling``) against a bare DuckDB aggregate of the files the roll reads, with the
full recomputation of the window (``rolling.rebuild``) beside it.
"""

from __future__ import annotations

import os
import random
import tempfile
import time
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute
import pyarrow.parquet as pq
from sqlalchemy import text

from abasto.core.context import Context, operator
from abasto.core.db import session_factory, transaction
from abasto.core.money import MEXICO_CITY
from abasto.identity import service as identity
from abasto.inventory import columnar, redistribution, rolling, service
from abasto.inventory.redistribution import Site
from abasto.inventory.rules import CONSUMPTION_WINDOW_DAYS, Lot
from benchmarks import fresh_memory_rate, print_standalone
from benchmarks.databases import (
    drop_postgres,
    fresh_postgres,
    import_synthetic_catalog,
    settle,
    synthetic_claves,
)

Figure = tuple[str, str, float, str, str]
UNITS = int(os.environ.get("ABASTO_BENCH_INVENTORY_UNITS", "15000"))
NEIGHBOURS = 25
GOAL_SECONDS = 10.0
TODAY = date(2026, 11, 2)
SEED = 17
measured: datetime | None = None
POSTGRES_URL = os.environ.get(
    "ABASTO_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/abasto_bench"
)
LOAD_UNITS = int(os.environ.get("ABASTO_BENCH_INVENTORY_LOAD_UNITS", "15000"))
LOAD_CLAVES = int(os.environ.get("ABASTO_BENCH_INVENTORY_LOAD_CLAVES", "1000"))
"""The national day's units × claves, for the day load and the indicators."""
DAY_GOAL_SECONDS = 60.0
INDICATORS_GOAL_SECONDS = 5.0
ALL_CLAVES = int(os.environ.get("ABASTO_BENCH_INVENTORY_CLAVES", "1000"))
ALL_GOAL_SECONDS = 600.0
WORKERS = 2
"""Processes planning claves side by side: the machine's cores."""


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


_dealt: tuple[list[Site], dict[int, str]] | None = None
"""The instance the workers of ``all_claves`` deal from (inherited when they fork)."""


def _plan_clave(clave: int) -> tuple[float, float, int, int]:
    """Plan one clave of ``all_claves``: the base instance's positions dealt to the units in the
    clave's own order (a rotation), so every clave has its givers and short units elsewhere."""
    assert _dealt is not None
    sites, where = _dealt
    shift = clave * 7919 % len(sites)
    mine = [replace(sites[(u + shift) % len(sites)], unit=u) for u in range(len(sites))]
    cost = redistribution.state_cost(where)
    began = time.perf_counter()
    found = redistribution.plan(mine, today=TODAY, cost=cost, neighbours=NEIGHBOURS, places=where)
    return time.perf_counter() - began, found.solve_seconds, found.moved, found.arcs


def all_claves(sites: list[Site], where: dict[int, str]) -> list[Figure]:
    """``ALL_CLAVES`` claves across the same units, one LP per clave, ``WORKERS`` at a time."""
    global _dealt
    _dealt = sites, where
    began = time.perf_counter()
    with get_context("fork").Pool(WORKERS) as pool:
        done = pool.map(_plan_clave, range(ALL_CLAVES), chunksize=4)
    wall = time.perf_counter() - began
    _dealt = None
    planning = sum(d[0] for d in done)
    bare = sum(d[1] for d in done) / WORKERS
    meets = "meets" if wall < ALL_GOAL_SECONDS else "misses"
    return [
        (
            f"redistribution of {ALL_CLAVES:,} claves across {len(sites):,} units, "
            f"{WORKERS} processes",
            "—",
            wall,
            "s",
            f"({meets} the goal of {ALL_GOAL_SECONDS / 60:.0f} min); "
            f"{planning / ALL_CLAVES:.2f} s a "
            f"clave in one process; {sum(d[3] for d in done):,} arcs, "
            f"{sum(d[2] for d in done):,} units moved; {wall / bare:.1f}× the bare HiGHS solves "
            f"shared by the same processes ({bare:.1f} s)",
        )
    ]


def _feed_file(path: Path, units: tuple[int, int], claves: tuple[int, int], expiry: date) -> int:
    """The day's feed as the CSV ``service.load_day_feed`` reads, written by DuckDB: an initial
    lot of every unit × clave (100) and, for two pairs in three, a dispensing line (−7); the
    dispensing lines written."""
    (u0, u1), (c0, c1) = units, claves
    columns = f"u, c, 'L1', DATE '{expiry}'"
    rows = f"range({u0}, {u1} + 1) t(u), range({c0}, {c1} + 1) s(c)"
    db = duckdb.connect()
    db.execute("SET threads = 2")
    db.execute(
        f"COPY (SELECT {columns}, 'initial', 100 FROM {rows} UNION ALL"
        f" SELECT {columns}, 'dispense', -7 FROM {rows} WHERE (u + c) % 3 <> 0)"
        f" TO '{path}' (FORMAT csv, HEADER false)"
    )
    lines: int = db.execute(f"SELECT count(*) FROM {rows} WHERE (u + c) % 3 <> 0").fetchall()[0][0]
    return lines


def _chunks(path: Path) -> Iterator[bytes]:
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            yield chunk


def load_day(directory: Path) -> list[Figure]:
    """A day's opening stock and dispensing of ``LOAD_UNITS`` × ``LOAD_CLAVES``, by the service
    from the feed's CSV file and by a bare COPY of the same file."""
    settle(POSTGRES_URL)
    engine = fresh_postgres(POSTGRES_URL, suffix="inventory")
    sessions = session_factory(engine)
    claves = synthetic_claves(LOAD_CLAVES)
    now = datetime.now(UTC)
    with transaction(sessions) as db:
        ctx = Context(db, operator("bench"), now)
        import_synthetic_catalog(ctx, claves)
        identity.register_institution(
            ctx,
            code="BENCH",
            name="Institución de prueba",
            kind="x",
            units=[
                identity.UnitSpec(f"U{i:05d}", f"Unidad {i}", "hospital", "09")
                for i in range(LOAD_UNITS)
            ],
        )
    day = now.astimezone(MEXICO_CITY).date() - timedelta(days=1)
    with transaction(sessions) as db:
        units = db.execute(text("SELECT min(id), max(id), count(*) FROM units")).one()
        claves_ids = db.execute(text("SELECT min(id), max(id), count(*) FROM claves")).one()
        service.ensure_month_partitions(Context(db, operator("bench"), now), start=day, months=1)
    assert units[1] - units[0] + 1 == units[2]
    assert claves_ids[1] - claves_ids[0] + 1 == claves_ids[2]
    feed = directory / "day.csv"
    stock_rows = LOAD_UNITS * LOAD_CLAVES
    lines = _feed_file(feed, units[:2], claves_ids[:2], day + timedelta(days=365))
    movements = stock_rows + lines
    with engine.connect() as conn:
        conn.execute(text("CHECKPOINT"))
    memory = fresh_memory_rate()
    steps: dict[str, float] = {}
    began = time.perf_counter()
    with transaction(sessions) as db:
        service.load_day_feed(
            Context(db, operator("bench"), now),
            day=day,
            feed=_chunks(feed),
            source="bench",
            timings=steps,
        )
    loaded = time.perf_counter() - began
    steps["commit"] = loaded - sum(steps.values())
    # The same file by a bare COPY into a plain table of the feed's columns.
    with transaction(sessions) as db:
        db.execute(
            text(
                "CREATE TABLE bare_day (unit_id integer, clave_id integer, lot varchar(40),"
                " expiry date, kind varchar(20), quantity integer)"
            )
        )
    began = time.perf_counter()
    with transaction(sessions) as db:
        driver: Any = db.connection().connection.dbapi_connection
        with (
            driver.cursor() as cursor,
            cursor.copy("COPY bare_day FROM STDIN (FORMAT csv)") as copy,
        ):
            for chunk in _chunks(feed):
                copy.write(chunk)
    bare = time.perf_counter() - began
    drop_postgres(engine)
    meets = "meets" if loaded < DAY_GOAL_SECONDS else "misses"
    return [
        (
            f"inventory day loaded from its CSV feed by service.load_day_feed ({LOAD_UNITS:,} "
            f"units × {LOAD_CLAVES:,} claves: {stock_rows:,} stock rows, {lines:,} dispensing "
            "lines)",
            "PostgreSQL",
            loaded,
            "s",
            f"({meets} the national goal of {DAY_GOAL_SECONDS:.0f} s at 15,000,000 + "
            f"10,000,000 rows); {movements / loaded:,.0f} movements/s; {loaded / bare:.1f}× a "
            f"bare COPY of the same file ({bare:.2f} s); load average {os.getloadavg()[0]:.1f};"
            f" new memory at {memory:.2f} GiB/s just before; steps: "
            + ", ".join(f"{k} {v:.1f} s" for k, v in steps.items()),
        )
    ]


def _indicator_files(directory: Path) -> tuple[Path, Path, int, int]:
    """National Parquet files for the indicators, consistent as the database would have them:
    a lot per unit × clave (its stock at ``TODAY``'s end, none below zero) and, every day of the
    window, dispensing by two pairs in three. ``full/`` is what the full recomputation of the day
    before reads (the lots, ``TODAY``'s dispensing as what moved after that day, and a file of
    facts per day of the window, ``facts/<day>.parquet``); ``roll/`` what the roll to ``TODAY``
    reads (the lots, the facts of ``TODAY`` and of the day that leaves the window). The
    window's pair-days and the facts' rows of ``TODAY``."""
    full, roll = directory / "full", directory / "roll"
    (full / "facts").mkdir(parents=True, exist_ok=True)
    roll.mkdir(exist_ok=True)
    rows = f"range(1, {LOAD_UNITS} + 1) t(u), range(1, {LOAD_CLAVES} + 1) s(c)"
    db = duckdb.connect()
    db.execute("SET threads = 2")
    db.execute("SET memory_limit = '3GB'")
    db.execute("SET temp_directory = $path", {"path": str(directory)})
    # The lots sorted by pair, as the service exports them.
    db.execute(
        f"COPY (SELECT u AS unit_id, c AS clave_id, 'L1' AS lot,"
        f" DATE '{TODAY}' + ((u * 7 + c * 13) % 700)::INTEGER AS expiry,"
        f" greatest((u * 31 + c * 17) % 400 - 40, 0)::BIGINT AS quantity FROM {rows}"
        f" ORDER BY u, c) TO '{full}/lots.parquet'"
    )
    db.execute(
        "COPY (SELECT u AS unit_id, CASE WHEN u % 3 = 0 THEN 'clinica' ELSE 'hospital' END AS"
        " kind, lpad(((u % 32) + 1)::VARCHAR, 2, '0') AS state, 'I' || (u % 40)::VARCHAR AS"
        f" institution FROM range(1, {LOAD_UNITS} + 1) t(u)) TO '{full}/units.parquet'"
    )
    db.close()
    for name in ("lots", "units"):
        (roll / f"{name}.parquet").write_bytes((full / f"{name}.parquet").read_bytes())
    units = np.repeat(np.arange(1, LOAD_UNITS + 1, dtype=np.int64), LOAD_CLAVES)
    claves = np.tile(np.arange(1, LOAD_CLAVES + 1, dtype=np.int64), LOAD_UNITS)
    pairs = units + claves

    def facts(back: int) -> pa.Table:
        """The day ``back`` days before ``TODAY``: the pairs that dispensed, sorted by pair."""
        moved = (pairs + back) % 3 != 0
        out = (pairs[moved] + back) % 9 + 1
        return pa.table(
            {"unit_id": units[moved], "clave_id": claves[moved], "dispensed": out, "net": -out}
        )

    window = 0
    for back in range(1, CONSUMPTION_WINDOW_DAYS + 1):
        found = facts(back)
        window += found.num_rows
        pq.write_table(found, full / "facts" / f"{TODAY - timedelta(days=back)}.parquet")
    today = facts(0)
    pq.write_table(today, roll / "entering.parquet")
    pq.write_table(facts(CONSUMPTION_WINDOW_DAYS), roll / "leaving.parquet")
    # What moved after the day before, per lot: TODAY's dispensing; after TODAY, nothing (one
    # row of nothing, so the roll matches its lots against it as it would in production).
    pq.write_table(
        today.select(["unit_id", "clave_id"])
        .append_column("lot", pa.array(["L1"] * today.num_rows))
        .append_column("total", today["net"]),
        full / "after.parquet",
    )
    pq.write_table(
        pa.table({"unit_id": [1], "clave_id": [1], "lot": ["L1"], "total": [0]}),
        roll / "after.parquet",
    )
    return full, roll, window, today.num_rows


def indicators(directory: Path) -> list[Figure]:
    """The national indicators of ``TODAY`` rolled from the state of the day before
    (``rolling``: the lots, the facts of the day that enters and of the day that leaves), after
    the full recomputation of that day over the 90-day window (``rolling.rebuild``, a day's
    facts at a time) that left the state; against a bare DuckDB aggregate of the roll's files."""
    full, roll, window, entering = _indicator_files(directory)
    yesterday = TODAY - timedelta(days=1)
    load = os.getloadavg()[0]
    began = time.perf_counter()
    units = pq.read_table(full / "units.parquet")
    _, state = rolling.rebuild(
        day=yesterday,
        lots=columnar.lots_at_end(full),
        facts=lambda day: pq.read_table(full / "facts" / f"{day}.parquet"),
        units=units,
        policies={},
    )
    rolling.save(state, directory / "state")
    recomputed = time.perf_counter() - began
    del state
    full_load = load
    load = os.getloadavg()[0]
    memory = fresh_memory_rate()
    began = time.perf_counter()
    found_state = rolling.load(directory / "state", day=yesterday)
    assert found_state is not None
    found, _ = rolling.roll(
        found_state,
        day=TODAY,
        lots=columnar.lots_at_end(roll),
        entering=pq.read_table(roll / "entering.parquet"),
        leaving=pq.read_table(roll / "leaving.parquet"),
        units=pq.read_table(roll / "units.parquet"),
        policies={},
        save_to=directory / "state",
    )
    rolled = time.perf_counter() - began
    db = duckdb.connect()
    db.execute("SET threads = 2")
    began = time.perf_counter()
    db.execute(
        f"SELECT count(*), sum(q), sum(d) FROM (SELECT unit_id, clave_id, sum(quantity) AS q FROM"
        f" '{roll}/lots.parquet' GROUP BY ALL) FULL JOIN (SELECT unit_id, clave_id,"
        f" sum(dispensed) AS d FROM read_parquet(['{roll}/entering.parquet',"
        f" '{roll}/leaving.parquet']) GROUP BY ALL) USING (unit_id, clave_id)"
    ).fetchall()
    bare = time.perf_counter() - began
    db.close()
    nation = found.abasto.filter(pa.compute.equal(found.abasto["scope"], "nation")).to_pylist()[0]
    meets = "meets" if rolled < INDICATORS_GOAL_SECONDS else "misses"
    return [
        (
            f"national indicators rolled a day (rolling: {found.daily.num_rows:,} unit × clave "
            f"rows over a {CONSUMPTION_WINDOW_DAYS}-day window, {entering:,} pair-days entering "
            f"and as many leaving; {found.abasto.num_rows:,} abasto rows)",
            "NumPy",
            rolled,
            "s",
            f"({meets} the goal of {INDICATORS_GOAL_SECONDS:.0f} s); {rolled / bare:.1f}× a bare "
            f"DuckDB aggregate of the same files ({bare:.2f} s); national abasto "
            f"{nation['with_stock']:,} of {nation['listed']:,}; load average {load:.1f}; new "
            f"memory at {memory:.2f} GiB/s just before",
        ),
        (
            "national indicators recomputed over the whole window (rolling.rebuild, the "
            f"fallback: {window:,} pair-days of movements in {CONSUMPTION_WINDOW_DAYS} daily "
            "files), leaving the state",
            "NumPy",
            recomputed,
            "s",
            f"what a missing, damaged or stale state costs once; load average {full_load:.1f}",
        ),
    ]


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
    with tempfile.TemporaryDirectory() as scratch:
        loaded = load_day(Path(scratch))
        indicated = indicators(Path(scratch))
    return [
        *loaded,
        *indicated,
        *all_claves(sites, where),
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
        f"Goals (issue 17): a national day ({LOAD_UNITS:,} units × {LOAD_CLAVES:,} claves) "
        f"loaded in under {DAY_GOAL_SECONDS:.0f} s, the national indicators in under "
        f"{INDICATORS_GOAL_SECONDS:.0f} s, redistribution of one clave across 15,000 units in "
        f"under {GOAL_SECONDS:.0f} s and of all {ALL_CLAVES:,} claves in under "
        f"{ALL_GOAL_SECONDS / 60:.0f} min. "
        + (f"Measured {measured:%Y-%m-%d %H:%M} UTC; " if measured else "")
        + "`python -m benchmarks.inventory` runs only this benchmark (sizes: "
        "`ABASTO_BENCH_INVENTORY_LOAD_UNITS`, `…_LOAD_CLAVES`, `…_UNITS`, "
        "`…_CLAVES`).",
        "",
        "- *day loaded*: once the server runs no autovacuum worker (the earlier benchmarks' "
        "rows; `benchmarks.databases.settle`, then a `CHECKPOINT`), `load_day` registers the "
        "units and claves, writes the day's feed with "
        "DuckDB (an initial lot of 100 for every unit × clave, a dispensing line of −7 for two "
        "pairs in three: 15,000,000 + 10,000,000 rows at national size) and loads the file "
        "through `inventory.service.load_day_feed` into a month partitioned by day, in parts "
        "(docs/scale.md): two connections each COPY FREEZE every other chunk of the file into a "
        "table of its own, check its rules, build its two indexes, validate its foreign keys and "
        "commit; the first day's 15,000,000 balances are grouped from the parts' indexes by one "
        "connection per range of units and streamed by binary COPY into the emptied balances, "
        "whose keys and indexes are then built once; the caller's transaction attaches the "
        "parts to the day's table and the day to the month (no scan: their CHECKs); the bare "
        "figure COPYs the same file into a plain table of the feed's columns. The steps' "
        "seconds follow the figure (*copy and rules* and *indexes and keys* are the parts', "
        "side by side). The database is then dropped: its autovacuum would run beside the "
        "indicators.",
        "- *indicators*: national Parquet files in `inventory.columnar`'s layout, consistent as"
        " the database would hold them (a lot per unit × clave, none below zero; dispensing by "
        "two pairs in three every day of the 90-day window, a file of facts per day; the units "
        "in 32 states and 40 institutions). `rolling.rebuild` recomputes the day before over "
        "the whole window, backwards from its stock a day's facts at a time, and leaves the "
        "per-pair state; then the nightly roll to the day is timed: the state loaded and "
        "checked (CRC-32 per array), the lots, the facts of the day that enters and of the day "
        "that leaves, `rolling.roll` (every unit × clave's indicators, the abasto per unit, "
        "institution, state and nation) and the new state saved. The bare figure is one DuckDB "
        "`GROUP BY` per file the roll reads (the lots; the two days of facts), joined.",
        "- *redistribution*: `benchmarks.inventory.instance` (seed 17) places the units in the 32 "
        "states, 20 % above their maximum with one to three lots, 10 % below their minimum; "
        "`redistribution.plan` with the 25 cheapest givers per short unit, costs from the state "
        "capitals. The bare figure is the time inside HiGHS's `run` calls. For all claves, "
        "each clave deals the same positions to the units in its own order (a rotation), "
        f"planned by {WORKERS} processes; the bare figure is their HiGHS time shared by "
        f"{WORKERS}.",
        "- *new memory*: the bench machine is a virtual machine whose kernel hands freed memory "
        "back to its host (free page reporting, 2 MiB blocks), and memory new to a process is "
        "then backed again page by page: on 2026-12-07 writing 4 GiB of it took 11.34 s after "
        "a reboot and 0.74 s right after the same had been written and freed, and 1 GiB ran at "
        "0.21 GiB/s with CI running beside it. The day writes several GiB new to PostgreSQL's "
        "processes and the page cache (tables, indexes, sorts), the roll faulted in 3.4 GB "
        "(`getrusage`), so both move with it: each note carries the rate "
        "(`benchmarks.fresh_memory_rate`, 1 GiB) measured just before.",
    ]


if __name__ == "__main__":
    print_standalone(run(), section())
