"""``abasto datos``: write every public table as CSV and Parquet."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from abasto.core.cli import console, unit_of_work
from abasto.transparency.opendata import service
from abasto.transparency.opendata.tables import Table

app = typer.Typer(help="Datos abiertos: tablas públicas en CSV y Parquet.", no_args_is_help=True)


@app.command("export")
def export(
    directory: Path = typer.Argument(..., metavar="CARPETA", help="Dónde escribir los archivos."),
    fmt: str = typer.Option("both", "--format", help="csv, parquet o both (los dos)."),
) -> None:
    """Escribe cada tabla pública en CARPETA, todo o nada: si algo falla no queda nada escrito
    (y una exportación anterior ahí sigue intacta)."""
    with unit_of_work() as ctx:
        formats = service.formats_of(fmt)
        # One snapshot for every table: on PostgreSQL the counts and files agree with each other.
        if ctx.db.get_bind().dialect.name == "postgresql":
            ctx.db.connection(execution_options={"isolation_level": "REPEATABLE READ"})
        counts = service.row_counts(ctx.db)
        with Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("filas"),
            TimeElapsedColumn(),
            console=console,
            transient=True,
            disable=not console.is_terminal,
        ) as bar:

            def progress(table: Table, kind: str) -> service.Progress:
                task = bar.add_task(f"{table.name}.{kind}", total=counts[table.name])
                return lambda rows: bar.advance(task, rows)

            written = service.export(
                ctx.db, directory=directory, formats=formats, now=ctx.now, progress=progress
            )
    for w in written:
        console.print(f"{w.path} ({w.rows:,} filas)", highlight=False, markup=False)
    console.print(
        f"Escritos {len(written)} archivos y {service.MANIFEST} en {directory}.",
        highlight=False,
        markup=False,
    )
