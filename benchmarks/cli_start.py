"""CLI start benchmark: `abasto --help` and `abasto audit verify` on a small ledger, as processes.

Each command is started as a new process (what a user or a cron job pays), several times, and
its median wall time is compared with a bare ``python -c pass`` of the same interpreter: the
difference is what importing the application costs before the command does anything. The
ledger is 1,000 synthetic entries (``benchmarks.ledger.fill``) in a fresh SQLite file and a
fresh PostgreSQL database. ``ABASTO_BENCH_CLI_RUNS`` sets the runs per command (default 7).
``python -m benchmarks.cli_start`` runs only this benchmark and prints its figures and section.
"""

from __future__ import annotations

import importlib.util
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import sqlalchemy
from sqlalchemy import Engine

from abasto.core.db import make_engine, upgrade
from benchmarks import ledger, print_standalone
from benchmarks.databases import fresh_postgres

Figure = tuple[str, str, float, str, str]
"""(name, database, value, unit, note), as ``benchmarks.__main__.Figure`` takes them."""

ROOT = Path(__file__).resolve().parents[1]
POSTGRES_URL = os.environ.get(
    "ABASTO_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/abasto_bench"
)
RUNS = int(os.environ.get("ABASTO_BENCH_CLI_RUNS", "7"))
ENTRIES = 1_000
GOAL_SECONDS = 0.5
measured: datetime | None = None


def _command() -> list[str]:
    """The `abasto` console script beside this interpreter (as installed), else ``-m abasto``."""
    script = Path(sys.executable).with_name("abasto")
    return [str(script)] if script.exists() else [sys.executable, "-m", "abasto"]


@dataclass(frozen=True)
class Started:
    wall: float
    """Median seconds from start to exit."""
    cpu: float
    """Median CPU seconds (user + system) of the process: what load on the machine hides."""


def _started(args: Sequence[str], env: Mapping[str, str], cwd: Path) -> Started:
    """``RUNS`` starts (after one not counted, which warms the disk), as medians."""
    walls, cpus = [], []
    for run in range(RUNS + 1):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        began = time.perf_counter()
        done = subprocess.run(args, env=dict(env), cwd=cwd, capture_output=True, check=False)
        elapsed = time.perf_counter() - began
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        if done.returncode != 0:
            raise RuntimeError(
                f"{' '.join(args)} exited {done.returncode}: {done.stderr.decode()[-500:]}"
            )
        if run:
            walls.append(elapsed)
            cpus.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
    return Started(statistics.median(walls), statistics.median(cpus))


def _bytecode() -> str:
    """Whether the installed packages' bytecode is there, as SQLAlchemy's says: without it (an
    install that did not compile it, and ``PYTHONDONTWRITEBYTECODE`` set) every start compiles
    again what it imports, which more than doubled ``audit verify``'s."""
    cached = Path(importlib.util.cache_from_source(sqlalchemy.__file__ or ""))
    return "compiled" if cached.exists() else "NOT compiled (each start compiles what it imports)"


def _ledger(engine: Engine) -> None:
    ledger.fill(engine, ENTRIES)
    engine.dispose()


def run() -> list[Figure]:
    global measured
    measured = datetime.now(UTC)
    load = os.getloadavg()[0]
    abasto = _command()
    figures: list[Figure] = []
    with tempfile.TemporaryDirectory(prefix="abasto-bench-cli-") as folder:
        cwd = Path(folder)
        env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(ROOT)]),
            "ABASTO_DATA_DIR": str(cwd),
        }
        bare = _started([sys.executable, "-c", "pass"], env, cwd)
        figures.append(
            (
                "process start: bare `python -c pass` (median)",
                "—",
                bare.wall,
                "s",
                f"CPU {bare.cpu:.3f} s; {RUNS} runs; load average {load:.1f} at the start; "
                f"the installed packages' bytecode {_bytecode()}",
            )
        )
        figures.append(
            _figure("`abasto --help`", "—", _started([*abasto, "--help"], env, cwd), bare)
        )
        sqlite = make_engine(f"sqlite:///{cwd / 'ledger.db'}")
        upgrade(sqlite)
        _ledger(sqlite)
        databases = [("SQLite", f"sqlite:///{cwd / 'ledger.db'}")]
        postgres = fresh_postgres(POSTGRES_URL, suffix="cli")
        databases.append(("PostgreSQL", postgres.url.render_as_string(hide_password=False)))
        _ledger(postgres)
        for database, url in databases:
            verify = _started(
                [*abasto, "audit", "verify"], {**env, "ABASTO_DATABASE_URL": url}, cwd
            )
            figures.append(
                _figure(f"`abasto audit verify` of {ENTRIES:,} entries", database, verify, bare)
            )
    return figures


def _figure(what: str, database: str, started: Started, bare: Started) -> Figure:
    verdict = "meets" if started.wall < GOAL_SECONDS else "MISSES"
    return (
        f"process start to exit: {what} (median)",
        database,
        started.wall,
        "s",
        f"{started.wall / bare.wall:,.1f}× a bare `python -c pass` ({bare.wall:.3f} s); "
        f"CPU {started.cpu:.2f} s ({started.cpu / max(bare.cpu, 1e-3):,.1f}× the bare "
        f"start's); {verdict} the goal of {GOAL_SECONDS} s",
    )


def section() -> list[str]:
    """The CLI start section of docs/benchmarks.md (its figures are in the results table)."""
    return [
        "",
        "## CLI start",
        "",
        f"Goal: `abasto --help` and `abasto audit verify` on a small ledger start and finish in "
        f"under {GOAL_SECONDS} s. "
        + (f"Measured {measured:%Y-%m-%d %H:%M} UTC on the machine above; " if measured else "")
        + "`python -m benchmarks.cli_start` runs only this benchmark.",
        "",
        f"- Each command is a new process of the installed `abasto` script, started {RUNS} "
        "times after one start not counted; the figure is the median wall time from start to "
        "exit (and of its CPU time, user and system, which load on a shared machine does not "
        "inflate), compared with a bare `python -c pass` of the same interpreter, so the ratio "
        "is what importing the application costs on top of Python itself.",
        "- The installed packages' bytecode is compiled at install (`make install` runs "
        "`compileall` over the venv's packages); the bare start's note says whether it was there. "
        "Without it, and with `PYTHONDONTWRITEBYTECODE` set, each start compiles SQLAlchemy, "
        "typer and rich again.",
        f"- `audit verify` reads a valid chain of {ENTRIES:,} synthetic entries written by "
        "`benchmarks.ledger.fill` into a fresh SQLite file and a fresh PostgreSQL database.",
    ]


if __name__ == "__main__":
    print_standalone(run(), section())
