"""Demand benchmark: import and consolidate a national round, 62 institutions × 3,900 claves.

The claves are the real 2025-2026 bid template's (read from ``../shared``); the 62 institutions
and their quantities are generated (every institution asks for every clave: 241,800 lines, the
worst case). Each figure is taken on a freshly migrated SQLite file and PostgreSQL database:

- *import*: ``demand.service.import_appendix`` of the wide appendix, in one committed
  transaction: reading the workbook, every check, the bulk writes and the ledger entries
  (one summary and one per institution).
- *consolidation*: ``demand.service.consolidate_round`` (SQL ``GROUP BY`` per clave and
  institution, then the coordinator rule), and the exports of the consolidated appendix.
"""

from __future__ import annotations

import os
import random
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TypeVar

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from abasto.catalog import service as catalog
from abasto.catalog.reader import read_catalog
from abasto.core.context import Context, operator
from abasto.core.db import make_engine, session_factory, transaction, upgrade
from abasto.demand import appendix, rules, service
from abasto.identity import service as identity
from benchmarks.databases import fresh_postgres

Figure = tuple[str, str, float, str, str]
"""(name, database, value, unit, note), as ``benchmarks.__main__.Figure`` takes them."""

ROOT = Path(__file__).resolve().parents[1]
TEMPLATE = ROOT.parent / "shared" / "data" / "demanda" / "2025-2026.xlsx"
POSTGRES_URL = os.environ.get(
    "ABASTO_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/abasto_bench"
)
INSTITUTIONS = 62
ROUND = "2027-2028"
GOAL_SECONDS = 20.0
SEED = 2026

T = TypeVar("T")


def run() -> list[Figure]:
    if not TEMPLATE.exists():
        raise SystemExit(f"The demand benchmark reads the claves of {TEMPLATE}; it is missing.")
    content = TEMPLATE.read_bytes()
    claves = _claves(content)
    institutions = [(f"INST{i:02d}", f"Institución de prueba número {i}") for i in range(1, 63)]
    workbook = _appendix(claves, institutions)
    lines = len(claves) * INSTITUTIONS
    figures: list[Figure] = []
    with tempfile.TemporaryDirectory(prefix="abasto-bench-demand-") as folder:
        for database, engine in (
            ("SQLite", _fresh_sqlite(Path(folder) / "demand.db")),
            ("PostgreSQL", _fresh_postgres()),
        ):
            try:
                figures += _measure(engine, database, content, institutions, workbook, lines)
            finally:
                engine.dispose()
    return figures


def _measure(
    engine: Engine,
    database: str,
    template: bytes,
    institutions: list[tuple[str, str]],
    workbook: bytes,
    lines: int,
) -> list[Figure]:
    sessions = session_factory(engine)
    with transaction(sessions) as db:
        ctx = _context(db)
        catalog.import_catalog(ctx, content=template, filename=TEMPLATE.name)
        for code, name in institutions:
            identity.register_institution(ctx, code=code, name=name, kind="prueba")
        service.open_round(ctx, name=ROUND, periods=["2027", "2028"])

    def imported() -> service.AppendixImportSummary:
        with transaction(sessions) as db:
            return service.import_appendix(
                _context(db), round_name=ROUND, content=workbook, filename="apendice.xlsx"
            )

    summary, import_seconds = _timed(imported)
    if summary.lines != lines:
        raise RuntimeError(f"expected {lines:,} lines, imported {summary.lines:,}")
    with transaction(sessions) as db:
        consolidation, consolidate_seconds = _timed(
            lambda: service.consolidate_round(db, round_name=ROUND)
        )
        page, page_seconds = _timed(
            lambda: service.consolidated_page(db, round_name=ROUND, sort="total", per_page=25)
        )
        xlsx, xlsx_seconds = _timed(lambda: service.export_xlsx(db, round_name=ROUND))
        csv, csv_seconds = _timed(lambda: service.export_csv(db, round_name=ROUND))
        parquet, parquet_seconds = _timed(lambda: service.export_parquet(db, round_name=ROUND))
    if len(consolidation.lines) != page.consolidation.claves:
        raise RuntimeError("the page and the consolidation disagree")
    size = f"{INSTITUTIONS} institutions × {lines // INSTITUTIONS:,} claves = {lines:,} lines"
    return [
        (
            f"demand import of a national appendix ({size})",
            database,
            import_seconds,
            "s",
            _verdict(import_seconds) + f"; workbook of {len(workbook) / 2**20:.1f} MiB",
        ),
        (
            f"demand consolidation of that round ({len(consolidation.lines):,} claves)",
            database,
            consolidate_seconds,
            "s",
            _verdict(consolidate_seconds),
        ),
        ("consolidated page (sorted by total, one page)", database, page_seconds, "s", ""),
        (
            "export of the consolidated appendix, XLSX",
            database,
            xlsx_seconds,
            "s",
            f"{len(xlsx) / 2**20:.1f} MiB",
        ),
        (
            "export, CSV (one row per clave × institution)",
            database,
            csv_seconds,
            "s",
            f"{len(csv) / 2**20:.1f} MiB",
        ),
        ("export, Parquet", database, parquet_seconds, "s", f"{len(parquet) / 2**20:.1f} MiB"),
    ]


def _verdict(seconds: float) -> str:
    return f"({'meets' if seconds < GOAL_SECONDS else 'MISSES'} the goal of {GOAL_SECONDS:.0f} s)"


def _timed(action: Callable[[], T]) -> tuple[T, float]:
    began = time.perf_counter()
    result = action()
    return result, time.perf_counter() - began


def _context(db: Session) -> Context:
    return Context(db=db, actor=operator("bench"), now=datetime.now(UTC))


def _claves(template: bytes) -> list[tuple[str, str]]:
    """(clave, description) of every partida of the 2025-2026 template."""
    found: dict[str, str] = {}
    for row in read_catalog(template, TEMPLATE.name).rows:
        found.setdefault(str(row.clave), row.description)
    return sorted(found.items())


def _appendix(claves: list[tuple[str, str]], institutions: list[tuple[str, str]]) -> bytes:
    """The wide appendix: every institution asks for every clave, minimums at 40 % or more."""
    rng = random.Random(SEED)
    rows = []
    for clave, description in claves:
        quantities = {}
        for code, _ in institutions:
            high = int(rng.lognormvariate(8, 2)) + 1
            low = rules.minimum_for(high, rules.DEFAULT_MIN_SHARE)
            quantities[code] = (low, high)
        rows.append(appendix.ConsolidatedRow(clave, description, "Pieza", quantities))
    return appendix.write_appendix(
        title=f"APÉNDICE DE PRUEBA {ROUND}", institutions=[c for c, _ in institutions], rows=rows
    )


def _fresh_sqlite(path: Path) -> Engine:
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    return engine


def _fresh_postgres() -> Engine:
    return fresh_postgres(POSTGRES_URL, suffix="demand")


if __name__ == "__main__":
    for figure in run():
        print(figure)
