"""A command's unit of work (``core.cli.unit_of_work``) when the database rolls it back."""

from __future__ import annotations

import psycopg
import pytest
import typer
from sqlalchemy.exc import OperationalError

from abasto.core.cli import unit_of_work
from abasto.core.db import make_engine


def test_a_command_the_database_rolled_back_says_so_and_to_run_it_again(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A deadlock with a posting (a day's load) is not a traceback: nothing was written."""
    deadlock = psycopg.errors.DeadlockDetected("deadlock detected")
    with pytest.raises(typer.Exit) as stopped, unit_of_work(make_engine("sqlite://")):
        raise OperationalError("ALTER TABLE stock_movements_2026_11 ATTACH PARTITION", {}, deadlock)
    assert stopped.value.exit_code == 1
    said = " ".join(capsys.readouterr().err.split())
    assert "La base de datos deshizo la operación" in said
    assert "DeadlockDetected, 40P01" in said
    assert "No se escribió nada; vuelva a ejecutar el comando." in said
    assert "ATTACH" not in said


def test_other_database_errors_of_a_command_are_not_hidden() -> None:
    full = psycopg.errors.DiskFull("no space left on device")
    with pytest.raises(OperationalError), unit_of_work(make_engine("sqlite://")):
        raise OperationalError("INSERT", {}, full)
