"""CLI of the scenario: generate one into the configured database, and prepare the demo."""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from sqlalchemy import Engine
from sqlalchemy.engine import make_url

from abasto.core import checkpoints
from abasto.core.cli import console, engine, err_console, unit_of_work
from abasto.core.config import load_settings
from abasto.core.db import current_revision, upgrade
from abasto.core.money import count_of, format_datetime
from abasto.identity import service as identity
from abasto.scenario.award import has_fallo, stage_awarded_tender
from abasto.scenario.build import build_scenario
from abasto.scenario.contracts import HISTORY, has_contracts, stage_contracts
from abasto.scenario.institutions import Scale
from abasto.scenario.load import (
    DEMO_PASSWORD,
    LOAD_STAGES,
    STAGES,
    DemoUser,
    LoadProgress,
    LoadSummary,
    Stage,
    demo_users,
    load_scenario,
    loaded_scenario,
)
from abasto.scenario.options import SCALE, SEED, ScaleChoice
from abasto.scenario.tenders import OPENS_AFTER, pending_demo_opening, stage_demo_opening
from abasto.tendering.sealing import Sealer

app = typer.Typer(help="Escenario de demostración generado.", no_args_is_help=True)


def _migrated_engine() -> Engine:
    """The configured database, created from the migrations when it has no schema yet."""
    bound = engine(check=False)
    if current_revision(bound) is None:
        with console.status("Creando la base de datos…"):
            upgrade(bound)
    bound.dispose()
    # This one checks the schema: a database with an older one is the operator's to upgrade.
    return engine()


