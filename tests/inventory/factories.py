"""Inventory test data built through the services: a small sector with units and claves."""

from __future__ import annotations

from datetime import date

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from abasto.catalog import service as catalog
from abasto.core.context import Context
from abasto.identity import service as identity
from abasto.identity.models import Role, Unit
from abasto.inventory import service
from abasto.inventory.models import StockMovement
from abasto.inventory.service import IssueLine, ReceiptLine

PARACETAMOL, ASPIRINA, METFORMINA = "010.000.0104.00", "010.000.0101.00", "010.000.5165.00"
CATALOG = (
    "Clave,Descripción\n"
    f"{PARACETAMOL},Paracetamol. Tableta 500 mg.\n"
    f"{ASPIRINA},Ácido acetilsalicílico. Tableta 500 mg.\n"
    f"{METFORMINA},Metformina. Tableta 850 mg.\n"
)
EXPIRES = date(2027, 6, 30)
SOON = date(2027, 1, 15)


def build_sector(ctx: Context) -> Context:
    """IMSS with a hospital and a clinic in two states, ISSSTE with a clinic; three claves."""
    catalog.import_catalog(ctx, content=CATALOG.encode(), filename="catalogo.csv")
    identity.register_institution(
        ctx,
        code="IMSS",
        name="Instituto Mexicano del Seguro Social",
        kind="seguridad social",
        units=[
            identity.UnitSpec("HGZ-1", "Hospital General de Zona 1", "hospital", "09"),
            identity.UnitSpec("UMF-2", "Unidad de Medicina Familiar 2", "clinica", "15"),
        ],
    )
    identity.register_institution(
        ctx,
        code="ISSSTE",
        name="ISSSTE",
        kind="seguridad social",
        units=[identity.UnitSpec("CMF-1", "Clínica de Medicina Familiar 1", "clinica", "19")],
    )
    ctx.db.flush()
    return ctx


def unit(ctx: Context, institution: str = "IMSS", code: str = "HGZ-1") -> Unit:
    return service.get_unit(ctx.db, institution, code)


def stock(ctx: Context, where: Unit, clave: str, *lots: tuple[str, date, int]) -> None:
    service.receive(
        ctx, unit=where, lines=[ReceiptLine(clave, lot, expiry, qty) for lot, expiry, qty in lots]
    )


def give(ctx: Context, where: Unit, clave: str, quantity: int, lot: str | None = None) -> None:
    service.dispense(ctx, unit=where, lines=[IssueLine(clave, quantity, lot)])


def staff(ctx: Context, institution: str, username: str | None = None) -> Context:
    """A context acting as a warehouse user of the institution."""
    user = identity.create_user(
        ctx,
        username=username or f"almacen{institution.lower()}",
        full_name=f"Almacén {institution}",
        password="contrasena-segura-1",
        role=Role.institucion,
        institution_code=institution,
    )
    return Context(db=ctx.db, actor=identity.actor_of(user), now=ctx.now)


def loaded_once(db: Session, table: str, source: str) -> tuple[set[tuple[object, ...]], list[str]]:
    """What each movement of ``source`` reads as its time, reason, source and actor (one of each,
    if the load wrote them right), and which of ``service.PER_LOAD_COLUMNS`` ``table`` keeps
    once, as a missing value, instead of in each of its rows."""
    read = db.execute(
        select(
            StockMovement.at, StockMovement.reason, StockMovement.source, StockMovement.actor
        ).where(StockMovement.source == source)
    ).all()
    once = db.scalars(
        text(
            "SELECT attname FROM pg_attribute WHERE attrelid = to_regclass(:table)"
            " AND atthasmissing ORDER BY attname"
        ),
        {"table": table},
    ).all()
    return set(map(tuple, read)), list(once)
