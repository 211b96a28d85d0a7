"""Transparency log benchmark: `abasto audit verify --against` a kept checkpoint over 1,000,000
entries, the checkpoint that covers them, and an inclusion proof.

A valid chain of synthetic entries is written as ``benchmarks.ledger.fill`` writes it (COPY on
PostgreSQL, executemany on SQLite); a checkpoint of the whole ledger is signed through
``core.checkpoints.publish`` (storing the interior nodes of its 3,906 complete tiles), and its
published document is kept. Timed: the signing, an inclusion proof of an entry in the middle,
and ``core.checkpoints.verify`` against the kept document — the code behind ``abasto audit
verify --against`` — which recomputes the chain and the Merkle tree in one pass and checks both
the stored and the kept checkpoint, three times (the best is the figure, the median beside it).
The ledger is vacuumed and analyzed after it is written, as autovacuum keeps a ledger that grew
over months. ``python -m benchmarks.checkpoints`` runs only this one;
``ABASTO_BENCH_LEDGER_N`` sets the size, ``ABASTO_BENCH_LOG_DATABASES`` the databases and
``ABASTO_BENCH_LOG_POSTGRES_URL`` the PostgreSQL database (recreated).
"""

from __future__ import annotations

import json
import os
import statistics
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import Engine

from abasto.core import checkpoints, ledger
from abasto.core.db import make_engine, session_factory, transaction, upgrade
from abasto.core.signed_note import Signer
from benchmarks import ledger as ledger_bench
from benchmarks import print_standalone
from benchmarks.databases import fresh_postgres

Figure = tuple[str, str, float, str, str]
"""(name, database, value, unit, note), as ``benchmarks.__main__.Figure`` takes them."""

POSTGRES_URL = os.environ.get(
    "ABASTO_BENCH_LOG_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/abasto_bench_log"
)
ENTRIES = int(os.environ.get("ABASTO_BENCH_LEDGER_N", "1000000"))
DATABASES = os.environ.get("ABASTO_BENCH_LOG_DATABASES", "postgresql,sqlite").split(",")
GOAL = 200_000
RUNS = 3
"""Timed passes of verify: the best is the figure (the machine's other work only adds time),
the median is printed beside it."""
SIGNER = Signer.from_seed("abasto.bench/bitacora", bytes(range(32)))
"""A fixed key: the benchmark measures the work, not the secrecy of its key."""
measured: datetime | None = None


def _fresh_postgres() -> Engine:
    return fresh_postgres(POSTGRES_URL)


def _measure(engine: Engine, label: str) -> list[Figure]:
    print(f"… writing a {ENTRIES:,}-entry ledger on {label}", flush=True)
    ledger_bench.fill(engine, ENTRIES)
    began = time.perf_counter()
    with transaction(session_factory(engine)) as db:
        made = checkpoints.publish(db, SIGNER, now=datetime.now(UTC))
        kept = json.dumps(checkpoints.document(made), default=str)
    signing = time.perf_counter() - began
    began = time.perf_counter()
    with transaction(session_factory(engine)) as db:
        checkpoints.inclusion(db, seq=ENTRIES // 2 + 7, tree_size=ENTRIES)
    proving = time.perf_counter() - began
    began = time.perf_counter()
    with engine.connect() as conn:
        plain = ledger.verify(conn)
    chain_seconds = time.perf_counter() - began
    times = []
    for _ in range(RUNS):
        began = time.perf_counter()
        with engine.connect() as conn:
            result = checkpoints.verify(conn, against=checkpoints.read_kept(kept))
        times.append(time.perf_counter() - began)
        if not result.ok:
            raise RuntimeError(f"benchmark ledger failed verification: {result.reason}")
    seconds, median = min(times), statistics.median(times)
    rate = result.checked / seconds
    verdict = "meets" if rate >= GOAL else "MISSES"
    return [
        (
            f"audit verify --against a kept checkpoint over {result.checked:,} entries "
            f"(best of {RUNS}: {seconds:.2f} s; median {median:.2f} s, "
            f"{result.checked / median:,.0f}/s)",
            label,
            rate,
            "entries/s",
            f"({verdict} the goal of {GOAL:,}/s)",
        ),
        (
            f"the chain alone over the same entries, for comparison ({chain_seconds:.2f} s)",
            label,
            plain.checked / chain_seconds,
            "entries/s",
            "",
        ),
        (
            f"signing the first checkpoint of {ENTRIES:,} entries (tile nodes stored)",
            label,
            signing,
            "s",
            "",
        ),
        (f"an inclusion proof in a tree of {ENTRIES:,}", label, proving * 1000, "ms", ""),
    ]


def run() -> list[Figure]:
    global measured
    measured = datetime.now(UTC)
    figures: list[Figure] = []
    for database in DATABASES:
        with tempfile.TemporaryDirectory(prefix="abasto-bench-log-") as temp:
            if database == "sqlite":
                engine = make_engine(f"sqlite:///{Path(temp) / 'log.db'}")
                upgrade(engine)
                label = "SQLite"
            else:
                engine = _fresh_postgres()
                label = "PostgreSQL"
            try:
                figures += _measure(engine, label)
            finally:
                engine.dispose()
    return figures


def section() -> list[str]:
    lines = [
        "- *audit verify --against*: `benchmarks/checkpoints.py` writes a valid chain of "
        f"{ENTRIES:,} synthetic entries (as for *audit verify*), signs a checkpoint of it "
        "through `core.checkpoints.publish` (Ed25519; the interior nodes of every complete "
        "256-leaf tile and above are stored) and keeps its published JSON document; then "
        "times `core.checkpoints.verify` against it, the code behind `abasto audit verify "
        "--against`: one streamed pass recomputes the chain and the RFC 9162 Merkle tree and "
        "checks the root at the stored and the kept checkpoint; it runs three times, the best "
        "is the figure and the median is given beside it. The ledger is vacuumed and analyzed "
        "after it is written (`VACUUM (ANALYZE)` on PostgreSQL), as autovacuum keeps a ledger "
        "that grew over months. The inclusion proof is of an "
        "entry in the middle of the tree, read from the stored nodes and one tile of entries.",
    ]
    if measured is not None:
        lines.append(f"  Measured {measured:%Y-%m-%d %H:%M} UTC.")
    return lines


if __name__ == "__main__":
    print_standalone(run(), section())
