"""``abasto``: the command line (database, catalog, demand, users, suppliers, audit, demo).

Each domain's commands live in its own ``cli.py`` and are imported only when one of them runs:
``abasto --help`` lists them from the table below without loading any domain (or SQLAlchemy),
so the command starts at once; ``tests/test_cli_start.py`` keeps it so.
"""

from __future__ import annotations

import importlib
import json
import sys
from collections.abc import Container
from pathlib import Path
from typing import Any

import typer
from typer import _click
from typer._coercion import PassThroughRuntimeParam
from typer.core import TyperCommand, TyperGroup, TyperOption

from abasto.scenario.options import SCALE, SEED, ScaleChoice

LAZY: dict[str, tuple[str, str, str]] = {
    # name: (module, attribute, the short help `abasto --help` shows)
    "catalog": ("abasto.catalog.cli", "app", "Catálogo de claves del Compendio."),
    "demand": ("abasto.demand.cli", "app", "Demanda: rondas, anexos, consolidación, consumo."),
    "users": ("abasto.identity.cli", "users_app", "Usuarios y sus credenciales."),
    "suppliers": ("abasto.identity.cli", "suppliers_app", "Proveedores y sancionados."),
    "institutions": (
        "abasto.identity.cli",
        "institutions_app",
        "Registro de instituciones del sector: sincronizar.",
    ),
    "units": ("abasto.identity.cli", "units_app", "Unidades: importar del catálogo CLUES."),
    "scenario": ("abasto.scenario.cli", "app", "Escenario de demostración generado."),
    "tenders": ("abasto.tendering.cli", "app", "Licitaciones: consulta y apertura."),
    "award": ("abasto.award.cli", "app", "Evaluación, adjudicación y fallo."),
    "prices": (
        "abasto.award.cli",
        "prices_app",
        "Precios de referencia (investigación de mercado).",
    ),
    "contracts": (
        "abasto.contracts.cli",
        "app",
        "Contratos, órdenes de suministro y nivel de surtimiento.",
    ),
    "inventory": (
        "abasto.inventory.cli",
        "app",
        "Inventario de las unidades: existencias, indicadores, redistribución.",
    ),
    "ocds": ("abasto.transparency.ocds.cli", "app", "Datos abiertos en OCDS."),
    "redflags": ("abasto.transparency.redflags.cli", "app", "Banderas rojas."),
    "datos": ("abasto.transparency.opendata.cli", "app", "Tablas de datos abiertos."),
    "tick": (
        "abasto.tendering.cli",
        "tick",
        "Aplica los plazos vencidos y lee en público las aperturas en curso.",
    ),
}


class _Deferred(TyperCommand):
    """A command of a domain not imported yet: its name and short help, for the help page."""

    def __init__(self, name: str, module: str, attribute: str, summary: str) -> None:
        super().__init__(name=name, help=summary, short_help=summary)
        self.module, self.attribute = module, attribute

    def load(self) -> _click.Command:
        found: Any = getattr(importlib.import_module(self.module), self.attribute)
        command: _click.Command
        if isinstance(found, typer.Typer):
            command = typer.main.get_group(found)
        else:
            single = typer.Typer(add_completion=False)
            single.command(self.name)(found)
            command = typer.main.get_command(single)
        command.name = self.name
        return command


def _taken_as_typed(
    command: _click.Command, ctx: _click.Context, skip: Container[str] = ()
) -> None:
    """Text and flag options of ``command`` and of the commands under it (but those named in
    ``skip``) taken as typed.

    Typer coerces every option's value, even an absent flag's, through a pydantic adapter, so
    every command imported pydantic for the root's ``--install-completion`` alone; text and
    flags need no coercion, and pydantic was about a sixth of ``abasto audit verify``'s start
    (issue 18, item 12). Options of other types (paths, numbers, choices) keep typer's. The
    hook (``_runtime_param``, ``PassThroughRuntimeParam``) is typer's own, of the version
    ``constraints.txt`` pins; the CLI tests fail if it moves.
    """
    for param in command.get_params(ctx):
        if isinstance(param, TyperOption) and param.type_descriptor.annotation in (str, bool):
            param._runtime_param = PassThroughRuntimeParam(
                parameter_info=param.type_descriptor.parameter_info,
                annotation=param.type_descriptor.annotation,
            )
    for name, sub in getattr(command, "commands", {}).items():
        if name not in skip:
            _taken_as_typed(sub, ctx)


