"""CLI of demand: rounds, appendix imports, consolidation and its exports, forecasts."""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from decimal import Decimal, InvalidOperation
from pathlib import Path

import typer
from rich.table import Table
from sqlalchemy.orm import Session

from abasto.catalog.cli import _reading_bar
from abasto.core.bounds import DAYS_EXPECTED, within_days
from abasto.core.cli import console, engine, err_console, read_input, unit_of_work
from abasto.core.db import session_factory, transaction
from abasto.core.errors import AbastoError, Problem
from abasto.core.money import count_of, format_datetime
from abasto.core.spreadsheet import EXPECTED_FILE
from abasto.demand import forecast, rules, service

app = typer.Typer(
    help="Rondas de demanda: captura, consolidación y pronósticos.", no_args_is_help=True
)

APPENDIX_FILE = "un apéndice de demanda .xlsx con una columna de claves y pares MIN/MAX"


@contextmanager
def _reading() -> Iterator[Session]:
    """A read-only session; a user's error is printed in Spanish and exits with 1."""
    try:
        with transaction(session_factory(engine())) as db:
            yield db
    except AbastoError as exc:
        err_console.print("[red]Error:[/red] ", end="")
        err_console.print(str(exc), highlight=False, markup=False)
        raise typer.Exit(1) from None


def _share(value: str) -> Decimal:
    try:
        share = Decimal(value.strip().rstrip("%").strip())
    except InvalidOperation:
        raise typer.BadParameter(f"«{value}» no es una proporción; p. ej. 0.40 o 40%") from None
    return share / 100 if value.strip().endswith("%") or share > 1 else share


@app.command("open")
def open_round(
    name: str = typer.Argument(..., help="Nombre de la ronda, p. ej. 2027-2028."),
    periods: str = typer.Option(..., "--periods", help="Años separados por comas: 2027,2028."),
    institutions: str = typer.Option(
        "all",
        "--institutions",
        help="Claves de las instituciones separadas por comas (IMSS,ISSSTE,…) o «all».",
    ),
    min_share: str = typer.Option(
        "0.40", "--min-share", help="Mínimo como proporción del máximo: 0.40 o 40%."
    ),
    deadline: str = typer.Option(
        "",
        "--deadline",
        help="Fecha límite de captura (aaaa-mm-dd, hasta las 23:59 del centro de México).",
    ),
) -> None:
    """Abre una ronda de demanda para unos periodos e instituciones; con consumo registrado,
    calcula de una vez los pronósticos de cada clave consumida."""
    codes = None if institutions.strip().lower() in ("all", "todas") else institutions.split(",")
    with unit_of_work() as ctx:
        opened = service.open_round(
            ctx,
            name=name,
            periods=[periods],
            institutions=codes,
            min_share=_share(min_share),
            deadline=rules.deadline_of(_day(deadline)) if deadline.strip() else None,
        )
        count = len(opened.participants)
        until = f", fecha límite {format_datetime(opened.deadline)}" if opened.deadline else ""
    console.print(
        f"Ronda «{opened.name}» abierta: periodos "
        f"{', '.join(p['label'] for p in opened.periods)}, "
        f"{count_of(count, 'institución', 'instituciones')}, mínimo "
        f"{rules.format_share(opened.min_share)} del máximo{until}.",
        highlight=False,
        markup=False,
    )


def _day(text: str) -> date:
    try:
        day = date.fromisoformat(text.strip())
    except ValueError:
        raise typer.BadParameter(
            f"«{text}» no es una fecha; se esperaba aaaa-mm-dd, p. ej. 2027-03-15.",
            param_hint="--deadline",
        ) from None
    if not within_days(day):
        raise typer.BadParameter(DAYS_EXPECTED, param_hint="--deadline")
    return day


@app.command("freeze")
def freeze(name: str = typer.Argument(..., help="Nombre de la ronda.")) -> None:
    """Congela la ronda: ya no admite cambios (queda en la bitácora)."""
    with unit_of_work() as ctx:
        frozen = service.freeze_round(ctx, name=name)
    console.print(f"Ronda «{frozen.name}» congelada.", highlight=False, markup=False)


