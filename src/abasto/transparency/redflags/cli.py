"""``abasto redflags``: compute red flags over Abasto's data or an OCDS file."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from pathlib import Path

import typer
from rich.table import Table

from abasto.core.cli import console, err_console, read_input, unit_of_work
from abasto.core.errors import AbastoError
from abasto.core.money import format_int
from abasto.transparency.redflags import indicators, service, source_ocds

app = typer.Typer(help="Banderas rojas.", no_args_is_help=True)


def _counts_table(counts: Mapping[str, int]) -> Table:
    table = Table(title="Banderas rojas por indicador")
    table.add_column("Código")
    table.add_column("Indicador")
    table.add_column("Banderas", justify="right")
    for code in indicators.CODES:
        table.add_row(code, indicators.INDICATORS[code].title, format_int(counts.get(code, 0)))
    table.add_row("", "Total", format_int(sum(counts.values())), style="bold")
    return table


@app.command("run")
def run(
    ocds: Path | None = typer.Option(
        None,
        "--ocds",
        help="Archivo OCDS de otro publicador (compiled releases en líneas, release o record "
        "package, un registro o una lista JSON de ellos); sin él se calculan y guardan las "
        "banderas de Abasto.",
    ),
    out: Path | None = typer.Option(
        None, "--out", help="Con --ocds: escribe las banderas en .csv o .json."
    ),
    currency: str | None = typer.Option(
        None, "--moneda", help="Con --ocds: moneda principal (por omisión, la más frecuente)."
    ),
) -> None:
    """Calcula las banderas rojas: de Abasto (y las guarda) o de un archivo OCDS."""
    if ocds is None:
        if out is not None or currency is not None:
            raise typer.BadParameter("--out y --moneda solo se usan con --ocds", param_hint="--out")
        with console.status("Calculando las banderas rojas de Abasto…"), unit_of_work() as ctx:
            counts = service.refresh(ctx)
        console.print(_counts_table(counts))
        console.print("Banderas guardadas; se ven en /banderas y en /api/v1/redflags.")
        return
    if out is not None and out.suffix.lower() not in (".csv", ".json"):
        raise typer.BadParameter("el archivo de salida debe ser .csv o .json", param_hint="--out")
    try:
        content = read_input(ocds, expected="un archivo OCDS en JSON")
        with console.status(f"Leyendo {ocds.name}…"):
            loaded = source_ocds.load(
                content, ocds.name, currency=currency.strip().upper() if currency else None
            )
        with console.status("Calculando los indicadores…"):
            flags = indicators.compute(loaded.frames)
    except (AbastoError, ValueError) as exc:
        err_console.print("[red]Error:[/red] ", end="")
        err_console.print(str(exc), highlight=False, markup=False)
        raise typer.Exit(1) from None
    console.print(
        f"{format_int(loaded.processes)} procesos de contratación leídos de {ocds.name}; "
        f"moneda principal {loaded.frames.currency}.",
        highlight=False,
    )
    console.print(_counts_table(Counter(f.code for f in flags)))
    if loaded.skipped:
        skipped = Table(title="Omitido al leer")
        skipped.add_column("Motivo")
        skipped.add_column("Casos", justify="right")
        for reason, n in sorted(loaded.skipped.items()):
            skipped.add_row(reason, format_int(n))
        console.print(skipped)
    if out is not None:
        service.write_flags(flags, str(out))
        console.print(f"{format_int(len(flags))} banderas escritas en {out}.", highlight=False)