class _Root(TyperGroup):
    def __init__(self, **attrs: Any) -> None:
        super().__init__(**attrs)
        for name, (module, attribute, summary) in LAZY.items():
            self.commands.setdefault(name, _Deferred(name, module, attribute, summary))

    def parse_args(self, ctx: _click.Context, args: list[str]) -> list[str]:
        # The root and this module's commands; a domain's (loaded with pydantic) keep typer's.
        _taken_as_typed(self, ctx, skip=LAZY)
        return super().parse_args(ctx, args)

    def resolve_command(
        self, ctx: _click.Context, args: list[str]
    ) -> tuple[str | None, _click.Command | None, list[str]]:
        name, command, rest = super().resolve_command(ctx, args)
        if isinstance(command, _Deferred) and name is not None:
            command = self.commands[name] = command.load()
        return name, command, rest

    def invoke(self, ctx: _click.Context) -> Any:
        # The user's error (a file that is not there, a bad value) before a command's
        # transaction began: said as the transaction says it (``core.cli.unit_of_work``), not as
        # a traceback.
        # (Looked up, not imported: the help imports nothing of the domains or of core.)
        try:
            return super().invoke(ctx)
        except Exception as exc:
            errors = sys.modules.get("abasto.core.errors")
            if errors is None or not isinstance(exc, errors.AbastoError):
                raise
            typer.echo(f"Error: {exc}", err=True)
            raise typer.Exit(1) from None


app = typer.Typer(
    cls=_Root,
    help="Abasto: compra consolidada y abasto de insumos para la salud.",
    no_args_is_help=True,
)
db_app = typer.Typer(help="Base de datos.", no_args_is_help=True)
audit_app = typer.Typer(help="Auditoría de la bitácora encadenada.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(audit_app, name="audit")


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Aplica las migraciones pendientes (tras instalar una versión nueva)."""
    from abasto.core.cli import console, engine
    from abasto.core.db import upgrade

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
    from abasto.core import checkpoints
    from abasto.core.cli import console, engine, err_console
    from abasto.core.signed_note import NoteError

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
    from abasto.core import checkpoints
    from abasto.core.cli import console, err_console, unit_of_work
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


def address(host: str, port: int) -> str:
    """The address a person opens to reach the server: one listening on every interface
    (``0.0.0.0``, ``::``) is reached on this machine at 127.0.0.1."""
    shown = "127.0.0.1" if host in ("", "0.0.0.0", "::") else host
    if ":" in shown:
        shown = f"[{shown}]"
    return f"http://{shown}:{port}"


@app.command()
def serve(
    host: str = typer.Option("127.0.0.1", help="Dirección en la que escuchar."),
    port: int = typer.Option(8000, help="Puerto."),
) -> None:
    """Sirve la aplicación web y la API, y aplica los plazos vencidos cada segundo."""
    import threading

    import uvicorn

    from abasto.core.cli import console, engine, err_console
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
        indicators_dir=settings.indicators_dir,
    )
    stop = threading.Event()
    run_in_background(ticker, settings.tick_seconds, stop)
    console.print(f"Abasto en {address(host, port)}  (API: {address(host, port)}/docs)")
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
    seed: int = SEED,
    scale: ScaleChoice = SCALE,
    host: str = typer.Option("127.0.0.1", help="Dirección en la que escuchar."),
    port: int = typer.Option(8000, help="Puerto."),
    fresh: bool = typer.Option(False, "--fresh", help="Borrar antes la base SQLite y regenerarla."),
) -> None:
    """La demostración: crea y carga el escenario si la base es nueva o está vacía, y la sirve."""
    from abasto.core.cli import err_console
    from abasto.core.config import load_settings, write_demo_log_key
    from abasto.scenario import cli as scenario_cli

    written = write_demo_log_key(load_settings().data_dir)
    if written is not None:
        err_console.print(
            f"[yellow]Llave de demostración para firmar la bitácora creada en {written}: "
            "sólo para la demo; en producción configure ABASTO_LOG_KEY.[/yellow]"
        )
    scenario_cli.prepare_demo(seed=seed, scale=scale, fresh=fresh, base_url=address(host, port))
    serve(host=host, port=port)
