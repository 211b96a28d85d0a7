"""The scenario's command-line options, in a module of their own so that ``abasto`` can declare
``demo`` without importing the scenario generator (``abasto --help`` must start at once)."""

from __future__ import annotations

import enum

import typer


class ScaleChoice(enum.StrEnum):
    small = "small"
    national = "national"


SEED = typer.Option(42, "--seed", help="Semilla: la misma semilla genera el mismo escenario.")
SCALE = typer.Option(
    ScaleChoice.national,
    "--scale",
    help="small: pocas unidades, ~300 claves, 40 proveedores; "
    "national: el tamaño de la compra 2025-2026 (4,498 claves, 600 proveedores).",
)
