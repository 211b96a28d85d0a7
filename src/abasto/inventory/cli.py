"""CLI of inventory: uploads of a unit's movements, a national day's feed, the daily snapshot,
redistribution, monthly partitions."""

from __future__ import annotations

import gzip
import hashlib
import time
import zlib
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import typer
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

from abasto.core.cli import console, read_input, unit_of_work
from abasto.core.errors import ValidationFailed
from abasto.core.money import count_of
from abasto.core.spreadsheet import EXPECTED_FILE
from abasto.inventory import service

app = typer.Typer(
    help="Inventario de las unidades: existencias, indicadores, redistribución.",
    no_args_is_help=True,
)


def _day(value: str | None) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(f"«{value}» no es una fecha aaaa-mm-dd") from None


@app.command("upload")
def upload(
    institution: str = typer.Argument(..., help="Clave de la institución, p. ej. IMSS."),
    unit: str = typer.Argument(..., help="Clave de la unidad."),
    path: Path = typer.Argument(..., help="Archivo .xlsx o .csv de movimientos o existencias."),
) -> None:
    """Registra los movimientos del día (o las existencias) de una unidad; todo o nada."""
    content = read_input(path, expected=EXPECTED_FILE)
    with unit_of_work() as ctx:
        found = service.get_unit(ctx.db, institution, unit)
        summary = service.import_upload(ctx, unit=found, content=content, filename=path.name)
    console.print(
        f"{summary.layout.capitalize()}: {count_of(summary.rows, 'fila', 'filas')}, "
        f"{count_of(summary.movements, 'movimiento', 'movimientos')} de "
        f"{count_of(summary.claves, 'clave', 'claves')} en {count_of(summary.days, 'día', 'días')}."
    )


@app.command("snapshot")
def snapshot(
    day: str | None = typer.Option(None, "--day", help="Día (aaaa-mm-dd); por omisión, hoy."),
    parquet: Path | None = typer.Option(
        None,
        "--parquet",
        help="Carpeta de los archivos Parquet y del estado por clave-unidad (escala nacional): "
        "el día se rueda desde el estado del día anterior o, si no sirve, se calcula toda la "
        "ventana.",
    ),
) -> None:
    """Calcula y guarda los indicadores del día (existencia, consumo, meses, abasto)."""
    with unit_of_work() as ctx:
        if parquet is None:
            summary = service.snapshot(ctx, day=_day(day))
        else:
            summary = service.snapshot_incremental(ctx, day=_day(day), directory=parquet)
    console.print(
        f"Indicadores del {summary.day.isoformat()}: "
        f"{count_of(summary.rows, 'clave-unidad', 'claves-unidad')} de "
        f"{count_of(summary.units, 'unidad', 'unidades')}, {summary.stockouts:,} en desabasto."
    )
    if summary.rolled:
        console.print("Rodados un día desde el estado del día anterior.")
    elif parquet is not None:
        console.print(f"Calculada toda la ventana: {summary.recomputed}")


@app.command("redistribute")
def redistribute(clave: str = typer.Argument(..., help="Clave del Compendio.")) -> None:
    """Sugiere transferencias de una clave entre unidades (quedan por revisar y emitir)."""
    with unit_of_work() as ctx:
        found = service.suggest_redistribution(ctx, clave=clave)
        table = Table("#", "Origen", "Destino", "Lote", "Cantidad")
        for t in found.transfers:
            table.add_row(
                str(t.id),
                f"{t.from_unit.institution.code}/{t.from_unit.code}",
                f"{t.to_unit.institution.code}/{t.to_unit.code}",
                t.lot or "",
                str(t.quantity),
            )
    console.print(table)
    console.print(f"{found.moved} piezas en {len(found.transfers)} transferencias sugeridas.")


