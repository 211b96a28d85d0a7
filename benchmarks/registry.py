"""Registry benchmark: `institutions sync` from empty, then a national CLUES file of units.

On a fresh SQLite file and a fresh PostgreSQL database (``…_registry``): the shipped registry
is synced (one transaction, as the command runs it), then a generated CLUES-layout CSV of
15,000 units (the national scale of DESIGN.md) over the registry's institutions is imported,
and imported again unchanged (the idempotent re-import reads and compares every unit).
``python -m benchmarks.registry`` runs only this benchmark and prints its figures.
"""

from __future__ import annotations

import csv
import io
import os
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from abasto.core.context import Context, operator
from abasto.core.db import make_engine, session_factory, transaction, upgrade
from abasto.identity import registry, service
from abasto.identity.rules import STATES
from benchmarks import print_standalone
from benchmarks.databases import fresh_postgres

Figure = tuple[str, str, float, str, str]
"""(name, database, value, unit, note), as ``benchmarks.__main__.Figure`` takes them."""

POSTGRES_URL = os.environ.get(
    "ABASTO_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/abasto_bench"
)
UNITS = 15_000
GOAL_SECONDS = 30.0
_INSTITUTIONS = (
    ("IMS", "INSTITUTO MEXICANO DEL SEGURO SOCIAL", "UNIDAD DE MEDICINA FAMILIAR"),
    ("IST", "ISSSTE", "CLINICA HOSPITAL"),
    ("SSA", "SECRETARIA DE SALUD", "CENTRO DE SALUD RURAL"),
    ("IMB", "IMSS-BIENESTAR", "HOSPITAL GENERAL"),
    ("PMX", "PETROLEOS MEXICANOS", "CONSULTORIO"),
)


def clues_file(count: int) -> bytes:
    """A CLUES-layout CSV of ``count`` establishments spread over the states."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(
        (
            "CLUES",
            "ENTIDAD",
            "MUNICIPIO",
            "NOMBRE DE LA INSTITUCION",
            "NOMBRE TIPOLOGIA",
            "NOMBRE DE LA UNIDAD",
            "LATITUD",
            "LONGITUD",
        )
    )
    for n in range(count):
        state = STATES[n % len(STATES)]
        key, institution, typology = _INSTITUTIONS[n % len(_INSTITUTIONS)]
        writer.writerow(
            (
                f"{state.short_name[:2].upper()}{key}{n:06d}",
                state.name.upper(),
                f"MUNICIPIO {n % 97}",
                institution,
                typology,
                f"{typology} {n}",
                f"{15 + (n % 1700) / 100:.6f}",
                f"{-87 - (n % 3000) / 100:.6f}",
            )
        )
    return out.getvalue().encode("utf-8")


def _timed(engine: Engine, work: Callable[[Context], Any]) -> tuple[float, Any]:
    began = time.perf_counter()
    with transaction(session_factory(engine)) as db:
        result = work(Context(db=db, actor=operator("bench"), now=datetime.now(UTC)))
    return time.perf_counter() - began, result


def _measure(engine: Engine, database: str, content: bytes) -> list[Figure]:
    shipped = registry.shipped_registry()
    sync_s, plan = _timed(engine, lambda ctx: service.sync_registry(ctx, shipped))
    counts = plan.counts()
    first_s, first = _timed(
        engine, lambda ctx: service.import_units(ctx, content=content, filename="clues.csv")
    )
    again_s, again = _timed(
        engine, lambda ctx: service.import_units(ctx, content=content, filename="clues.csv")
    )
    if (first.added, again.unchanged) != (UNITS, UNITS):
        raise RuntimeError(f"expected {UNITS:,} units added then unchanged: {first}, {again}")
    verdict = "meets" if first_s <= GOAL_SECONDS else "MISSES"
    return [
        (
            f"institutions sync from empty ({counts['institutions_added']} institutions,"
            f" {counts['units_added']} units)",
            database,
            sync_s,
            "s",
            "",
        ),
        (
            f"units import of a CLUES file of {UNITS:,} units",
            database,
            first_s,
            "s",
            f"({verdict} the goal of {GOAL_SECONDS:.0f} s); CSV of {len(content) / 2**20:.1f} MiB",
        ),
        (f"the same file imported again (all {UNITS:,} unchanged)", database, again_s, "s", ""),
    ]


def run() -> list[Figure]:
    content = clues_file(UNITS)
    figures: list[Figure] = []
    with tempfile.TemporaryDirectory(prefix="abasto-bench-registry-") as folder:
        sqlite = make_engine(f"sqlite:///{Path(folder) / 'registry.db'}")
        upgrade(sqlite)
        figures += _measure(sqlite, "SQLite", content)
        sqlite.dispose()
    pg = fresh_postgres(POSTGRES_URL, suffix="registry")
    try:
        figures += _measure(pg, "PostgreSQL", content)
    finally:
        pg.dispose()
    return figures


if __name__ == "__main__":
    print_standalone(run())
