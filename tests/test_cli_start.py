"""``abasto`` starts without importing its domains (issue 18, item 12): the help lists every
command from ``abasto.cli.LAZY``, and a command imports only the domain it belongs to."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

import pytest
from typer.testing import CliRunner

from abasto.cli import LAZY, app

HEAVY = ("sqlalchemy", "alembic", "fastapi", "openpyxl", "statsforecast", "highspy", "duckdb")


def _imported_by(code: str, env: Mapping[str, str] | None = None) -> set[str]:
    """The top-level packages and ``abasto`` modules a fresh interpreter holds after ``code``."""
    done = subprocess.run(
        [sys.executable, "-c", f"{code}\nimport sys; print('\\n'.join(sys.modules))"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
        env=env,
    )
    return {name for name in done.stdout.split() if "." not in name or name.startswith("abasto.")}


def test_the_help_imports_no_domain_and_no_database_library() -> None:
    loaded = _imported_by(
        "import sys; from abasto.cli import app; sys.argv = ['abasto', '--help']\n"
        "try:\n    app()\nexcept SystemExit:\n    pass"
    )
    domains = {name for name in loaded if name.startswith("abasto.")} - {
        "abasto.cli",
        "abasto.scenario",
        "abasto.scenario.options",
    }
    assert domains == set()
    assert sorted(loaded & {*HEAVY, "pydantic"}) == []


def test_the_help_lists_every_command_with_its_summary() -> None:
    shown = CliRunner(env={"COLUMNS": "200"}).invoke(app, ["--help"])
    assert shown.exit_code == 0
    for name, (_, _, summary) in LAZY.items():
        assert name in shown.stdout
        assert summary in shown.stdout


@pytest.mark.parametrize("name", sorted(LAZY))
def test_each_deferred_command_loads_with_its_own_help(name: str) -> None:
    shown = CliRunner(env={"COLUMNS": "200"}).invoke(app, [name, "--help"])
    assert shown.exit_code == 0, shown.stdout + shown.stderr
    assert re.search(rf"Usage: \S+ {name} ", shown.stdout)
    assert "--install-completion" not in shown.stdout


def test_a_group_with_one_command_keeps_it_as_a_subcommand() -> None:
    shown = CliRunner(env={"COLUMNS": "200"}).invoke(app, ["prices", "import", "--help"])
    assert shown.exit_code == 0, shown.stdout
    assert re.search(r"Usage: \S+ prices import ", shown.stdout)


def test_audit_verify_imports_no_domain_and_no_pydantic(
    fresh_database_url: str, tmp_path: Path
) -> None:
    """``audit verify`` needs the ledger, SQLAlchemy and the database driver, nothing more: no
    domain, no web framework, no pydantic (typer's option coercion imported it, issue 18)."""
    environment = {
        **os.environ,
        "ABASTO_DATABASE_URL": fresh_database_url,
        "ABASTO_DATA_DIR": str(tmp_path),
    }
    loaded = _imported_by(
        "import sys; from abasto.cli import app; sys.argv = ['abasto', 'audit', 'verify']\n"
        "try:\n    app()\nexcept SystemExit as exc:\n    assert exc.code in (0, None), exc.code",
        env=environment,
    )
    assert "abasto.core.checkpoints" in loaded  # it did verify: a positive control
    domains = {name.split(".")[1] for name in loaded if name.startswith("abasto.")}
    assert domains == {"cli", "core", "scenario"}
    assert "sqlalchemy" in loaded
    assert sorted(loaded & {*HEAVY, "pydantic", "pydantic_core", "polars", "numpy"}) == [
        "sqlalchemy"
    ]