@app.command("load-day")
def load_day(
    path: Path = typer.Argument(
        ...,
        help="CSV sin encabezado, una línea por movimiento: "
        "unit_id,clave_id,lote,caducidad(aaaa-mm-dd),tipo,cantidad; puede venir comprimido (.gz).",
    ),
    day: str = typer.Option(..., "--day", help="Día de los movimientos (aaaa-mm-dd)."),
    source: str | None = typer.Option(
        None,
        "--source",
        help="Nombre de la carga (una carga no se registra dos veces); por omisión, "
        "dia:<huella SHA-256 del archivo>.",
    ),
) -> None:
    """Carga un día completo de movimientos de muchas unidades a la vez (escala nacional,
    docs/scale.md): todo o nada."""
    loaded_day = _day(day)
    assert loaded_day is not None
    size = _feed_size(path)
    if source is None:
        digest = hashlib.sha256()
        for chunk in _feed_chunks(path):
            digest.update(chunk)
        source = f"dia:{digest.hexdigest()}"
    began = time.perf_counter()
    with (
        Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            DownloadColumn(),
            TimeElapsedColumn(),
            console=console,
            transient=True,
        ) as progress,
        unit_of_work() as ctx,
    ):
        reading = progress.add_task("Leyendo el archivo", total=size)

        def feed() -> Iterator[bytes]:
            for chunk in _feed_chunks(path):
                yield chunk
                progress.update(reading, completed=_feed_position(chunk, reading, progress))
            progress.update(reading, description="Revisando, indexando y sumando a las existencias")

        loaded = service.load_day_feed(ctx, day=loaded_day, feed=feed(), source=source)
    console.print(
        f"Día {loaded_day.isoformat()}: {count_of(loaded, 'movimiento', 'movimientos')} "
        f"cargados en {time.perf_counter() - began:,.1f} s (carga «{source}»)."
    )


def _feed_size(path: Path) -> int:
    """The file's size (compressed, for a .gz: the progress follows the bytes read from disk)."""
    expected = "un archivo CSV del día (o .csv.gz)"
    try:
        if not path.is_file():
            raise ValidationFailed(f"No existe el archivo «{path}»", expected=expected)
        return path.stat().st_size
    except OSError as exc:
        raise ValidationFailed(
            f"No se pudo leer el archivo «{path}»: {exc.strerror}", expected=expected
        ) from None


def _feed_chunks(path: Path) -> Iterator[bytes]:
    """The file in chunks of a megabyte, decompressed if it is a .gz; a damaged one refused."""
    try:
        with path.open("rb") as raw:
            source = gzip.GzipFile(fileobj=raw) if path.suffix == ".gz" else raw
            while chunk := source.read(1 << 20):
                yield chunk
    except (OSError, EOFError, zlib.error) as exc:
        raise ValidationFailed(
            f"No se pudo leer el archivo «{path}»: {exc}; no se cargó nada.",
            expected="un archivo CSV del día (o .csv.gz) completo",
        ) from None


def _feed_position(chunk: bytes, task: TaskID, progress: Progress) -> float:
    """How far the reading is: the bytes read so far (decompressed, they can pass the size)."""
    done = progress.tasks[task].completed + len(chunk)
    total = progress.tasks[task].total or done
    return min(done, total)


@app.command("partitions")
def partitions(
    months: int = typer.Option(12, "--months", min=1, max=120, help="Meses a crear desde hoy."),
    start: str | None = typer.Option(None, "--from", help="Primer mes (aaaa-mm-dd)."),
) -> None:
    """Crea por adelantado las particiones mensuales de los movimientos (PostgreSQL)."""
    with unit_of_work() as ctx:
        made = service.ensure_month_partitions(
            ctx, start=_day(start) or service.today(ctx), months=months
        )
    console.print(
        f"Particiones creadas: {', '.join(made)}." if made else "No hubo particiones que crear."
    )


@app.command("consumption")
def consumption(
    month: str = typer.Argument(..., help="Mes (aaaa-mm)."),
) -> None:
    """Pasa el consumo del mes por unidad y clave, con sus días sin existencia, a los
    pronósticos de demanda."""
    first = _day(f"{month}-01")
    assert first is not None
    with unit_of_work() as ctx:
        rows = service.feed_demand(ctx, month=first)
    console.print(f"Consumo de {month}: {rows} renglones unidad × clave pasados a la demanda.")
