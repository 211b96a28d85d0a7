"""CLI of tendering: the tick that applies deadlines and reads out openings, and tender lists."""

from __future__ import annotations

import typer
from rich.table import Table

from abasto.core import checkpoints
from abasto.core.cli import console, engine
from abasto.core.clock import SystemClock
from abasto.core.config import load_settings
from abasto.core.db import session_factory
from abasto.core.money import count_of, format_datetime
from abasto.tendering import rules
from abasto.tendering.sealing import Sealer
from abasto.tendering.service import list_tenders
from abasto.tendering.tick import Ticker

app = typer.Typer(help="Licitaciones: consulta y apertura.", no_args_is_help=True)


def tick(
    pace: float = typer.Option(
        0.0, "--pace", help="Segundos entre dos proposiciones leídas en una apertura."
    ),
) -> None:
    """Aplica los plazos vencidos y lee en público las aperturas en curso, hasta terminarlas."""
    settings = load_settings()
    ticker = Ticker(
        session_factory(engine()),
        SystemClock(),
        Sealer.from_settings(settings),
        pace_seconds=pace,
        signer=checkpoints.signer_from_settings(settings),
        checkpoint_seconds=0.0,
        indicators_dir=settings.indicators_dir,
    )
    with console.status("Aplicando plazos vencidos…"):
        report = ticker.tick(finish=True)
    if report.checkpoint is not None:
        console.print(f"Punto de control firmado: {report.checkpoint:,} entradas.")
    if not report.applied and not report.opened:
        console.print("Nada que hacer: ningún plazo vencido ni apertura en curso.")
        return
    for tender_id, event in report.applied:
        console.print(f"Licitación {tender_id}: {EVENT_LABELS[event]}.", highlight=False)
    for tender_id, count in report.opened:
        console.print(
            f"Licitación {tender_id}: "
            f"{count_of(count, 'proposición leída', 'proposiciones leídas')} en público.",
            highlight=False,
        )


EVENT_LABELS = {
    rules.CLOSE_CLARIFICATIONS: "cerró la junta de aclaraciones",
    rules.CLOSE_BIDS: "cerró la recepción de proposiciones",
    rules.START_OPENING: "comenzó la apertura de proposiciones",
}


@app.command("list")
def list_command(
    status: str = typer.Option("", "--status", help="Filtrar por estado."),
) -> None:
    """Lista las licitaciones, las más recientes primero."""
    from abasto.core.cli import unit_of_work

    with unit_of_work() as ctx:
        found = list_tenders(ctx, status=status or None, per_page=200)
        table = Table("Id", "Número", "Título", "Procedimiento", "Estado", "Apertura", "Props.")
        for item in found.items:
            tender = item.tender
            table.add_row(
                str(tender.id),
                tender.number,
                tender.title,
                rules.procedure(tender.procedure).label,
                rules.STATUS_LABELS[tender.status],
                format_datetime(tender.opening_at),
                f"{item.sealed:,}",
            )
    console.print(table)
    console.print(f"{count_of(found.total, 'licitación', 'licitaciones')}.")
