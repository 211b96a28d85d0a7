"""Load a built scenario through the services, so it lands on the ledger as real use would."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from sqlalchemy import select
from sqlalchemy.orm import Session

from abasto.catalog import service as catalog
from abasto.core import ledger
from abasto.core.context import Context
from abasto.core.errors import Conflict
from abasto.identity import service as identity
from abasto.identity.models import Role
from abasto.scenario.build import Scenario
from abasto.scenario.institutions import InstitutionSpec, Scale
from abasto.scenario.sanctions import build_sanctions, sanctions_csv
from abasto.scenario.suppliers import SupplierSpec

Stage = Literal["institutions", "catalog", "suppliers", "sanctions", "users"]
STAGES: dict[Stage, str] = {
    "institutions": "Instituciones y unidades",
    "catalog": "Catálogo de claves",
    "suppliers": "Proveedores",
    "sanctions": "Lista de sancionados",
    "users": "Usuarios de demostración",
}
LoadProgress = Callable[[Stage, int, int], None]
"""Hears (stage, done, total) as each stage advances."""

DEMO_PASSWORD = "abasto-demo-2026"
"""Every demo user's password. It is printed and documented, so it guards nothing real."""

# The official column names of a catalog file, as ``catalog.reader`` looks for them.
CATALOG_HEADER = ("Clave", "Descripción", "Unidad de medida", "CUCoP", "Presentación")

SCENARIO_LOAD = "scenario.load"
"""The ledger action that marks a database's data as a generated scenario."""


@dataclass(frozen=True, slots=True)
class DemoUser:
    """A user the demo creates, one per role, to log in with ``DEMO_PASSWORD``."""

    username: str
    full_name: str
    role: Role
    institution_code: str | None = None
    supplier_rfc: str | None = None
    supplier_name: str | None = None

    @property
    def scope(self) -> str:
        """Whom the user acts for, as the demo prints it."""
        if self.institution_code:
            return self.institution_code
        if self.supplier_rfc:
            return f"{self.supplier_name} ({self.supplier_rfc})"
        return "todas las instituciones" if self.role is Role.comprador else "—"


@dataclass(frozen=True, slots=True)
class LoadSummary:
    """What a load stored: counts by kind, the suppliers barred, the users, the ledger entries."""

    seed: int
    scale: Scale
    institutions: int
    units: int
    claves: int
    suppliers: int
    sanctions: int
    barred: tuple[str, ...]
    """RFCs of the suppliers the sanctions list makes not eligible."""
    users: tuple[DemoUser, ...]
    ledger_entries: int


def demo_supplier(scenario: Scenario) -> SupplierSpec:
    """The supplier the demo's supplier user acts for: the first medicine maker not sanctioned.

    Only the look-alikes are on the scenario's sanctions list (``build_sanctions`` keeps its
    other names clear of every supplier's), so any other supplier is eligible.
    """
    for supplier in scenario.suppliers:
        if (
            not supplier.sanctions_lookalike
            and supplier.kind == "fabricante"
            and supplier.categories[0] == "medicamento"
        ):
            return supplier
    raise ValueError("the scenario has no eligible medicine maker")


def demo_users(scenario: Scenario) -> tuple[DemoUser, ...]:
    """One user per role (two institution planners), all with ``DEMO_PASSWORD``."""
    supplier = demo_supplier(scenario)
    return (
        DemoUser("comprador", "Compras Consolidadas BIRMEX (demostración)", Role.comprador),
        DemoUser("imss", "Planeación de Abasto IMSS (demostración)", Role.institucion, "IMSS"),
        DemoUser(
            "issste", "Planeación de Abasto ISSSTE (demostración)", Role.institucion, "ISSSTE"
        ),
        DemoUser(
            "proveedor",
            f"Ventas de gobierno, {supplier.razon_social} (demostración)",
            Role.proveedor,
            supplier_rfc=supplier.rfc,
            supplier_name=supplier.razon_social,
        ),
        DemoUser("evaluador", "Evaluación Técnica (demostración)", Role.evaluador),
        DemoUser("auditor", "Órgano Interno de Control (demostración)", Role.auditor),
    )