@app.command("reopen")
def reopen(
    name: str = typer.Argument(..., help="Nombre de la ronda."),
    reason: str = typer.Option(..., "--reason", help="Motivo (queda en la bitácora)."),
) -> None:
    """Reabre una ronda congelada, con el motivo."""
    with unit_of_work() as ctx:
        opened = service.reopen_round(ctx, name=name, reason=reason)
    console.print(f"Ronda «{opened.name}» reabierta.", highlight=False, markup=False)


@app.command("status")
def status(name: str = typer.Argument(..., help="Nombre de la ronda.")) -> None:
    """Avance de la ronda por institución: enviada o pendiente, último cambio, líneas."""
    with _reading() as db:
        progress = service.round_progress(db, name=name)
        observations = service.round_observations(db, round_name=name)
    found = progress.round
    table = Table(
        title=f"Ronda {found.name} · {service.STATUS_LABELS[found.status]} · "
        f"{progress.submitted} enviadas, {progress.pending} pendientes"
    )
    for column in ("Institución", "Estado", "Último cambio", "Líneas", "Mínimo", "Máximo"):
        table.add_column(
            column, justify="right" if column in ("Líneas", "Mínimo", "Máximo") else "left"
        )
    for item in progress.institutions:
        table.add_row(
            item.code,
            "enviada" if item.submitted else "pendiente",
            format_datetime(item.last_change_at) if item.last_change_at else "—",
            f"{item.lines:,}",
            f"{item.total.min:,}",
            f"{item.total.max:,}",
        )
    console.print(table)
    _print_observations(observations)


def _print_observations(observations: list[service.ObservationView]) -> None:
    if not observations:
        return
    pending = sum(1 for o in observations if o.pending)
    table = Table(
        title=f"Observaciones: {len(observations):,} ({pending:,} pendientes de corregir o"
        " aceptar antes de congelar)"
    )
    for column in ("#", "Institución", "Clave", "Periodo", "Qué", "Dónde", "Estado"):
        table.add_column(column, justify="right" if column == "#" else "left")
    for o in observations:
        state = f"{o.status}: {o.reason}" if o.reason else o.status
        table.add_row(
            str(o.id),
            o.institution + (f" / {o.unit}" if o.unit else ""),
            o.clave,
            o.period or "—",
            o.what,
            o.where,
            state,
        )
    console.print(table)


@app.command("accept")
def accept(
    observation: int = typer.Argument(..., help="Número de la observación (ver «status»)."),
    round_name: str = typer.Option(..., "--round", help="Ronda."),
    reason: str = typer.Option(..., "--reason", help="Motivo (queda en la bitácora)."),
) -> None:
    """Acepta, con un motivo, el mínimo de una línea tal como lo trae el archivo oficial."""
    with unit_of_work() as ctx:
        view = service.accept_observation(
            ctx, round_name=round_name, observation_id=observation, reason=reason
        )
    console.print(
        f"Observación {view.id} aceptada: {view.institution}, clave {view.clave}, {view.what}.",
        highlight=False,
        markup=False,
    )


