"""CLI of contracts: formalise a fallo's contracts, list them, read the fill rate."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import typer
from rich.table import Table
from sqlalchemy import select

from abasto.contracts import orders_file, rules, service
from abasto.core.cli import console, read_input, unit_of_work
from abasto.core.errors import NotFound, Problem, ValidationFailed
from abasto.core.money import count_of, format_date, format_mxn
from abasto.core.spreadsheet import EXPECTED_FILE
from abasto.tendering.models import Tender

app = typer.Typer(
    help="Contratos, órdenes de suministro y nivel de surtimiento.", no_args_is_help=True
)


def _day(text: str, field: str) -> date | None:
    if not text:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise ValidationFailed(
            "Fecha no válida.",
            problems=[Problem("No es una fecha", field=field, value=text, expected="aaaa-mm-dd")],
        ) from None


@app.command("create")
def create(
    tender: str = typer.Argument(..., help="Número de la licitación con fallo."),
    starts: str = typer.Option("", "--starts", help="Inicio de la vigencia (aaaa-mm-dd)."),
    ends: str = typer.Option("", "--ends", help="Fin de la vigencia (aaaa-mm-dd)."),
) -> None:
    """Formaliza el fallo: un contrato por institución y proveedor, en borrador."""
    with unit_of_work() as ctx:
        tender_id = ctx.db.scalar(select(Tender.id).where(Tender.number == tender.strip()))
        if tender_id is None:
            raise NotFound(f"No existe la licitación {tender}.")
        made = service.create_contracts(
            ctx,
            tender_id=tender_id,
            starts_on=_day(starts, "--starts"),
            ends_on=_day(ends, "--ends"),
        )
        numbers = [(c.number, c.max_amount) for c in made]
    for number, amount in numbers:
        console.print(f"{number}: {format_mxn(amount)}", highlight=False)
    console.print(f"{count_of(len(numbers), 'contrato', 'contratos')} en borrador.")


@app.command("list")
def list_command(
    status: str = typer.Option("", "--status", help="Filtrar por estado."),
) -> None:
    """Lista los contratos, los más recientes primero."""
    with unit_of_work() as ctx:
        table = Table(
            "Contrato", "Institución", "Proveedor", "Estado", "Importe máximo", "Vigencia"
        )
        found = service.list_contracts(ctx, status=status or None)
        for c in found:
            table.add_row(
                c.number,
                c.institution.code,
                c.supplier.rfc,
                rules.STATUS_LABELS[c.status] + (" (firmado tarde)" if c.signed_late else ""),
                format_mxn(c.max_amount),
                f"{format_date(c.starts_on)} – {format_date(c.ends_on)}",
            )
    console.print(table)
    console.print(f"{count_of(len(found), 'contrato', 'contratos')}.")


@app.command("import-orders")
def import_orders(
    path: Path = typer.Argument(..., help="Archivo .xlsx o .csv de órdenes y entregas."),
    template: bool = typer.Option(
        False, "--template", help="Escribe en PATH la plantilla del archivo, sin cargar nada."
    ),
) -> None:
    """Carga órdenes de suministro con sus entregas (una fila por lote recibido); todo o nada."""
    if template:
        path.write_bytes(orders_file.template())
        console.print(f"Plantilla escrita en {path}.", highlight=False)
        return
    content = read_input(path, expected=EXPECTED_FILE)
    with unit_of_work() as ctx:
        loaded = service.import_orders(ctx, content=content, filename=path.name)
    console.print(
        f"{count_of(loaded.orders, 'orden', 'órdenes')} de "
        f"{count_of(loaded.contracts, 'contrato', 'contratos')}, "
        f"{count_of(loaded.shipments, 'entrega', 'entregas')} con "
        f"{count_of(loaded.lots, 'lote', 'lotes')}, "
        f"{count_of(loaded.penalties, 'pena o deductiva', 'penas y deductivas')}."
    )


@app.command("fill-rate")
def fill_rate(
    by: list[str] = typer.Option(
        ["supplier"], "--by", help="supplier, contract, clave, institution, state o month."
    ),
    as_of: str = typer.Option("", "--as-of", help="Órdenes con entrega hasta (aaaa-mm-dd)."),
) -> None:
    """Nivel de surtimiento: piezas entregadas a tiempo y aceptadas ÷ piezas ordenadas vencidas."""
    with unit_of_work() as ctx:
        day = _day(as_of, "--as-of") or rules.local_day(ctx.now)
        rows = service.fill_rates(ctx.db, by=by, as_of=day)
    table = Table(*by, "Ordenadas vencidas", "A tiempo y aceptadas", "Surtimiento")
    for row in rows:
        rate = row.rate
        table.add_row(
            *row.key,
            f"{row.ordered_due:,}",
            f"{row.on_time_accepted:,}",
            "—" if rate is None else f"{rate * 100:.1f} %",
        )
    console.print(table)
