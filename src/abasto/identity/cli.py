"""CLI of identity: users, suppliers with the SFP list of sanctioned ones, the registry of
institutions and units."""

from __future__ import annotations

from pathlib import Path

import typer

from abasto.core.cli import console, read_input, unit_of_work
from abasto.core.money import count_of as _count
from abasto.core.money import format_date
from abasto.identity import registry, service
from abasto.identity.models import Role

users_app = typer.Typer(help="Usuarios y roles.", no_args_is_help=True)
suppliers_app = typer.Typer(help="Proveedores y proveedores sancionados.", no_args_is_help=True)


@users_app.command("create")
def create_user(
    username: str = typer.Argument(..., help="Nombre de usuario (minúsculas, dígitos, . _ -)."),
    role: Role = typer.Option(..., "--role", help="Rol del usuario."),
    full_name: str = typer.Option(..., "--name", help="Nombre completo."),
    institution: str | None = typer.Option(
        None, help="Clave de la institución (rol institucion), p. ej. IMSS."
    ),
    supplier: str | None = typer.Option(None, help="RFC del proveedor (rol proveedor)."),
    password: str = typer.Option(
        ...,
        prompt="Contraseña",
        hide_input=True,
        confirmation_prompt=True,
        envvar="ABASTO_NEW_PASSWORD",
        help="Se pide sin eco si no se da; también desde ABASTO_NEW_PASSWORD.",
    ),
) -> None:
    """Crea un usuario con su rol, limitado a una institución o a un proveedor según el rol."""
    with unit_of_work() as ctx:
        user = service.create_user(
            ctx,
            username=username,
            full_name=full_name,
            password=password,
            role=role,
            institution_code=institution,
            supplier_rfc=supplier,
        )
        console.print(f"Usuario «{user.username}» creado con el rol {user.role.value}.")


SANCTIONS_FILE = "el CSV de proveedores y contratistas sancionados publicado por la SFP"


@suppliers_app.command("import-sanctioned")
def import_sanctioned(
    file: Path = typer.Argument(..., help="CSV de proveedores y contratistas sancionados (SFP)."),
) -> None:
    """Reemplaza la lista de sancionados con la del archivo y muestra a quiénes excluye."""
    with unit_of_work() as ctx:
        summary = service.import_sanctions(
            ctx, content=read_input(file, expected=SANCTIONS_FILE), filename=file.name
        )
    say(
        f"Lista «{summary.filename}» importada: "
        f"{_count(summary.records, 'registro leído', 'registros leídos')} "
        f"({_count(summary.stored, 'nombre de empresa', 'nombres de empresa')})."
    )
    if not summary.matched:
        say("Ningún proveedor registrado aparece en la lista.")
    else:
        found = _count(len(summary.matched), "proveedor registrado", "proveedores registrados")
        say(f"En la lista aparecen {found}:")
        for matched in summary.matched:
            new = " (nuevo)" if matched.rfc in summary.newly_matched else ""
            sanctions = _count(matched.sanctions, "sanción", "sanciones")
            say(f"  - {matched.rfc}  {matched.razon_social}: {sanctions}{new}")
    if summary.no_longer_matched:
        say("Ya no aparecen en la lista: " + ", ".join(summary.no_longer_matched) + ".")
    if summary.notes:
        say(
            f"{_count(len(summary.notes), 'advertencia', 'advertencias')} "
            "(no impidieron la importación):"
        )
        for note in summary.notes:
            say(f"  - {note}")