@app.command("import")
def import_appendix(
    file: Path = typer.Argument(..., metavar="ARCHIVO", help="Apéndice de demanda (.xlsx)."),
    round_name: str = typer.Option(..., "--round", help="Ronda a la que se importa."),
    replace: bool = typer.Option(
        False,
        "--replace",
        help="Quitar las líneas de cada institución nombrada que el archivo no trae.",
    ),
    map_suggested: bool = typer.Option(
        False,
        "--map-suggested",
        help="Asociar cada nombre desconocido a la institución registrada más parecida cuando"
        f" no hay duda (al menos {rules.SUGGESTION_THRESHOLD:.0%} igual y"
        f" {rules.SUGGESTION_MARGIN:.0%} por encima de la siguiente).",
    ),
    register_unknown: bool = typer.Option(
        False,
        "--register-unknown",
        help="Registrar los nombres que siguen sin conocerse: como unidad de la institución"
        " cuyo nombre empieza el de la columna (p. ej. «IMSS-BIENESTAR Oaxaca»), si no como"
        " institución.",
    ),
) -> None:
    """Importa un apéndice con la demanda de muchas instituciones; todo o nada.

    Si quitaría líneas ya capturadas, dice cuántas y no importa nada sin --replace. Las
    líneas con mínimo menor que la proporción de la ronda se importan como las trae el
    archivo y quedan como observaciones, que hay que corregir o aceptar antes de congelar.
    """
    with unit_of_work() as ctx:
        content = read_input(file, expected=APPENDIX_FILE)
        with _reading_bar(file.name) as progress:
            summary = service.import_appendix(
                ctx,
                round_name=round_name,
                content=content,
                filename=file.name,
                progress=progress,
                replace=replace,
                map_suggested=map_suggested,
                register_unknown=register_unknown,
            )
    for settled in summary.settled:
        console.print(settled.said(), highlight=False, markup=False)
    console.print(
        f"Apéndice «{summary.filename}» importado a la ronda {summary.round}: "
        f"{len(summary.institutions)} instituciones, {summary.lines:,} líneas "
        f"({summary.new:,} nuevas, {summary.updated:,} modificadas, {summary.removed:,} "
        f"quitadas, {summary.unchanged:,} sin cambios).",
        highlight=False,
        markup=False,
    )
    if summary.joined:
        console.print(f"Se agregaron a la ronda: {', '.join(summary.joined)}.", highlight=False)
    if summary.observations:
        said = (
            "1 línea con mínimo menor que el de la ronda se importó como la trae el archivo y"
            " queda como observación"
            if summary.observations == 1
            else f"{summary.observations:,} líneas con mínimo menor que el de la ronda se"
            " importaron como las trae el archivo y quedan como observaciones"
        )
        console.print(
            f"{said}: «abasto demand status {summary.round}» las lista.",
            highlight=False,
            markup=False,
        )
    _print_skipped(summary.skipped)


@app.command("import-sheet")
def import_sheet(
    file: Path = typer.Argument(..., metavar="ARCHIVO", help="Hoja de la institución (.xlsx)."),
    round_name: str = typer.Option(..., "--round", help="Ronda."),
    institution: str = typer.Option(..., "--institution", help="Clave de la institución."),
    replace: bool = typer.Option(
        False, "--replace", help="Quitar las líneas que la hoja deja en blanco."
    ),
) -> None:
    """Importa la hoja que llenó una institución; todo o nada.

    Si quitaría líneas ya capturadas, dice cuántas y no importa nada sin --replace.
    """
    with unit_of_work() as ctx:
        summary = service.import_institution_sheet(
            ctx,
            round_name=round_name,
            institution_code=institution,
            content=read_input(file, expected=EXPECTED_FILE),
            filename=file.name,
            replace=replace,
        )
    periods = [period for period in summary.periods if period]
    by_period = f", periodos {', '.join(periods)}" if periods else ""
    console.print(
        f"Hoja de {summary.institution} importada a la ronda {summary.round}{by_period}: "
        f"{summary.lines:,} líneas ({summary.new:,} nuevas, {summary.updated:,} modificadas, "
        f"{summary.removed:,} quitadas, {summary.unchanged:,} sin cambios).",
        highlight=False,
        markup=False,
    )
    _print_skipped(summary.skipped)


def _print_skipped(skipped: tuple[Problem, ...]) -> None:
    """What the reader did not read, so nothing is left out without a word."""
    if not skipped:
        return
    console.print(f"No se leyó ({len(skipped)}):", highlight=False, markup=False)
    for note in skipped:
        console.print(f"  - {note}", highlight=False, markup=False)


@app.command("map-name")
def map_name(
    name: str = typer.Argument(..., help="El nombre tal como aparece en el archivo."),
    institution: str = typer.Option(..., "--institution", help="Clave de la institución."),
) -> None:
    """Asocia a una institución registrada otro nombre con que la citan los archivos."""
    with unit_of_work() as ctx:
        alias = service.map_institution_name(ctx, name=name, institution_code=institution)
        code = alias.institution.code
    console.print(f"«{alias.alias}» identifica ahora a {code}.", highlight=False, markup=False)