def catalog_csv(scenario: Scenario) -> bytes:
    """The scenario's claves as a catalog file with the official column names."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CATALOG_HEADER)
    for clave in scenario.claves:
        writer.writerow(
            (
                clave.clave,
                clave.description,
                clave.unit,
                "" if clave.cucop is None else str(clave.cucop),
                clave.presentation,
            )
        )
    return out.getvalue().encode("utf-8")


def _register(ctx: Context, institution: InstitutionSpec) -> None:
    identity.register_institution(
        ctx,
        code=institution.code,
        name=institution.name,
        kind=institution.kind,
        aliases=institution.names,
        coordinator_code=institution.coordinator,
        units=[
            identity.UnitSpec(code=u.code, name=u.name, kind=u.kind, state_code=u.state_code)
            for u in institution.units
        ],
    )


def _nothing(stage: Stage, done: int, total: int) -> None:
    pass


def load_scenario(
    ctx: Context, scenario: Scenario, *, progress: LoadProgress | None = None
) -> LoadSummary:
    """Write the scenario through the services in the caller's transaction.

    Refused (``Conflict``) when the database already holds institutions: a scenario is loaded
    into an empty database only, never mixed with other data.
    """
    report = progress or _nothing
    existing = identity.registry_counts(ctx.db).institutions
    if existing:
        raise Conflict(
            f"La base de datos ya tiene {existing:,} institución(es) registrada(s); el escenario "
            "sólo se carga en una base vacía. Use otra base (ABASTO_DATABASE_URL) o, para la "
            "demostración, «abasto demo --fresh», que borra la base SQLite y la vuelve a crear."
        )
    first_seq, _ = ledger.head(ctx.db)

    institutions = (scenario.buyer, *scenario.institutions)
    report("institutions", 0, len(institutions))
    for done, institution in enumerate(institutions, start=1):
        _register(ctx, institution)
        report("institutions", done, len(institutions))

    report("catalog", 0, len(scenario.claves))
    imported = catalog.import_catalog(
        ctx,
        content=catalog_csv(scenario),
        filename=f"catalogo-escenario-{scenario.seed}-{scenario.scale}.csv",
    )
    report("catalog", imported.total, len(scenario.claves))

    suppliers = scenario.suppliers
    report("suppliers", 0, len(suppliers))
    for done, supplier in enumerate(suppliers, start=1):
        identity.register_supplier(
            ctx,
            rfc=supplier.rfc,
            razon_social=supplier.razon_social,
            state_code=supplier.state_code,
            registered_on=supplier.registered_on,
        )
        if done % 50 == 0 or done == len(suppliers):
            report("suppliers", done, len(suppliers))

    listed = build_sanctions(scenario)
    report("sanctions", 0, len(listed))
    sanctions = identity.import_sanctions(
        ctx,
        content=sanctions_csv(scenario),
        filename=f"sancionados-escenario-{scenario.seed}-{scenario.scale}.csv",
    )
    report("sanctions", sanctions.records, len(listed))

    users = demo_users(scenario)
    report("users", 0, len(users))
    for done, user in enumerate(users, start=1):
        identity.create_user(
            ctx,
            username=user.username,
            full_name=user.full_name,
            password=DEMO_PASSWORD,
            role=user.role,
            institution_code=user.institution_code,
            supplier_rfc=user.supplier_rfc,
        )
        report("users", done, len(users))

    units = sum(len(i.units) for i in institutions)
    last_seq = ctx.record(
        SCENARIO_LOAD,
        f"scenario:{scenario.seed}:{scenario.scale}",
        {
            "seed": scenario.seed,
            "scale": scenario.scale,
            "as_of": scenario.as_of,
            "institutions": len(institutions),
            "units": units,
            "claves": imported.total,
            "suppliers": len(suppliers),
            "sanctions": sanctions.records,
            "barred": [m.rfc for m in sanctions.matched],
            "users": len(users),
            "note": "Datos generados para demostración; no son datos reales.",
        },
    )
    return LoadSummary(
        seed=scenario.seed,
        scale=scenario.scale,
        institutions=len(institutions),
        units=units,
        claves=imported.total,
        suppliers=len(suppliers),
        sanctions=sanctions.records,
        barred=tuple(m.rfc for m in sanctions.matched),
        users=users,
        ledger_entries=last_seq - first_seq,
    )


@dataclass(frozen=True, slots=True)
class LoadedScenario:
    """What a database says about the scenario it holds, read from its ledger."""

    seed: int
    scale: Scale


def loaded_scenario(db: Session) -> LoadedScenario | None:
    """The scenario this database was loaded with, or None if its data are not a scenario."""
    entry = db.scalar(
        select(ledger.LedgerEntry)
        .where(ledger.LedgerEntry.action == SCENARIO_LOAD)
        .order_by(ledger.LedgerEntry.seq.desc())
        .limit(1)
    )
    if entry is None:
        return None
    data = entry.data()
    return LoadedScenario(seed=int(data["seed"]), scale=data["scale"])
