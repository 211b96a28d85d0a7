"""``abasto``: the command line (database, catalog, demand, users, suppliers, audit, demo)."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from abasto.award import cli as award_cli
from abasto.catalog import cli as catalog_cli
from abasto.core import checkpoints
from abasto.core.cli import console, engine, err_console, unit_of_work
from abasto.core.db import upgrade
from abasto.core.signed_note import NoteError
from abasto.demand import cli as demand_cli
from abasto.identity import cli as identity_cli
from abasto.inventory import cli as inventory_cli
from abasto.scenario import cli as scenario_cli
from abasto.tendering import cli as tendering_cli
from abasto.transparency.ocds import cli as ocds_cli
from abasto.transparency.opendata import cli as opendata_cli
from abasto.transparency.redflags import cli as redflags_cli

app = typer.Typer(
    help="Abasto: compra consolidada y abasto de insumos para la salud.", no_args_is_help=True
)
db_app = typer.Typer(help="Base de datos.", no_args_is_help=True)
audit_app = typer.Typer(help="Auditoría de la bitácora encadenada.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(audit_app, name="audit")
app.add_typer(catalog_cli.app, name="catalog")
app.add_typer(demand_cli.app, name="demand")
app.add_typer(inventory_cli.app, name="inventory")
app.add_typer(identity_cli.users_app, name="users")
app.add_typer(identity_cli.suppliers_app, name="suppliers")
app.add_typer(scenario_cli.app, name="scenario")
app.add_typer(tendering_cli.app, name="tenders")
app.add_typer(award_cli.app, name="award")
app.add_typer(award_cli.prices_app, name="prices")
app.add_typer(ocds_cli.app, name="ocds")
app.add_typer(redflags_cli.app, name="redflags")
app.add_typer(opendata_cli.app, name="datos")
app.command("tick")(tendering_cli.tick)


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Aplica las migraciones pendientes (tras instalar una versión nueva)."""
    bound = engine(check=False)
    upgrade(bound)
    console.print(f"Base de datos al día: {bound.url.render_as_string(hide_password=True)}")


@audit_app.command("verify")
def audit_verify(
    against: str | None = typer.Option(
        None,
        "--against",
        help="Un punto de control guardado antes (archivo o URL, p. ej. "
        "https://…/api/v1/ledger/checkpoint): la bitácora de hoy debe extenderlo.",
    ),
    key: str | None = typer.Option(
        None, "--llave", help="La llave de verificación (nombre+id+llave), si el punto no la trae."
    ),
) -> None:
    """Recalcula la cadena y el árbol Merkle de la bitácora; sale con 1 y dice qué falló."""
    kept = None
    if against is not None:
        try:
            kept = checkpoints.read_kept(_read_source(against), verifier=key)
        except (OSError, NoteError) as exc:
            err_console.print(f"[red]No se pudo leer el punto de control:[/red] {exc}")
            raise typer.Exit(2) from None
    with console.status("Verificando la bitácora…"), engine().connect() as connection:
        result = checkpoints.verify(connection, against=kept)
    if result.ok:
        extends = f"; extiende el punto de control de {against}" if against else ""
        console.print(
            f"[green]Bitácora íntegra:[/green] {result.checked:,} entradas verificadas{extends}.",
            highlight=False,
        )
        return
    where = f" en la entrada {result.first_bad_seq}" if result.first_bad_seq else ""
    err_console.print(
        f"[red]Bitácora alterada{where}:[/red] {result.reason} "
        f"({result.checked:,} entradas verificadas).",
        highlight=False,
    )
    raise typer.Exit(1)


def _read_source(source: str) -> str:
    """A checkpoint from a file or an http(s) URL."""
    if source.startswith(("http://", "https://")):
        from urllib.request import Request, urlopen

        request = Request(source, headers={"Accept": "application/json"})
        with urlopen(request, timeout=30) as response:
            body: bytes = response.read()
        return body.decode("utf-8")
    return Path(source).read_text(encoding="utf-8")


@audit_app.command("checkpoint")
def audit_checkpoint(
    out: Path | None = typer.Option(None, "--out", help="Guardar el punto de control (JSON)."),
) -> None:
    """Firma un punto de control de la bitácora ahora (con ABASTO_LOG_KEY) y lo muestra."""
    from abasto.core.config import load_settings

    signer = checkpoints.signer_from_settings(load_settings())
    try:
        with unit_of_work() as ctx:
            made = checkpoints.publish(ctx.db, signer, now=ctx.now)
            document = checkpoints.document(made)
    except checkpoints.LogKeyMissing as exc:
        err_console.print(f"[red]{exc}[/red]")
        raise typer.Exit(1) from None
    text = json.dumps(document, ensure_ascii=False, indent=2, default=str)
    if out is not None:
        out.write_text(text + "\n", encoding="utf-8")
    console.print(made.note, highlight=False, markup=False)


@app.command()
def serve(
    host: str = typer.Option("127.0.0.1", help="Dirección en la que escuchar."),
    port: int = typer.Option(8000, help="Puerto."),
) -> None:
    """Sirve la aplicación web y la API, y aplica los plazos vencidos cada segundo."""
    import threading

    import uvicorn

    from abasto.core.config import load_settings
    from abasto.tendering.tick import Ticker, run_in_background
    from abasto.web.app import create_app, freeze_heap

    settings = load_settings()
    application = create_app(settings, engine=engine())
    freeze_heap()
    state = application.state.abasto
    if state.signer is None:
        err_console.print(
            "[yellow]Sin ABASTO_LOG_KEY: no se firmarán puntos de control de la bitácora "
            "(véase docs/security.md).[/yellow]"
        )
    ticker = Ticker(
        state.sessions,
        state.clock,
        state.sealer,
        pace_seconds=settings.opening_pace_seconds,
        signer=state.signer,
        checkpoint_seconds=settings.checkpoint_seconds,
    )
    stop = threading.Event()
    run_in_background(ticker, settings.tick_seconds, stop)
    console.print(f"Abasto en http://{host}:{port}  (API: http://{host}:{port}/docs)")
    try:
        # Live feeds never end by themselves: give open connections a few seconds, then close.
        # No «server: uvicorn»: what runs the site is nobody's business (docs/security).
        uvicorn.run(
            application,
            host=host,
            port=port,
            log_level="info",
            timeout_graceful_shutdown=3,
            server_header=False,
        )
    finally:
        stop.set()


@app.command()
def demo(
    seed: int = scenario_cli.SEED,
    scale: scenario_cli.ScaleChoice = scenario_cli.SCALE,
    host: str = typer.Option("127.0.0.1", help="Dirección en la que escuchar."),
    port: int = typer.Option(8000, help="Puerto."),
    fresh: bool = typer.Option(False, "--fresh", help="Borrar antes la base SQLite y regenerarla."),
) -> None:
    """La demostración: crea y carga el escenario si la base es nueva o está vacía, y la sirve."""
    from abasto.core.config import load_settings, write_demo_log_key

    written = write_demo_log_key(load_settings().data_dir)
    if written is not None:
        err_console.print(
            f"[yellow]Llave de demostración para firmar la bitácora creada en {written}: "
            "sólo para la demo; en producción configure ABASTO_LOG_KEY.[/yellow]"
        )
    scenario_cli.prepare_demo(seed=seed, scale=scale, fresh=fresh)
    serve(host=host, port=port)
