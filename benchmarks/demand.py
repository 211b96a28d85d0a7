"""Demand benchmark: import and consolidate a national round, 62 institutions × 3,900 claves.

The claves are the real 2025-2026 bid template's (read from ``../shared``); the 62 institutions
and their quantities are generated (every institution asks for every clave: 241,800 lines, the
worst case). Each figure is taken on a freshly migrated SQLite file and PostgreSQL database:

- *import*: ``demand.service.import_appendix`` of the wide appendix, in one committed
  transaction: reading the workbook, every check, the bulk writes and the ledger entries
  (one summary and one per institution).
- *consolidation*: ``demand.service.consolidate_round`` (SQL ``GROUP BY`` per clave and
  institution, then the coordinator rule), and the exports of the consolidated appendix.
- *consolidated page*: ``GET /demanda/{round}/consolidado`` through the application (a
  buyer's bearer token, the whole HTML page) over sorted, searched and paged views of the
  round, p50 and p99; the page reads the consolidation the import kept (``consolidated_demand``)
  and sorts, searches and cuts it in SQL. Each clave's breakdown is fetched when the buyer
  opens its row (``GET /demanda/{round}/consolidado/{clave}``, the fragment htmx asks for),
  timed apart over randomly chosen claves. Compared with what each view cost before, the whole
  round consolidated again (``consolidate_round`` then filtering, sorting and slicing in
  Python), and with a bare SQL ``GROUP BY`` of the round's lines per clave, sorted and cut
  (the least any recomputation costs).

``ABASTO_BENCH_DEMAND_INSTITUTIONS`` and ``ABASTO_BENCH_DEMAND_CLAVES`` shrink the round
(62 and every clave of the template by default) to develop with.
"""

from __future__ import annotations

import os
import random
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TypeVar

from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session, sessionmaker

from abasto.catalog import service as catalog
from abasto.catalog.models import Clave
from abasto.catalog.reader import read_catalog
from abasto.catalog.service import _search_conditions
from abasto.core.config import Settings
from abasto.core.context import Context, operator
from abasto.core.db import make_engine, session_factory, transaction, upgrade
from abasto.demand import appendix, rules, service
from abasto.demand.models import ConsolidatedDemand, DemandLine
from abasto.identity import service as identity
from abasto.identity.models import Role
from abasto.web.app import create_app
from benchmarks.databases import fresh_postgres
from benchmarks.tendering import _pct

Figure = tuple[str, str, float, str, str]
"""(name, database, value, unit, note), as ``benchmarks.__main__.Figure`` takes them."""

ROOT = Path(__file__).resolve().parents[1]
TEMPLATE = ROOT.parent / "shared" / "data" / "demanda" / "2025-2026.xlsx"
POSTGRES_URL = os.environ.get(
    "ABASTO_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/abasto_bench"
)
INSTITUTIONS = int(os.environ.get("ABASTO_BENCH_DEMAND_INSTITUTIONS", "62"))
CLAVES = int(os.environ.get("ABASTO_BENCH_DEMAND_CLAVES", "0")) or None
ROUND = "2027-2028"
GOAL_SECONDS = 20.0
PAGE_GOAL_MS = 100.0
PAGE_VIEWS = 120
"""Page views timed: the views below, round after round."""
OPENED = 60
"""Claves whose breakdown is opened (the fragment the page fetches), timed."""
RECOMPUTES = 5
"""The old path and the bare aggregate are timed this many times (median)."""
VIEWS = [
    (q, sort, page)
    for q in ("", "tableta", "solucion inyectable", "010.000", "060.")
    for sort in ("clave", "total")
    for page in (1, 2, 7)
]
"""(search, sort, page) as the buyer asks for them: whole round, words, clave prefixes."""
SEED = 2026

T = TypeVar("T")


def run() -> list[Figure]:
    if not TEMPLATE.exists():
        raise SystemExit(f"The demand benchmark reads the claves of {TEMPLATE}; it is missing.")
    content = TEMPLATE.read_bytes()
    claves = _claves(content)[:CLAVES]
    institutions = [
        (f"INST{i:02d}", f"Institución de prueba número {i}") for i in range(1, INSTITUTIONS + 1)
    ]
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
        *_page_latency(engine, database, size),
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


