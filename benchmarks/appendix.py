"""Appendix import benchmark: peak memory and time of a national appendix, against openpyxl.

The appendix is generated in the official wide layout (``demand.appendix.write_appendix``):
62 institutions × the 3,900 claves of the real 2025-2026 bid template (read from
``../shared``), seven cells in ten 0/0 as in real national appendices (a 62 × 3,831 one had
167,009 pairs of zeros out of 237,522), the rest at or above the 40 % minimum. Each figure is
taken in a fresh child process, so that one measurement's memory does not carry into the next:

- *bare read*: ``openpyxl.load_workbook(read_only=True, data_only=True)`` and every row of
  every sheet iterated (``values_only``): the least any import of the file can cost.
- *import*: ``demand.service.import_appendix`` of the same file into a round of a database the
  parent prepared (catalog, institutions, round), in one committed transaction: reading,
  every check, the bulk writes, the observations and the ledger entries.

Peak memory is the child's peak resident set (``ru_maxrss``), which includes the interpreter
and the modules it loaded; the import's own figure is also given without them (peak minus the
resident set once Abasto was loaded, before the file was read). Time is wall-clock. Both are
reported as ratios to the bare read. Goal: the import peaks under 300 MB.
"""

from __future__ import annotations

import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from abasto.catalog import service as catalog
from abasto.core.context import Context, operator
from abasto.core.db import make_engine, session_factory, transaction, upgrade
from abasto.demand import appendix, rules
from abasto.demand import service as demand
from abasto.identity import service as identity
from benchmarks import print_standalone
from benchmarks.databases import fresh_postgres

Figure = tuple[str, str, float, str, str]

ROOT = Path(__file__).resolve().parents[1]
TEMPLATE = ROOT.parent / "shared" / "data" / "demanda" / "2025-2026.xlsx"
POSTGRES_URL = os.environ.get(
    "ABASTO_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/abasto_bench"
)
INSTITUTIONS = 62
ZERO_SHARE = 0.7
ROUND = "2027-2028"
GOAL_MB = 300.0
SEED = 2027

measured: datetime | None = None
results: dict[str, dict[str, float]] = {}
"""Database → the child's figures (``seconds``, ``peak_mb``, ``base_mb``, ``lines``)."""
bare: dict[str, float] = {}


def run() -> list[Figure]:
    global measured
    if not TEMPLATE.exists():
        raise SystemExit(f"The appendix benchmark reads the claves of {TEMPLATE}; it is missing.")
    measured = datetime.now(UTC)
    figures: list[Figure] = []
    template = TEMPLATE.read_bytes()
    with tempfile.TemporaryDirectory(prefix="abasto-bench-appendix-") as temp:
        folder = Path(temp)
        workbook = folder / "apendice.xlsx"
        workbook.write_bytes(_appendix(template))
        bare.update(_child("read", workbook))
        for database in ("SQLite", "PostgreSQL"):
            url = (
                f"sqlite:///{folder / 'appendix.db'}"
                if database == "SQLite"
                else _fresh_postgres_url()
            )
            _prepare(url, template)
            results[database] = _child("import", workbook, url)
            figures += _figures(database, results[database])
    return figures


def _figures(database: str, child: dict[str, float]) -> list[Figure]:
    peak, seconds = child["peak_mb"], child["seconds"]
    verdict = "meets" if peak < GOAL_MB else "MISSES"
    lines = f"{int(child['lines']):,} lines"
    return [
        (
            "appendix import, peak memory (62 institutions × 3,900 claves)",
            database,
            peak,
            "MB",
            f"({verdict} the goal of {GOAL_MB:.0f} MB); {peak / bare['peak_mb']:.1f} × a bare "
            f"openpyxl read ({bare['peak_mb']:.0f} MB); {peak - child['base_mb']:.0f} MB above "
            f"the process with Abasto loaded; {lines}",
        ),
        (
            "appendix import, time (62 institutions × 3,900 claves)",
            database,
            seconds,
            "s",
            f"{seconds / bare['seconds']:.1f} × a bare openpyxl read ({bare['seconds']:.1f} s)",
        ),
    ]


_BARE_READ = """
import json, sys, time
import openpyxl
def peak():
    for line in open("/proc/self/status").read().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
base = peak()
began = time.perf_counter()
book = openpyxl.load_workbook(sys.argv[1], read_only=True, data_only=True)
rows = sum(1 for sheet in book.worksheets for _ in sheet.iter_rows(values_only=True))
book.close()
seconds = time.perf_counter() - began
print(json.dumps({"seconds": seconds, "peak_mb": peak(), "base_mb": base, "rows": rows}))
"""
"""The bare read, in a child that loads openpyxl and nothing else of Abasto's."""


