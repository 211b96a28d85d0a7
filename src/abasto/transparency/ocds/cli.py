"""``abasto ocds``: bulk export of releases, records and compiled releases."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from abasto.core.cli import console, err_console, unit_of_work
from abasto.core.config import load_settings
from abasto.core.ledger import format_instant
from abasto.core.money import count_of
from abasto.transparency.ocds import export as exporting

app = typer.Typer(help="Datos abiertos en OCDS 1.1.5.", no_args_is_help=True)


@app.command("export")
def export(
    directory: Path = typer.Argument(..., help="Carpeta de destino (se crea o se reemplaza)."),
    per_file: int = typer.Option(
        1000, "--por-archivo", help="Entregas (releases) por paquete de entregas."
    ),
) -> None:
    """Escribe paquetes de entregas y de registros, y las entregas compiladas (JSON Lines);
    todo o nada: si algo falla, la carpeta queda como estaba."""
    settings = load_settings()
    prefix = settings.ocid_prefix
    with (
        unit_of_work() as ctx,
        Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
            disable=not console.is_terminal,
        ) as bars,
    ):
        task = bars.add_task("Entradas de la bitácora", total=None)

        def progress(done: int, total: int) -> None:
            bars.update(task, completed=done, total=total)

        try:
            summary = exporting.export(
                ctx.db,
                prefix,
                directory,
                published=format_instant(ctx.now),
                policy=settings.publication_policy,
                per_file=per_file,
                progress=progress,
            )
        except OSError as exc:
            err_console.print(
                f"[red]Error:[/red] no se pudo escribir en «{directory}»: {exc.strerror or exc}. "
                "La carpeta quedó como estaba.",
                highlight=False,
            )
            raise typer.Exit(1) from None
    rate = summary.releases / summary.seconds if summary.seconds else 0.0
    console.print(
        f"Exportadas {summary.releases:,} entregas de {summary.records:,} procesos de "
        f"contratación en {summary.seconds:.1f} s ({rate:,.0f} entregas/s): "
        f"{count_of(summary.release_files, 'paquete', 'paquetes')} de entregas, "
        f"{summary.record_files:,} de "
        f"registros y {exporting.COMPILED}, en {summary.directory}.",
        highlight=False,
    )