def _page_latency(engine: Engine, database: str, size: str) -> list[Figure]:
    """The consolidated page over HTTP, p50 and p99, against the old path and a bare aggregate."""
    sessions = session_factory(engine)
    with transaction(sessions) as db:
        ctx = _context(db)
        buyer = identity.create_user(
            ctx,
            username="comprador",
            full_name="Comprador de prueba",
            password="contrasena-de-prueba-1",
            role=Role.comprador,
        )
        token = identity.issue_credential(ctx, user=buyer, kind="token", ttl=timedelta(days=1))
    with tempfile.TemporaryDirectory(prefix="abasto-bench-page-") as folder:
        settings = Settings(
            database_url=str(engine.url), data_dir=Path(folder), secret_key="bench-secret"
        )
        app = create_app(settings, engine=engine, check=False)
        headers = {"Authorization": f"Bearer {token}"}
        with TestClient(app) as client:
            url = f"/demanda/{ROUND}/consolidado"
            first = client.get(url, headers=headers)
            if first.status_code != 200 or "Demanda consolidada" not in first.text:
                raise RuntimeError(f"the consolidated page answered {first.status_code}")
            seconds, sizes = [], []
            for n in range(PAGE_VIEWS):
                q, sort, page = VIEWS[n % len(VIEWS)]
                began = time.perf_counter()
                response = client.get(
                    url, params={"q": q, "orden": sort, "page": page}, headers=headers
                )
                seconds.append(time.perf_counter() - began)
                sizes.append(len(response.content))
                if response.status_code != 200:
                    raise RuntimeError(f"{q!r} {sort} {page}: {response.status_code}")
            opened = []
            for clave in _opened_claves(sessions):
                began = time.perf_counter()
                response = client.get(f"{url}/{clave}", headers={**headers, "HX-Request": "true"})
                opened.append(time.perf_counter() - began)
                if response.status_code != 200 or "<table>" not in response.text:
                    raise RuntimeError(f"the breakdown of {clave}: {response.status_code}")
    seconds.sort()
    opened.sort()
    p50, p99 = _pct(seconds, 50) * 1000, _pct(seconds, 99) * 1000
    old, bare = [], []
    with transaction(sessions) as db:
        for n in range(RECOMPUTES):
            q, sort, page = VIEWS[n % len(VIEWS)]
            began = time.perf_counter()
            _recomputed_page(db, q, sort, page)
            old.append(time.perf_counter() - began)
            bare.append(_timed(lambda: _bare_aggregate(db))[1])
    old_ms, bare_ms = statistics.median(old) * 1000, statistics.median(bare) * 1000
    verdict = "meets" if p99 < PAGE_GOAL_MS else "MISSES"
    return [
        (
            f"consolidated page over HTTP, p50 of {PAGE_VIEWS} sorted/searched/paged views "
            f"({size})",
            database,
            p50,
            "ms",
            f"{old_ms / p50:,.0f}× faster than the old recompute per view ({old_ms:,.0f} ms); "
            f"{bare_ms / p50:,.1f}× faster than a bare SQL GROUP BY of the lines "
            f"({bare_ms:,.0f} ms)",
        ),
        (
            "consolidated page over HTTP, p99",
            database,
            p99,
            "ms",
            f"({verdict} the goal of {PAGE_GOAL_MS:.0f} ms); load average "
            f"{os.getloadavg()[0]:.1f}; pages of {statistics.median(sizes) / 1000:,.0f} kB "
            "(median)",
        ),
        (
            f"a clave's breakdown opened in the page over HTTP (htmx), p99 of {len(opened)} claves",
            database,
            _pct(opened, 99) * 1000,
            "ms",
            f"p50 {_pct(opened, 50) * 1000:,.1f} ms; "
            f"{'meets' if _pct(opened, 99) * 1000 < PAGE_GOAL_MS else 'MISSES'} the page's goal",
        ),
        (
            "consolidated page, old path: the whole round recomputed per view (median)",
            database,
            old_ms,
            "ms",
            f"consolidate_round, then filter, sort and slice in Python; {RECOMPUTES} views",
        ),
        (
            "consolidated page, bare SQL GROUP BY of the round's lines per clave (median)",
            database,
            bare_ms,
            "ms",
            "sum of min and max per clave, sorted by max, 25 rows: no coordinator rule",
        ),
    ]


def _opened_claves(sessions: sessionmaker[Session]) -> list[str]:
    """``OPENED`` claves of the round, chosen at random (seeded), whose breakdowns are opened."""
    with transaction(sessions) as db:
        found = service.get_round(db, ROUND)
        claves = db.scalars(
            select(ConsolidatedDemand.clave)
            .where(ConsolidatedDemand.round_id == found.id)
            .order_by(ConsolidatedDemand.clave)
        ).all()
    return random.Random(SEED).sample(list(claves), min(OPENED, len(claves)))


def _recomputed_page(db: Session, q: str, sort: str, page: int) -> list[service.ConsolidatedLine]:
    """What every view cost before the consolidation was kept: the whole round, then Python."""
    lines = service.consolidate_round(db, round_name=ROUND).lines
    if q.strip():
        matching = set(db.scalars(select(Clave.clave).where(*_search_conditions(q))))
        lines = [line for line in lines if line.clave in matching]
    if sort == "total":
        lines = sorted(lines, key=lambda line: (-line.total.max, -line.total.min, line.clave))
    start = (page - 1) * 25
    return lines[start : start + 25]


def _bare_aggregate(db: Session) -> list[object]:
    found = service.get_round(db, ROUND)
    high = func.sum(DemandLine.max_qty)
    return list(
        db.execute(
            select(DemandLine.clave_id, func.sum(DemandLine.min_qty), high)
            .where(DemandLine.round_id == found.id)
            .group_by(DemandLine.clave_id)
            .order_by(high.desc())
            .limit(25)
        )
    )


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