def _child(mode: str, workbook: Path, url: str = "") -> dict[str, float]:
    """Run one measurement in a fresh interpreter and return what it printed."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(ROOT)])}
    command = (
        [sys.executable, "-c", _BARE_READ, str(workbook)]
        if mode == "read"
        else [sys.executable, "-m", "benchmarks.appendix", "--child", str(workbook), url]
    )
    done = subprocess.run(
        command,
        check=True,
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
    )
    found: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    return found


def _peak_mb() -> float:
    """The process's peak resident set, in MB. VmHWM, not ``ru_maxrss``: Linux carries a
    process's ``ru_maxrss`` across fork and exec, so a child started by a big parent would
    report the parent's peak."""
    status = Path("/proc/self/status")
    if status.exists():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _measure_import(workbook: Path, url: str) -> dict[str, float]:
    engine = make_engine(url)
    sessions = session_factory(engine)
    base = _peak_mb()
    began = time.perf_counter()
    content = workbook.read_bytes()
    with transaction(sessions) as db:
        summary = demand.import_appendix(
            _context(db), round_name=ROUND, content=content, filename=workbook.name
        )
    seconds = time.perf_counter() - began
    engine.dispose()
    return {"seconds": seconds, "peak_mb": _peak_mb(), "base_mb": base, "lines": summary.lines}


def _prepare(url: str, template: bytes) -> None:
    engine = make_engine(url)
    try:
        upgrade(engine)
        with transaction(session_factory(engine)) as db:
            ctx = _context(db)
            catalog.import_catalog(ctx, content=template, filename=TEMPLATE.name)
            for code in _codes():
                identity.register_institution(
                    ctx, code=code, name=f"Institución de prueba {code}", kind="prueba"
                )
            demand.open_round(ctx, name=ROUND, periods=["2027", "2028"])
    finally:
        engine.dispose()


def _codes() -> list[str]:
    return [f"INST{i:02d}" for i in range(1, INSTITUTIONS + 1)]


def _appendix(template: bytes) -> bytes:
    from benchmarks.demand import _claves

    rng = random.Random(SEED)
    rows = []
    for clave, description in _claves(template):
        quantities = {}
        for code in _codes():
            if rng.random() < ZERO_SHARE:
                quantities[code] = (0, 0)
                continue
            high = int(rng.lognormvariate(8, 2)) + 1
            quantities[code] = (rules.minimum_for(high, rules.DEFAULT_MIN_SHARE), high)
        rows.append(appendix.ConsolidatedRow(clave, description, "Pieza", quantities))
    return appendix.write_appendix(
        title=f"APÉNDICE DE PRUEBA {ROUND}", institutions=_codes(), rows=rows
    )


def _context(db: Any) -> Context:
    return Context(db=db, actor=operator("bench"), now=datetime.now(UTC))


def _fresh_postgres_url() -> str:
    engine = fresh_postgres(POSTGRES_URL, suffix="appendix")
    url = engine.url.render_as_string(hide_password=False)
    engine.dispose()
    return url


def section() -> list[str]:
    lines = [
        "## Appendix import: memory and time against a bare openpyxl read",
        "",
        f"`benchmarks/appendix.py`: an appendix in the official wide layout, {INSTITUTIONS} "
        f"institutions × the 3,900 claves of the 2025-2026 template, {ZERO_SHARE:.0%} of its "
        "cells 0/0 (zero cells are not lines). Each figure in a fresh child process: a bare "
        "`openpyxl` read-only read of every row, then `demand.service.import_appendix` of the "
        "same file into a prepared database, in one committed transaction. Peak memory is the "
        "child's peak resident set (interpreter and modules included); «above base» leaves out "
        f"the resident set once Abasto was loaded. Goal: under {GOAL_MB:.0f} MB.",
        "",
        "| database | lines | import peak | above base | × bare read | import time | × bare read |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for database, child in results.items():
        lines.append(
            f"| {database} | {int(child['lines']):,} | {child['peak_mb']:.0f} MB | "
            f"{child['peak_mb'] - child['base_mb']:.0f} MB | "
            f"{child['peak_mb'] / bare['peak_mb']:.1f} | {child['seconds']:.1f} s | "
            f"{child['seconds'] / bare['seconds']:.1f} |"
        )
    if bare:
        lines += [
            "",
            f"Bare openpyxl read: {bare['peak_mb']:.0f} MB peak, {bare['seconds']:.1f} s, "
            f"{int(bare['rows']):,} rows.",
        ]
    if measured is not None:
        lines += ["", f"Measured {measured:%Y-%m-%d %H:%M} UTC."]
    return lines


if __name__ == "__main__":
    if sys.argv[1:2] == ["--child"]:
        print(json.dumps(_measure_import(Path(sys.argv[2]), sys.argv[3])))
    else:
        print_standalone(run(), section())
