"""CLI of the catalog: import claves and homologation tables."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from abasto.catalog import service
from abasto.core.cli import console, read_input, unit_of_work
from abasto.core.errors import Problem
from abasto.core.money import count_of
from abasto.core.spreadsheet import EXPECTED_FILE
from abasto.core.spreadsheet import Progress as ProgressCallback

app = typer.Typer(help="Catálogo de claves.", no_args_is_help=True)


@contextmanager
def _reading_bar(filename: str) -> Iterator[ProgressCallback]:
    """A Rich progress bar fed by a reader's (rows done, rows expected) callback."""
    with Progress(
        TextColumn("Leyendo [bold]{task.description}[/bold]"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("filas"),
        TimeElapsedColumn(),
        console=console,
        transient=True,
        # Piped into a log, a bar is noise: only the summary is printed there.
        disable=not console.is_terminal,
    ) as bar:
        task = bar.add_task(filename, total=None)

        def progress(done: int, expected: int) -> None:
            bar.update(task, completed=done, total=expected)

        yield progress


def _counts(new: int, updated: int, unchanged: int) -> str:
    return f"{new:,} nuevas, {updated:,} actualizadas, {unchanged:,} sin cambios"


def _print_warnings(warnings: tuple[Problem, ...]) -> None:
    if not warnings:
        return
    console.print(
        f"[yellow]{count_of(len(warnings), 'advertencia', 'advertencias')}[/yellow] "
        "(no impidieron la importación):"
    )
    for warning in warnings:
        console.print(f"  - {warning}", highlight=False, markup=False)


@app.command(
    "import",
    help="Importa las claves de un archivo del catálogo: agrega las nuevas y actualiza las que"
    " cambiaron. Si el archivo tiene algún problema no se importa nada y se listan todos.",
)
def import_catalog(
    file: Path = typer.Argument(
        ..., metavar="ARCHIVO", help="Archivo del catálogo (.xlsx o .csv)."
    ),
    encoding: str | None = typer.Option(
        None,
        "--encoding",
        help="Codificación de un .csv: utf-8, cp1252, latin-1, cp850, mac-roman. Sin ella se"
        " detecta, y si no se reconoce no se importa nada.",
    ),
) -> None:
    """Import claves from a catalog file: new ones added, changed ones updated, all or nothing."""
    with unit_of_work() as ctx:
        content = read_input(file, expected=EXPECTED_FILE)
        with _reading_bar(file.name) as progress:
            summary = service.import_catalog(
                ctx, content=content, filename=file.name, progress=progress, encoding=encoding
            )
    console.print(
        f"Catálogo «{summary.filename}» importado: "
        f"{_counts(summary.new, summary.updated, summary.unchanged)}.",
        highlight=False,
        markup=False,
    )
    _print_warnings(summary.warnings)


@app.command(
    "homologate",
    help="Importa la tabla de códigos propios de una institución (columnas «Clave institucional»"
    " y «Clave»). Si el archivo tiene algún problema no se importa nada y se listan todos.",
)
def homologate(
    file: Path = typer.Argument(
        ..., metavar="ARCHIVO", help="Tabla de códigos institucionales (.xlsx o .csv)."
    ),
    institution: str = typer.Option(
        ..., "--institution", help="Clave de la institución, p. ej. IMSS."
    ),
) -> None:
    """Map an institution's own codes to claves from a file (columns code and clave)."""
    with unit_of_work() as ctx:
        summary = service.import_homologations(
            ctx,
            institution_code=institution,
            content=read_input(file, expected=EXPECTED_FILE),
            filename=file.name,
        )
    console.print(
        f"Homologación de {summary.institution} «{summary.filename}» importada: "
        f"{_counts(summary.new, summary.updated, summary.unchanged)}.",
        highlight=False,
        markup=False,
    )