@contextmanager
def _stage_bars(stages: Sequence[Stage] = LOAD_STAGES) -> Iterator[LoadProgress]:
    """One Rich bar per stage of the load, started as the stage starts."""
    with Progress(
        TextColumn("{task.description:<26}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        # Piped into a log, bars are noise: only the summary is printed there.
        disable=not console.is_terminal,
    ) as bars:
        tasks = {stage: bars.add_task(STAGES[stage], total=None, start=False) for stage in stages}

        def progress(stage: Stage, done: int, total: int) -> None:
            bars.start_task(tasks[stage])
            bars.update(tasks[stage], completed=done, total=total)
            if done == total:
                bars.stop_task(tasks[stage])

        yield progress


def _load(bound: Engine, seed: int, scale: ScaleChoice) -> LoadSummary:
    scenario = build_scenario(seed, scale.value)
    started = time.perf_counter()
    with unit_of_work(bound) as ctx, _stage_bars() as progress:
        summary = load_scenario(ctx, scenario, progress=progress)
    elapsed = time.perf_counter() - started
    console.print(
        f"Escenario de semilla {seed}, escala {scale.value}, cargado en {elapsed:.1f} s: "
        f"{summary.institutions:,} instituciones (con BIRMEX), {summary.units:,} unidades, "
        f"{summary.claves:,} claves, {summary.suppliers:,} proveedores "
        f"({len(summary.barred)} no elegibles por estar en la lista de sancionados, "
        f"de {summary.sanctions:,} registros), "
        f"{len(summary.users)} usuarios; {summary.ledger_entries:,} entradas en la bitácora.",
        highlight=False,
    )
    return summary


def print_demo_users(users: tuple[DemoUser, ...]) -> None:
    table = Table(title=f"Usuarios de demostración — contraseña: {DEMO_PASSWORD}")
    table.add_column("Usuario", style="bold")
    table.add_column("Rol")
    table.add_column("Actúa por")
    for user in users:
        table.add_row(user.username, user.role.value, user.scope)
    console.print(table)


@app.command("generate")
def generate(seed: int = SEED, scale: ScaleChoice = SCALE) -> None:
    """Carga el escenario en la base configurada (la crea si es nueva; no toca una en uso)."""
    summary = _load(_migrated_engine(), seed, scale)
    print_demo_users(summary.users)


def _delete_sqlite(url: str) -> None:
    database = make_url(url).database
    if not database or database == ":memory:":
        return
    for suffix in ("", "-wal", "-shm", "-journal"):
        Path(database + suffix).unlink(missing_ok=True)
    console.print(f"Base de datos borrada: {database}", highlight=False)


def prepare_demo(*, seed: int, scale: ScaleChoice, fresh: bool, base_url: str = "") -> None:
    """Make the configured database hold a scenario: created and loaded when new or empty.
    ``base_url`` is where the demo will be served: the links it prints start with it."""
    settings = load_settings()
    if fresh:
        if not settings.is_sqlite:
            shown = make_url(settings.database_url).render_as_string(hide_password=True)
            err_console.print(
                f"[red]Error:[/red] «--fresh» borra el archivo de una base SQLite, y la base "
                f"configurada no lo es ({shown}). Vacíela usted o quite ABASTO_DATABASE_URL, "
                "y vuelva a ejecutar sin «--fresh».",
                highlight=False,
            )
            raise typer.Exit(2)
        _delete_sqlite(settings.database_url)
    bound = _migrated_engine()
    with unit_of_work(bound) as ctx:
        counts = identity.registry_counts(ctx.db)
        loaded = loaded_scenario(ctx.db)
    if counts.institutions == 0:
        print_demo_users(_load(bound, seed, scale).users)
        _stage_awarded_tender(bound, seed, scale.value, base_url)
        _stage_contracts(bound, seed, scale.value, base_url)
        _stage_live_opening(bound, seed, scale.value, base_url)
        return
    if loaded is None:
        console.print(
            "La base de datos ya tiene datos que no son de un escenario generado; "
            "se sirve tal como está.",
            highlight=False,
        )
        return
    if (loaded.seed, loaded.scale) != (seed, scale.value):
        console.print(
            f"La base de datos ya tiene el escenario de semilla {loaded.seed}, escala "
            f"{loaded.scale}; se sirve ese. Para generar el de semilla {seed}, escala "
            f"{scale.value}, use «--fresh».",
            highlight=False,
        )
    else:
        console.print(
            f"La base de datos ya tiene el escenario de semilla {seed}, escala {scale.value}.",
            highlight=False,
        )
    print_demo_users(demo_users(build_scenario(loaded.seed, loaded.scale)))
    _stage_awarded_tender(bound, loaded.seed, loaded.scale, base_url)
    _stage_contracts(bound, loaded.seed, loaded.scale, base_url)
    _stage_live_opening(bound, loaded.seed, loaded.scale, base_url)


def _stage_awarded_tender(bound: Engine, seed: int, scale: Scale, base_url: str) -> None:
    """A tender already awarded (generated, dated in the past), unless there is a fallo already."""
    settings = load_settings()
    sealer = Sealer.from_settings(settings)
    signer = checkpoints.signer_from_settings(settings)
    with unit_of_work(bound) as ctx:
        if has_fallo(ctx.db):
            return
        # A year back, so that its contracts have a year of orders and deliveries to show.
        staged = stage_awarded_tender(
            replace(ctx, now=ctx.now - HISTORY), sealer, build_scenario(seed, scale), signer=signer
        )
    console.print(
        f"Licitación {staged.number} con fallo emitido ({staged.awarded} de {staged.partidas} "
        f"partidas adjudicadas, {staged.bids} licitantes): "
        f"{base_url}/licitaciones/{staged.tender_id}/fallo",
        highlight=False,
    )


def _stage_contracts(bound: Engine, seed: int, scale: Scale, base_url: str) -> None:
    """The demo fallo's contracts signed, and their year of orders and deliveries, unless
    they are there already."""
    started = time.perf_counter()
    with unit_of_work(bound) as ctx:
        if has_contracts(ctx):
            return
        with _stage_bars(("contracts",)) as progress:
            staged = stage_contracts(
                ctx,
                build_scenario(seed, scale),
                progress=lambda done, total: progress("contracts", done, total),
            )
    loaded = staged.loaded
    console.print(
        f"{count_of(staged.contracts, 'contrato firmado', 'contratos firmados')} del fallo "
        f"({staged.signed_late} fuera de plazo) y un año de surtimiento: "
        f"{count_of(loaded.orders, 'orden de suministro', 'órdenes de suministro')}, "
        f"{count_of(loaded.shipments, 'entrega recibida', 'entregas recibidas')}, "
        f"{count_of(loaded.penalties, 'pena o deductiva', 'penas y deductivas')}, en "
        f"{time.perf_counter() - started:.1f} s: {base_url}/surtimiento",
        highlight=False,
    )


def _stage_live_opening(bound: Engine, seed: int, scale: Scale, base_url: str) -> None:
    """A tender that opens in public a few minutes from now, unless one is already pending."""
    sealer = Sealer.from_settings(load_settings())
    with unit_of_work(bound) as ctx:
        pending = pending_demo_opening(ctx)
        if pending is None:
            staged = stage_demo_opening(ctx, sealer, build_scenario(seed, scale))
            tender_id, number, opening_at = staged.tender_id, staged.number, None
        else:
            tender_id, number, opening_at = pending.id, pending.number, pending.opening_at
    when = (
        f"a las {format_datetime(opening_at)}"
        if opening_at is not None
        else f"en {OPENS_AFTER.total_seconds() / 60:.0f} minutos"
    )
    console.print(
        f"Apertura en vivo de la licitación {number} {when}: "
        f"{base_url}/licitaciones/{tender_id}/apertura",
        highlight=False,
    )
