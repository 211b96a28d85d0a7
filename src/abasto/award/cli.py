"""CLI of the award: generate a benchmark instance, solve an instance file in any mode."""

from __future__ import annotations

import json
from decimal import Decimal, InvalidOperation
from pathlib import Path

import typer
from rich.table import Table

from abasto.award import instance as instance_json
from abasto.award import model, prices, rules, service
from abasto.award.rules import AwardResult, Mode
from abasto.core import checkpoints
from abasto.core.cli import console, err_console, read_input, unit_of_work
from abasto.core.config import load_settings
from abasto.core.errors import AbastoError
from abasto.core.money import count_of, format_int, format_mxn

app = typer.Typer(
    help="Adjudicación: evaluación económica, abastecimiento simultáneo y modelo óptimo.",
    no_args_is_help=True,
)

MODE_LABELS = {
    Mode.LOWEST: "precio más bajo por partida",
    Mode.SPLIT: "abastecimiento simultáneo",
    Mode.OPTIMAL: "óptimo de toda la licitación (HiGHS)",
}
STATUS_LABELS = {
    "optimal": "óptimo",
    "feasible": "factible (se alcanzó el tiempo límite)",
    "rule": "por regla, partida por partida",
}
PARTIDA_LABELS = {"adjudicada": "adjudicadas", "parcial": "parcialmente desiertas"}


def _fail(exc: AbastoError) -> typer.Exit:
    err_console.print("[red]Error:[/red] ", end="")
    err_console.print(str(exc), highlight=False, markup=False)
    return typer.Exit(1)


@app.command("bench-instance")
def bench_instance(
    out: Path = typer.Option(..., "--out", help="Archivo JSON que se escribirá."),
    partidas: int = typer.Option(4000, "--partidas", min=1, help="Número de partidas."),
    bids_per_partida: int = typer.Option(
        10, "--bids-per-partida", min=1, help="Proposiciones por partida."
    ),
    suppliers: int = typer.Option(300, "--suppliers", min=1, help="Número de proveedores."),
    seed: int = typer.Option(1, "--seed", help="Semilla: la misma semilla da la misma instancia."),
    max_share: str = typer.Option(
        "0.15",
        "--max-share",
        help="Participación máxima de un proveedor en el valor adjudicado (0.15), o «none».",
    ),
) -> None:
    """Genera una instancia de adjudicación de prueba, realista y reproducible, en JSON."""
    share: Decimal | None = None
    if max_share.strip().lower() not in ("none", "ninguna", ""):
        try:
            share = Decimal(max_share.strip())
        except InvalidOperation:
            raise typer.BadParameter(
                f"«{max_share}» no es una proporción; p. ej. 0.15", param_hint="--max-share"
            ) from None
    try:
        generated = instance_json.generate(
            partidas=partidas,
            bids_per_partida=bids_per_partida,
            suppliers=suppliers,
            seed=seed,
            max_share=share,
        )
        rules.validated(generated)
    except AbastoError as exc:
        raise _fail(exc) from None
    try:
        out.write_text(instance_json.dumps(generated), encoding="utf-8")
    except OSError as exc:
        err_console.print(f"[red]Error:[/red] no se pudo escribir «{out}»: {exc.strerror}")
        raise typer.Exit(1) from None
    lines = sum(len(bid.lines) for bid in generated.bids)
    capped = sum(1 for s in generated.suppliers if s.capacity is not None)
    console.print(
        f"Instancia escrita en {out}: {format_int(partidas)} partidas, {format_int(lines)} "
        f"líneas de {format_int(len(generated.bids))} proposiciones, "
        f"{format_int(suppliers)} proveedores ({format_int(capped)} con capacidad declarada).",
        highlight=False,
        markup=False,
    )


@app.command("solve")
def solve(
    file: Path = typer.Argument(..., help="Archivo JSON de la instancia."),
    mode: Mode = typer.Option(
        Mode.OPTIMAL,
        "--mode",
        help="lowest: precio más bajo; split: abastecimiento simultáneo; optimal: modelo HiGHS.",
    ),
    gap: float = typer.Option(
        model.REL_GAP, "--gap", min=0.0, help="Brecha relativa de optimalidad aceptada."
    ),
    time_limit: float | None = typer.Option(
        None, "--time-limit", min=0.1, help="Segundos como máximo para el modelo óptimo."
    ),
    out: Path | None = typer.Option(
        None, "--out", help="Escribe la adjudicación completa (partida por partida) en JSON."
    ),
) -> None:
    """Adjudica una instancia y muestra costo, estado, brecha y tiempos."""
    try:
        content = read_input(file, expected=instance_json.EXPECTED)
        loaded = instance_json.loads(content)
        result = model.award(loaded, mode, rel_gap=gap, time_limit=time_limit)
    except AbastoError as exc:
        raise _fail(exc) from None
    violations = rules.check(loaded, result)
    console.print(_summary(result, len(violations)))
    if result.desiertas:
        console.print(_desiertas(result))
    for violation in violations[:20]:
        err_console.print(f"[red]Violación:[/red] {violation}", highlight=False)
    if out is not None:
        out.write_text(
            json.dumps(instance_json.result_as_dict(result), ensure_ascii=False, indent=1) + "\n",
            encoding="utf-8",
        )
        console.print(f"Adjudicación escrita en {out}.", highlight=False, markup=False)
    if violations:
        raise typer.Exit(1)


