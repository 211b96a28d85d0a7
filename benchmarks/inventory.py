"""Inventory benchmark: redistribution of one clave across 15,000 units, against a bare HiGHS
solve of the same model.

The units (seeded) are spread over the 32 states; about 20 % hold more than their maximum
(givers, one to three lots each, some expiring within weeks), about 10 % are below their
minimum (receivers), the rest in between. ``redistribution.plan`` builds the arcs (each
receiver's ``NEIGHBOURS`` cheapest givers), the two LP solves and the plan; the bare figure is
HiGHS alone on the same rows (``plan``'s second solve included), so the ratio is what Abasto's
Python adds. ``python -m benchmarks.inventory`` runs only this benchmark.

It also loads a day of stock and dispensing into PostgreSQL through ``service.load_day``
(COPY to a temporary table, then set operations; no lot may end the day below zero), for
``LOAD_UNITS`` units × ``LOAD_CLAVES`` claves, against a bare COPY of the same movement rows
into a table of the same columns. Not measured yet (issue 17): the national day itself
(15,000,000 stock rows, 10,000,000 dispensing lines) and the national indicators by DuckDB.
"""

from __future__ import annotations

import os
import random
import time
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from multiprocessing import get_context
from typing import Any

from sqlalchemy import text

from abasto.catalog import service as catalog
from abasto.core.context import Context, operator
from abasto.core.db import session_factory, transaction
from abasto.core.money import MEXICO_CITY
from abasto.identity import service as identity
from abasto.inventory import redistribution, service
from abasto.inventory.redistribution import Site
from abasto.inventory.rules import Kind, Lot
from benchmarks import print_standalone
from benchmarks.databases import fresh_postgres

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
LOAD_UNITS = int(os.environ.get("ABASTO_BENCH_INVENTORY_LOAD_UNITS", "300"))
LOAD_CLAVES = int(os.environ.get("ABASTO_BENCH_INVENTORY_LOAD_CLAVES", "200"))
ALL_CLAVES = int(os.environ.get("ABASTO_BENCH_INVENTORY_CLAVES", "1000"))
ALL_GOAL_SECONDS = 600.0
WORKERS = 2
"""Processes planning claves side by side: the machine's cores."""
LINES_PER_PAIR = 3
"""Dispensing lines of one unit × clave in the day (one per shift)."""


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


def _claves(count: int) -> list[str]:
    return [f"010.000.{i:04d}.00" for i in range(1, count + 1)]


def load_day() -> list[Figure]:
    """A day's opening stock and dispensing of ``LOAD_UNITS`` × ``LOAD_CLAVES``, by the service
    and by a bare COPY."""
    engine = fresh_postgres(POSTGRES_URL, suffix="inventory")
    sessions = session_factory(engine)
    claves = _claves(LOAD_CLAVES)
    now = datetime.now(UTC)
    with transaction(sessions) as db:
        ctx = Context(db, operator("bench"), now)
        catalog.import_catalog(
            ctx,
            content=(
                "Clave,Descripción\n" + "".join(f"{c},Medicamento {c}\n" for c in claves)
            ).encode(),
            filename="catalogo.csv",
        )
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
    expiry = day + timedelta(days=365)
    with transaction(sessions) as db:
        unit_ids = [r[0] for r in db.execute(text("SELECT id FROM units ORDER BY code"))]
        clave_ids = [r[0] for r in db.execute(text("SELECT id FROM claves ORDER BY clave"))]
    rows = [
        service.DayRow(u, c, "L1", expiry, Kind.initial, 100) for u in unit_ids for c in clave_ids
    ] + [
        service.DayRow(u, c, "L1", expiry, Kind.dispense, -7)
        for u in unit_ids
        for c in clave_ids
        for _ in range(LINES_PER_PAIR)
    ]
    began = time.perf_counter()
    with transaction(sessions) as db:
        service.load_day(Context(db, operator("bench"), now), day=day, rows=rows, source="bench")
    loaded = time.perf_counter() - began
    movements = len(rows)
    stock_rows = len(unit_ids) * len(clave_ids)
    # The same rows by a bare COPY into a table of the same columns.
    with transaction(sessions) as db:
        db.execute(
            text("CREATE TABLE bare_movements (LIKE stock_movements_default INCLUDING DEFAULTS)")
        )
    began = time.perf_counter()
    with transaction(sessions) as db:
        driver: Any = db.connection().connection.dbapi_connection
        columns = "day, at, unit_id, clave_id, lot, expiry, kind, quantity, source, actor"
        with (
            driver.cursor() as cursor,
            cursor.copy(f"COPY bare_movements ({columns}) FROM STDIN") as copy,
        ):
            for r in rows:
                kind = r.kind.value
                copy.write_row(
                    (
                        day,
                        now,
                        r.unit_id,
                        r.clave_id,
                        r.lot,
                        r.expiry,
                        kind,
                        r.quantity,
                        "bare",
                        "b",
                    )
                )
    bare = time.perf_counter() - began
    engine.dispose()
    return [
        (
            f"inventory day loaded in bulk by service.load_day ({LOAD_UNITS:,} units × "
            f"{LOAD_CLAVES:,} claves: {stock_rows:,} stock rows, "
            f"{movements - stock_rows:,} dispensing lines)",
            "PostgreSQL",
            loaded,
            "s",
            f"{movements / loaded:,.0f} movements/s; {loaded / bare:.1f}× a bare COPY of the same "
            f"rows ({bare:.2f} s); the national day (15,000,000 stock rows, 10,000,000 lines) is "
            f"{15_000_000 / stock_rows:,.0f}× the stock rows",
        )
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
    return [
        *load_day(),
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
        f"Goal: redistribution of one clave across 15,000 units in under {GOAL_SECONDS:.0f} s. "
        + (f"Measured {measured:%Y-%m-%d %H:%M} UTC; " if measured else "")
        + "`python -m benchmarks.inventory` runs only this benchmark.",
        "",
        "- *redistribution*: `benchmarks.inventory.instance` (seed 17) places the units in the 32 "
        "states, 20 % above their maximum with one to three lots, 10 % below their minimum; "
        "`redistribution.plan` with the 25 cheapest givers per short unit, costs from the state "
        "capitals. The bare figure is the time inside HiGHS's two `run` calls.",
        "- *day loaded*: `load_day` registers the units and claves, then loads for every unit an "
        "initial lot per clave and three dispensing lines per clave through "
        "`inventory.service.load_day` (one transaction: COPY to a temporary table, movements by "
        "INSERT … SELECT, balances by one UPDATE … FROM and one INSERT … SELECT); the bare "
        "figure COPYs the same rows into a plain table of the same columns.",
        "- Not measured yet: the national day itself and the national indicators over a "
        "snapshot (issue 17).",
    ]


if __name__ == "__main__":
    print_standalone(run(), section())
