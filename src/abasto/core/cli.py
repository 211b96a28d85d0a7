"""What every CLI command shares: the engine, a unit of work with the operator as actor, errors."""

from __future__ import annotations

import getpass
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import typer
from rich.console import Console
from sqlalchemy import Engine
from sqlalchemy.exc import DBAPIError

from abasto.core.clock import SystemClock
from abasto.core.config import load_settings
from abasto.core.context import Context, operator
from abasto.core.db import (
    check_schema,
    error_kind,
    make_engine,
    session_factory,
    transaction,
    transient,
)
from abasto.core.errors import AbastoError, SchemaBehind, ValidationFailed

# soft_wrap: long error lines stay whole when piped, so they can be grepped and read in logs.
console = Console(soft_wrap=True)
err_console = Console(stderr=True, soft_wrap=True)


def engine(*, check: bool = True) -> Engine:
    built = make_engine(load_settings().database_url)
    if check:
        try:
            check_schema(built)
        except SchemaBehind as exc:
            err_console.print(f"[red]{exc}[/red]")
            raise typer.Exit(2) from None
    return built


def read_input(path: Path, *, expected: str) -> bytes:
    """The file's bytes; a path that is not a readable file is the user's error, in Spanish."""
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise ValidationFailed(f"No existe el archivo «{path}»", expected=expected) from None
    except IsADirectoryError:
        raise ValidationFailed(f"«{path}» es una carpeta", expected=expected) from None
    except OSError as exc:
        raise ValidationFailed(
            f"No se pudo leer el archivo «{path}»: {exc.strerror}", expected=expected
        ) from None


@contextmanager
def unit_of_work(bound: Engine | None = None) -> Iterator[Context]:
    """A transaction for one command: committed when it succeeds, nothing written when it fails."""
    factory = session_factory(bound or engine())
    try:
        with transaction(factory) as db:
            yield Context(db=db, actor=operator(getpass.getuser()), now=SystemClock().now())
    except AbastoError as exc:
        err_console.print("[red]Error:[/red] ", end="")
        err_console.print(str(exc), highlight=False, markup=False)
        err_console.print("No se escribió nada.", style="yellow")
        raise typer.Exit(1) from None
    except DBAPIError as exc:
        if not transient(exc):
            raise
        # Rolled back by the database (a deadlock with a posting, a lock not had in time): the
        # command may simply be run again.
        err_console.print("[red]Error:[/red] ", end="")
        err_console.print(
            "La base de datos deshizo la operación por otra que corría al mismo tiempo "
            f"({error_kind(exc)}).",
            highlight=False,
            markup=False,
        )
        err_console.print("No se escribió nada; vuelva a ejecutar el comando.", style="yellow")
        raise typer.Exit(1) from None
