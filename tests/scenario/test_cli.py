"""``abasto scenario generate`` and ``abasto demo`` as a user runs them.

``abasto demo`` serves, so it runs as a process of its own; the commands that only load or
refuse run in this process (``run_abasto``): a new interpreter costs each of them seconds.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from abasto.cli import address
from abasto.scenario.load import DEMO_PASSWORD
from tests.conftest import run_abasto

DEMO_START_LIMIT = 60.0


def _env(**values: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ABASTO_")}
    env.update(values)
    return env


def test_generate_loads_once_and_then_refuses(fresh_database_url: str, tmp_path: Path) -> None:
    args = ("scenario", "generate", "--seed", "7", "--scale", "small")

    first = run_abasto(fresh_database_url, tmp_path, *args)
    assert first.returncode == 0, first.stderr
    assert "Escenario de semilla 7, escala small, cargado" in first.stdout
    assert DEMO_PASSWORD in first.stdout
    for username in ("comprador", "imss", "issste", "proveedor", "evaluador", "auditor"):
        assert username in first.stdout

    second = run_abasto(fresh_database_url, tmp_path, *args)
    assert second.returncode == 1
    assert "ya tiene 41 instituciones registradas" in second.stderr
    assert "sólo se carga en una base vacía" in second.stderr
    assert "No se escribió nada." in second.stderr

    audit = run_abasto(fresh_database_url, tmp_path, "audit", "verify")
    assert audit.returncode == 0, audit.stderr
    assert "Bitácora íntegra" in audit.stdout


def test_fresh_is_refused_on_a_database_that_is_not_sqlite(tmp_path: Path) -> None:
    url = "postgresql://abasto:secreto@127.0.0.1:1/abasto"
    result = run_abasto(url, tmp_path, "demo", "--fresh")
    assert result.returncode == 2
    assert "«--fresh» borra el archivo de una base SQLite" in result.stderr
    assert "secreto" not in result.stderr


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextmanager
def _demo(tmp_path: Path, log: str, *args: str) -> Iterator[tuple[float, str]]:
    """A running ``abasto demo``, once ``GET /`` answers 200: (seconds it took, its output)."""
    port = _free_port()
    out = tmp_path / log
    started = time.monotonic()
    with out.open("w") as handle:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "abasto",
                "demo",
                "--scale",
                "small",
                "--port",
                str(port),
                *args,
            ],
            env=_env(ABASTO_DATA_DIR=str(tmp_path / "data")),
            cwd=tmp_path,
            stdout=handle,
            stderr=subprocess.STDOUT,
            text=True,
        )
    try:
        while True:
            assert process.poll() is None, out.read_text()
            assert time.monotonic() - started < DEMO_START_LIMIT, out.read_text()
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2) as response:
                    if response.status == 200:
                        break
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                time.sleep(0.2)
        yield time.monotonic() - started, out.read_text()
    finally:
        process.terminate()
        process.wait(timeout=20)


def test_demo_creates_loads_and_serves_then_serves_at_once(tmp_path: Path) -> None:
    with _demo(tmp_path, "first.log", "--seed", "7") as (_, output):
        assert "Escenario de semilla 7, escala small, cargado" in output
        assert DEMO_PASSWORD in output
        assert "http://127.0.0.1:" in output
        # The links it prints are the address it serves (they said «http://<servidor>/…»).
        assert re.search(r"http://127\.0\.0\.1:\d+/licitaciones/\d+/fallo", output), output
        assert re.search(r"http://127\.0\.0\.1:\d+/licitaciones/\d+/apertura", output), output
        assert "<servidor>" not in output
    assert (tmp_path / "data" / "abasto.db").exists()

    with _demo(tmp_path, "second.log", "--seed", "7") as (_, output):
        assert "ya tiene el escenario de semilla 7, escala small" in output
        assert "cargado" not in output
        assert DEMO_PASSWORD in output

    with _demo(tmp_path, "fresh.log", "--seed", "8", "--fresh") as (_, output):
        assert "Base de datos borrada" in output
        assert "Escenario de semilla 8, escala small, cargado" in output


@pytest.mark.parametrize(
    ("host", "shown"),
    [
        ("127.0.0.1", "http://127.0.0.1:8000"),
        ("0.0.0.0", "http://127.0.0.1:8000"),
        ("abasto.example.mx", "http://abasto.example.mx:8000"),
        ("::1", "http://[::1]:8000"),
    ],
)
def test_the_printed_address_is_one_a_browser_opens(host: str, shown: str) -> None:
    assert address(host, 8000) == shown
