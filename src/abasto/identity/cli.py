"""CLI of identity: users, and suppliers with the SFP list of sanctioned ones."""

from __future__ import annotations

import typer

from abasto.core.cli import console, unit_of_work
from abasto.identity import service
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
    """Create a user with a role, scoped to an institution or a supplier where the role says."""
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