def _summary(result: AwardResult, violations: int) -> Table:
    table = Table(title="Adjudicación", show_header=False)
    table.add_column("", style="bold")
    table.add_column("", justify="right")
    table.add_row("Modo", MODE_LABELS[result.mode])
    table.add_row("Estado", STATUS_LABELS.get(result.status, result.status))
    table.add_row("Costo total", format_mxn(result.objective))
    table.add_row(
        "Brecha de optimalidad", "—" if result.gap is None else f"{result.gap * 100:.4f} %"
    )
    table.add_row("Construcción del modelo", f"{result.build_seconds:.2f} s")
    table.add_row("Solución", f"{result.solve_seconds:.2f} s")
    counts = {"adjudicada": 0, "parcial": 0, "desierta": 0}
    for award in result.partidas:
        counts[award.status] += 1
    for status, count in counts.items():
        table.add_row(f"Partidas {PARTIDA_LABELS.get(status, status + 's')}", format_int(count))
    table.add_row("Piezas sin adjudicar", format_int(sum(a.uncovered for a in result.partidas)))
    short = sum(1 for a in result.partidas if a.suppliers_short)
    if any(a.suppliers_required for a in result.partidas):
        table.add_row("Partidas críticas con menos proveedores de los requeridos", str(short))
    table.add_row("Proveedores adjudicados", format_int(len(rules.supplier_totals(result))))
    table.add_row(
        "Verificación de restricciones",
        "sin violaciones" if not violations else f"[red]{violations} violaciones[/red]",
    )
    return table


def _desiertas(result: AwardResult, limit: int = 15) -> Table:
    desiertas = result.desiertas
    title = f"Partidas desiertas o parciales ({format_int(len(desiertas))})"
    if len(desiertas) > limit:
        title += f"; las primeras {limit}"
    table = Table(title=title)
    table.add_column("Partida", justify="right")
    table.add_column("Clave")
    table.add_column("Sin adjudicar", justify="right")
    table.add_column("Motivo")
    for award in desiertas[:limit]:
        table.add_row(
            str(award.number),
            award.clave,
            f"{format_int(award.uncovered)} de {format_int(award.demand)}",
            award.reason.message if award.reason else "",
        )
    return table


prices_app = typer.Typer(
    help="Investigación de mercado: precios de referencia.", no_args_is_help=True
)


@prices_app.command("import")
def prices_import(
    file: Path = typer.Argument(..., help="Lista de precios (.csv, .xlsx) o datos OCDS (.json)."),
    rate: list[str] = typer.Option(
        [], "--rate", help="Tipo de cambio a pesos, p. ej. --rate USD=18.20 (repetible)."
    ),
    mapping: list[str] = typer.Option(
        [],
        "--map",
        help="Clasificación OCDS a clave, p. ej. --map CPV:33600000=010.000.0104.00 (repetible).",
    ),
) -> None:
    """Importa precios de una lista o de entregas OCDS de otros publicadores; todo o nada."""
    content = read_input(file, expected=prices.LIST_EXPECTED + ", o " + prices.OCDS_EXPECTED)
    with unit_of_work() as ctx:
        summary = service.import_prices(
            ctx,
            content=content,
            filename=file.name,
            rates=service.parse_rates(rate),
            mapping=service.parse_mapping(mapping),
        )
    kind = "OCDS" if summary.kind == "ocds" else "lista de precios"
    console.print(
        f"{kind}: {count_of(summary.prices, 'precio importado', 'precios importados')} de "
        f"{count_of(summary.claves, 'clave', 'claves')}.",
        highlight=False,
    )
    if summary.unmatched_items:
        console.print(
            f"{count_of(summary.unmatched_items, 'partida', 'partidas')} OCDS sin clave "
            "correspondiente (use --map); "
            "las clasificaciones más frecuentes: "
            + ", ".join(f"{label} ({count:,})" for label, count in summary.unmatched_top)
            + ".",
            highlight=False,
        )
    if summary.unknown_claves:
        console.print(
            f"{count_of(summary.unknown_claves, 'clave que no está', 'claves que no están')} "
            "en el catálogo, omitidas.",
            highlight=False,
        )


@app.command("run")
def run(
    tender: int = typer.Argument(..., help="Id de la licitación."),
    mode: Mode = typer.Option(Mode.OPTIMAL, "--mode", help="lowest, split u optimal."),
) -> None:
    """Adjudica la licitación en el modo dado y publica el fallo (todo o nada)."""
    with unit_of_work() as ctx:
        fallo = service.issue_fallo(
            ctx,
            tender_id=tender,
            mode=mode,
            signer=checkpoints.signer_from_settings(load_settings()),
        )
        partidas = service.fallo_partidas(ctx.db, fallo)
    counts: dict[str, int] = {}
    for partida in partidas:
        counts[partida.status] = counts.get(partida.status, 0) + 1
    table = Table(title=f"Fallo de la licitación {tender} — {MODE_LABELS[mode]}")
    table.add_column("Concepto")
    table.add_column("Valor", justify="right")
    table.add_row("Estado del modelo", STATUS_LABELS.get(fallo.status, fallo.status))
    table.add_row("Total adjudicado", format_mxn(fallo.total))
    table.add_row("A precios de referencia", format_mxn(fallo.reference_total))
    table.add_row("Ahorro contra la referencia", format_mxn(fallo.reference_total - fallo.total))
    table.add_row("Precio más bajo por partida", format_mxn(fallo.baseline_total))
    for status in ("adjudicada", "parcial", "desierta"):
        table.add_row(f"Partidas {status}s", format_int(counts.get(status, 0)))
    console.print(table)
    console.print(f"Fallo publicado en la bitácora (entrada {fallo.ledger_seq:,}).")
