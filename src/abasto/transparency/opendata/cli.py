"""``abasto datos``: write every public table as CSV and Parquet."""

from __future__ import annotations

import typer

app = typer.Typer(help="Datos abiertos: tablas públicas en CSV y Parquet.", no_args_is_help=True)
