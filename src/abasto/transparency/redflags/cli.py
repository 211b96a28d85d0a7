"""``abasto redflags``: compute red flags over Abasto's data or an OCDS file."""

from __future__ import annotations

import typer

app = typer.Typer(help="Banderas rojas.", no_args_is_help=True)