@suppliers_app.command("register")
def register_supplier(
    rfc: str = typer.Option(..., "--rfc", help="RFC del proveedor, p. ej. CFE370814QI0."),
    razon_social: str = typer.Option(..., "--razon-social", help="Denominación o razón social."),
    state: str | None = typer.Option(
        None, "--state", help="Entidad federativa: clave INEGI (01-32) o nombre."
    ),
) -> None:
    """Registra a un proveedor y dice de inmediato si la lista de sancionados se lo impide."""
    with unit_of_work() as ctx:
        supplier = service.register_supplier(
            ctx, rfc=rfc, razon_social=razon_social, state_code=state
        )
        standing = service.get_supplier_standing(ctx.db, supplier.rfc)
    say(f"Proveedor «{supplier.razon_social}» registrado con el RFC {supplier.rfc}.")
    if not standing.barred:
        return
    sanctions = _count(len(standing.sanctions), "sanción", "sanciones")
    say(f"NO ELEGIBLE: aparece en la lista de sancionados ({sanctions}):")
    for sanction in standing.sanctions:
        parts = [
            sanction.resolution or "sanción",
            sanction.agency or "dependencia no publicada",
            f"expediente {sanction.file_number or 's/n'}",
        ]
        if sanction.resolved_on:
            parts.append(f"resuelta el {format_date(sanction.resolved_on)}")
        if sanction.term:
            parts.append(f"plazo {sanction.term}")
        say("  - " + ", ".join(parts))


def say(text: str) -> None:
    # Names and RFCs are printed as they are: Rich would read "[...]" as markup.
    console.print(text, highlight=False, markup=False)


institutions_app = typer.Typer(help="Registro de instituciones del sector.", no_args_is_help=True)
units_app = typer.Typer(
    help="Unidades: puntos de entrega, almacenes, hospitales.", no_args_is_help=True
)


@institutions_app.command("sync")
def sync_institutions(
    dry_run: bool = typer.Option(
        False, "--dry-run", help="Sólo muestra los cambios; no escribe nada."
    ),
    file: Path | None = typer.Option(
        None,
        "--file",
        help="Otro registro en el formato de registry.json (por omisión, el que trae Abasto).",
    ),
) -> None:
    """Carga o actualiza el registro de instituciones y unidades; muestra los cambios antes."""
    with unit_of_work() as ctx:
        source = (
            registry.parse_registry(
                read_input(file, expected=registry.EXPECTED).decode("utf-8", "replace"),
                file.name,
            )
            if file is not None
            else registry.shipped_registry()
        )
        plan = service.plan_registry_sync(ctx.db, source)
        service.refuse_conflicts(plan)
        if plan.empty:
            say(f"El registro {plan.version} ya está al día: no hay cambios.")
            return
        lines = plan.lines()
        say(f"Cambios del registro {plan.version} ({len(lines)}):")
        for line in lines:
            say(f"  {line}")
        if dry_run:
            say("--dry-run: no se aplicó nada.")
            return
        service.sync_registry(ctx, source, plan=plan)
    counts = plan.counts()
    done = [
        _count(counts[key], singular, plural)
        for key, singular, plural in (
            ("institutions_added", "institución nueva", "instituciones nuevas"),
            ("units_added", "unidad nueva", "unidades nuevas"),
            ("institutions_renamed", "institución renombrada", "instituciones renombradas"),
            ("units_renamed", "unidad renombrada", "unidades renombradas"),
            ("aliases_added", "otro nombre", "otros nombres"),
            ("institutions_retired", "institución retirada", "instituciones retiradas"),
            ("units_retired", "unidad retirada", "unidades retiradas"),
        )
        if counts[key]
    ]
    say(f"Aplicado (registro {plan.version}): " + ", ".join(done) + ".")


CLUES_FILE = "el catálogo CLUES de establecimientos de salud (.xlsx o .csv)"


@units_app.command("import")
def import_units(
    file: Path = typer.Argument(..., help="Archivo con el formato del catálogo CLUES."),
) -> None:
    """Registra o actualiza las unidades de un archivo CLUES; todo o nada."""
    with unit_of_work() as ctx:
        summary = service.import_units(
            ctx, content=read_input(file, expected=CLUES_FILE), filename=file.name
        )
    say(
        f"«{summary.filename}»: {_count(summary.rows, 'unidad leída', 'unidades leídas')}; "
        f"{_count(summary.added, 'nueva', 'nuevas')}, "
        f"{_count(summary.updated, 'actualizada', 'actualizadas')}, "
        f"{summary.unchanged:,} sin cambios."
        + (
            f" {_count(summary.retired, 'retirada', 'retiradas')} (fuera de operación)."
            if summary.retired
            else ""
        )
    )
    for code, count in summary.by_institution.items():
        say(f"  - {code}: {_count(count, 'unidad', 'unidades')}")