@app.command("consolidate")
def consolidate(
    name: str = typer.Argument(..., help="Nombre de la ronda."),
    xlsx: Path | None = typer.Option(None, "--xlsx", help="Escribir el apéndice .xlsx aquí."),
    csv: Path | None = typer.Option(None, "--csv", help="Escribir el CSV aquí."),
    parquet: Path | None = typer.Option(None, "--parquet", help="Escribir el Parquet aquí."),
) -> None:
    """Consolida la ronda por clave y exporta el apéndice (XLSX, CSV, Parquet)."""
    with _reading() as db:
        consolidation = service.consolidate_round(db, round_name=name)
        outputs = [
            (path, export)
            for path, export in (
                (xlsx, service.export_xlsx),
                (csv, service.export_csv),
                (parquet, service.export_parquet),
            )
            if path is not None
        ]
        written = [(path, export(db, round_name=name)) for path, export in outputs]
    for path, content in written:
        path.write_bytes(content)
        console.print(f"Escrito {path} ({len(content):,} bytes).", highlight=False, markup=False)
    total = consolidation.total
    console.print(
        f"Ronda {consolidation.round.name}: {len(consolidation.lines):,} claves, "
        f"{len(consolidation.institutions)} instituciones; total mínimo {total.min:,}, "
        f"máximo {total.max:,}.",
        highlight=False,
        markup=False,
    )


@app.command("import-consumption")
def import_consumption(
    file: Path = typer.Argument(
        ..., metavar="ARCHIVO", help="Consumo mensual por unidad y clave (.csv o .xlsx)."
    ),
) -> None:
    """Importa el consumo mensual por unidad y clave; todo o nada."""
    with unit_of_work() as ctx:
        summary = service.import_consumption(
            ctx, content=read_input(file, expected=EXPECTED_FILE), filename=file.name
        )
    span = (
        f", de {summary.first_month:%Y-%m} a {summary.last_month:%Y-%m}"
        if summary.first_month and summary.last_month
        else ""
    )
    console.print(
        f"Consumo «{summary.filename}» importado: {summary.rows:,} renglones "
        f"({summary.new:,} nuevos, {summary.updated:,} modificados, {summary.unchanged:,} sin "
        f"cambios), {summary.units:,} unidades, {summary.claves:,} claves{span}.",
        highlight=False,
        markup=False,
    )


@app.command("forecast")
def run_forecast(
    name: str = typer.Argument(..., help="Nombre de la ronda."),
    jobs: int = typer.Option(2, "--jobs", min=1, help="Procesos para ajustar los modelos."),
) -> None:
    """Sugiere el máximo de cada institución por clave a partir de su consumo."""
    with unit_of_work() as ctx, console.status("Ajustando los modelos…"):
        summary = service.run_forecast(ctx, round_name=name, n_jobs=jobs)
    models = ", ".join(f"{model}: {n:,}" for model, n in summary.models.items()) or "ninguno"
    console.print(
        f"Ronda {summary.round}: {summary.suggestions:,} sugerencias para "
        f"{summary.institutions} instituciones ({summary.series:,} series de unidad y clave, "
        f"{summary.horizon_months} meses). Modelos: {models}. Líneas con alerta: "
        f"{summary.flagged:,}.",
        highlight=False,
        markup=False,
    )


@app.command("forecast-backtest")
def forecast_backtest(
    holdout: int = typer.Option(12, "--holdout", min=1, help="Meses apartados al final."),
    jobs: int = typer.Option(2, "--jobs", min=1, help="Procesos para ajustar los modelos."),
) -> None:
    """Precisión de cada modelo (MASE) sobre los últimos meses del consumo registrado."""
    with _reading() as db, console.status("Midiendo los modelos…"):
        results = service.backtest_history(db, holdout_months=holdout, n_jobs=jobs)
    table = Table(
        title=f"Precisión con los últimos {holdout} meses apartados (MASE: menor es mejor)"
    )
    for column in ("Modelo", "Series", "MASE media", "MASE mediana"):
        table.add_column(column, justify="left" if column == "Modelo" else "right")
    for accuracy in results.values():
        table.add_row(
            accuracy.model,
            f"{accuracy.series:,}",
            _number(accuracy.mase),
            _number(accuracy.median_mase),
        )
    console.print(table)
    chosen = results.get(forecast.BY_PATTERN)
    if chosen is not None:
        console.print(
            f"{forecast.BY_PATTERN}: el modelo que Abasto elige según el patrón de cada serie.",
            highlight=False,
        )


def _number(value: float) -> str:
    return "—" if math.isnan(value) else f"{value:.3f}"
