"""``abasto ocds``: bulk export of releases, records and compiled releases."""

from __future__ import annotations

import typer

app = typer.Typer(help="Datos abiertos en OCDS 1.1.5.", no_args_is_help=True)
