"""Load a built scenario through the services, so it lands on the ledger as real use would."""

from __future__ import annotations

import io
import math
import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Literal

from sqlalchemy import select
from sqlalchemy.orm import Session

from abasto.catalog import service as catalog
from abasto.core import ledger
from abasto.core.context import Context
from abasto.core.errors import Conflict
from abasto.core.money import count_of
from abasto.core.spreadsheet import CsvWriter
from abasto.demand import appendix
from abasto.demand import rules as demand_rules
from abasto.demand import service as demand
from abasto.identity import registry
from abasto.identity import service as identity
from abasto.identity.models import Role, SupplierStatus
from abasto.inventory import service as inventory
from abasto.scenario import inventory as stocked_inventory
from abasto.scenario.build import Scenario
from abasto.scenario.catalog import ClaveSpec
from abasto.scenario.institutions import InstitutionSpec, Scale
from abasto.scenario.sanctions import build_sanctions, sanctions_csv
from abasto.scenario.suppliers import SupplierSpec

Stage = Literal[
    "institutions", "catalog", "suppliers", "sanctions", "users", "demand", "inventory", "contracts"
]
STAGES: dict[Stage, str] = {
    "institutions": "Instituciones y unidades",
    "catalog": "Catálogo de claves",
    "suppliers": "Proveedores",
    "sanctions": "Lista de sancionados",
    "users": "Usuarios de demostración",
    "demand": "Ronda de demanda",
    "inventory": "Un año de existencias y dispensación",
    "contracts": "Contratos, órdenes y entregas",
}
"""The stages of a load, and, last, the demo's: the contracts of its fallo and their year of
orders (``scenario.contracts``, once the fallo is staged)."""
LOAD_STAGES: tuple[Stage, ...] = tuple(s for s in STAGES if s != "contracts")
"""The stages ``load_scenario`` reports; the contracts' comes after the demo's fallo."""
LoadProgress = Callable[[Stage, int, int], None]
"""Hears (stage, done, total) as each stage advances."""

DEMO_PASSWORD = "abasto-demo-2026"
"""Every demo user's password. It is printed and documented, so it guards nothing real."""

# The official column names of a catalog file, as ``catalog.reader`` looks for them.
CATALOG_HEADER = ("Clave", "Descripción", "Unidad de medida", "CUCoP", "Presentación")

SCENARIO_LOAD = "scenario.load"
"""The ledger action that marks a database's data as a generated scenario."""

DEMO_ROUND = "2027-2028"
DEMO_PERIODS = ("2027", "2028")
DEMO_PENDING = ("ISSSTE", "OADPRS", "HNH")
"""Institutions that have not submitted in the demo's round: the ISSSTE demo user has one to
fill in, and the buyer sees who is missing."""

# Each institution's share of the sector's demand and of the catalog it asks for, roughly as in
# the 2023-2024 appendix (IMSS alone states 70 % of the total).
_DEMAND_SIZE: dict[str, tuple[float, float]] = {
    "IMSS": (1.0, 0.8),
    "IMSS-BIENESTAR": (0.2, 0.7),
    "ISSSTE": (0.17, 0.7),
    "PEMEX": (0.03, 0.4),
    "SEDENA": (0.006, 0.35),
    "SEMAR": (0.004, 0.3),
    "GN": (0.005, 0.15),
    "OADPRS": (0.002, 0.15),
}
_MEMBER_SIZE = (0.001, 0.3)
"""A CCINSHAE institute or hospital."""
_PROGRAMME_SIZE = (0.0005, 0.05)
"""An SPPS programme: few claves (vaccines, antiretrovirals, contraceptives)."""
_CONSUMPTION_CLAVES = 40
_CONSUMPTION_MONTHS = 36


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
    demand_lines: int
    """Lines of the demo's open round (``DEMO_ROUND``)."""
    pending: tuple[str, ...]
    """Institutions of that round that have not submitted."""
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
    writer = CsvWriter(out, lineterminator="\r\n")
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


def _register(
    ctx: Context, institution: InstitutionSpec, shipped: registry.RegistryInstitution | None
) -> None:
    # With the shipped registry's state and aliases, so `abasto institutions sync` on the demo
    # only adds what the demo leaves out.
    identity.register_institution(
        ctx,
        code=institution.code,
        name=institution.name,
        kind=institution.kind,
        aliases=(*institution.names, *(shipped.aliases if shipped else ())),
        coordinator_code=institution.coordinator,
        state_code=shipped.state_code if shipped else None,
        units=[
            identity.UnitSpec(code=u.code, name=u.name, kind=u.kind, state_code=u.state_code)
            for u in institution.units
        ],
    )


def _nothing(stage: Stage, done: int, total: int) -> None:
    pass


def load_scenario(
    ctx: Context,
    scenario: Scenario,
    *,
    progress: LoadProgress | None = None,
    forecast: bool = True,
) -> LoadSummary:
    """Write the scenario through the services in the caller's transaction.

    The demand stage opens ``DEMO_ROUND`` with most institutions submitted; ``forecast=False``
    skips fitting its forecasts (seconds of statsforecast that tests of other things need not
    pay).

    Refused (``Conflict``) when the database already holds institutions: a scenario is loaded
    into an empty database only, never mixed with other data.
    """
    report = progress or _nothing
    existing = identity.registry_counts(ctx.db).institutions
    if existing:
        raise Conflict(
            "La base de datos ya tiene "
            + count_of(existing, "institución registrada", "instituciones registradas")
            + "; el escenario "
            "sólo se carga en una base vacía. Use otra base (ABASTO_DATABASE_URL) o, para la "
            "demostración, «abasto demo --fresh», que borra la base SQLite y la vuelve a crear."
        )
    first_seq, _ = ledger.head(ctx.db)

    institutions = (scenario.buyer, *scenario.institutions)
    shipped = {entry.code: entry for entry in registry.shipped_registry().institutions}
    report("institutions", 0, len(institutions))
    for done, institution in enumerate(institutions, start=1):
        _register(ctx, institution, shipped.get(institution.code))
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
            # The scenario's suppliers stand for firms the buyer has already checked.
            status=SupplierStatus.verificado,
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

    report("demand", 0, 1)
    round_lines = load_demand(ctx, scenario, forecast=forecast)
    report("demand", 1, 1)

    movements = load_inventory(ctx, scenario, progress=report)

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
            "demand_round": DEMO_ROUND,
            "demand_lines": round_lines,
            "stock_movements": movements,
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
        demand_lines=round_lines,
        pending=DEMO_PENDING,
        ledger_entries=last_seq - first_seq,
    )


def load_inventory(ctx: Context, scenario: Scenario, *, progress: LoadProgress = _nothing) -> int:
    """A year of stock and dispensing of the stocked units (``scenario.inventory``), ending
    yesterday, and the indicators of every 60th day and of yesterday: the
    dashboard's trend. The number of movements posted."""
    last = inventory.today(ctx) - timedelta(days=1)
    units = list(stocked_inventory.stocked_units(scenario))
    progress("inventory", 0, len(units))
    posted = 0
    for done, (institution, spec) in enumerate(units, start=1):
        posted += inventory.post_history(
            ctx,
            unit=inventory.get_unit(ctx.db, institution, spec.code),
            rows=stocked_inventory.history(scenario, institution, spec, last=last),
            source=f"scenario:{scenario.seed}:{institution}/{spec.code}",
        )
        progress("inventory", done, len(units))
    for back in range(stocked_inventory.DAYS // 60, 0, -1):
        inventory.snapshot(ctx, day=last - timedelta(days=60 * back))
    inventory.snapshot(ctx, day=last)
    return posted


def demand_stated(scenario: Scenario) -> dict[str, dict[str, tuple[int, int]]]:
    """What each institution asks for in the demo round: code → clave → (min, max).

    Every institution but the buyer and CCINSHAE asks for a share of the catalog, each maximum
    scaled by the institution's size and each minimum the 40 % of it rounded up, sometimes a
    little more; CCINSHAE states the sum of its members', as in the 2023-2024 appendix.
    ``DEMO_PENDING`` are included: they have not submitted, but they have needs.
    """
    rng = random.Random(f"abasto:{scenario.seed}:demand")
    base = {clave.clave: _base_demand(rng, clave) for clave in scenario.claves}
    stated: dict[str, dict[str, tuple[int, int]]] = {}
    coordinated: dict[str, tuple[int, int]] = {}
    for institution in scenario.institutions:
        if institution.code == "CCINSHAE":
            continue
        if institution.coordinator is not None:
            size, share = _MEMBER_SIZE
        elif institution.kind == "programa SPPS":
            size, share = _PROGRAMME_SIZE
        else:
            size, share = _DEMAND_SIZE.get(institution.code, _MEMBER_SIZE)
        chosen = [code for code in base if rng.random() < share]
        stated[institution.code] = {
            code: _pair(rng, max(1, round(base[code] * size * rng.uniform(0.5, 1.5))))
            for code in chosen
        }
        if institution.coordinator is not None and institution.code not in DEMO_PENDING:
            for code, (low, high) in stated[institution.code].items():
                total = coordinated.get(code, (0, 0))
                coordinated[code] = (total[0] + low, total[1] + high)
    stated["CCINSHAE"] = coordinated
    return stated


def demand_appendix(scenario: Scenario) -> bytes:
    """The demo round's appendix as the coordinating buyer receives it: the institutions that
    submitted, CCINSHAE's members again in a detail sheet."""
    stated = demand_stated(scenario)
    claves = {clave.clave: clave for clave in scenario.claves}
    order = [i.code for i in scenario.institutions if i.code not in DEMO_PENDING]
    members = {i.code: i.name for i in scenario.institutions if i.coordinator is not None}
    main = [code for code in order if code not in members]
    detail = [code for code in order if code in members]

    def rows(codes: list[str], label: Callable[[str], str]) -> list[appendix.ConsolidatedRow]:
        found = []
        for clave in sorted({c for code in codes for c in stated[code]}):
            spec = claves[clave]
            asked = {label(code): stated[code][clave] for code in codes if clave in stated[code]}
            found.append(appendix.ConsolidatedRow(clave, spec.description, spec.unit, asked))
        return found

    title = f"APÉNDICE DE DEMANDA {DEMO_ROUND} (ESCENARIO DE DEMOSTRACIÓN)"
    return appendix.write_appendix_sheets(
        [
            appendix.ConsolidatedSheet("1 Demanda agregada", title, main, rows(main, str)),
            appendix.ConsolidatedSheet(
                "1.1 Detalle CCINSHAE",
                f"{title} (CCINSHAE)",
                [members[code] for code in detail],
                rows(detail, members.__getitem__),
            ),
        ]
    )


def _base_demand(rng: random.Random, clave: ClaveSpec) -> float:
    """What IMSS would ask of a clave over two years: medicines by the million, others less."""
    median = 400_000 if clave.category in ("medicamento", "vacuna") else 40_000
    return rng.lognormvariate(math.log(median), 1.6)


def _pair(rng: random.Random, high: int) -> tuple[int, int]:
    low = demand_rules.minimum_for(high, demand_rules.DEFAULT_MIN_SHARE)
    if rng.random() < 0.3:
        low = min(high, low + rng.randint(0, max(1, high // 10)))
    return low, high


def consumption_file(scenario: Scenario) -> bytes:
    """Three years of monthly consumption of some claves at three units each of IMSS and
    ISSSTE, so the demo's forecasts have history.

    Most claves were consumed at about the pace of what the institution asks for; one in ten
    at a tenth of it and one in ten at five times it, which the forecast flags.
    """
    rng = random.Random(f"abasto:{scenario.seed}:consumption")
    stated = demand_stated(scenario)
    first = scenario.as_of.year * 12 + scenario.as_of.month - 1 - _CONSUMPTION_MONTHS
    horizon = 12 * len(DEMO_PERIODS)
    out = io.StringIO()
    writer = CsvWriter(out, lineterminator="\r\n")
    writer.writerow(("Unidad", "Clave", "Mes", "Consumo", "Días sin existencia"))
    for code in ("IMSS", "ISSSTE"):
        units = [u.code for u in scenario.institution(code).units][:3]
        asked = sorted(stated[code])
        for clave in rng.sample(asked, min(_CONSUMPTION_CLAVES, len(asked))):
            pace = rng.choices((1.0, 0.1, 5.0), weights=(8, 1, 1))[0] * rng.uniform(0.8, 1.2)
            level = stated[code][clave][1] / horizon / len(units) * pace
            intermittent = level < 20 or rng.random() < 0.15
            for unit in units:
                for i in range(_CONSUMPTION_MONTHS):
                    year, month = divmod(first + i, 12)
                    if intermittent and rng.random() < 0.6:
                        consumed = 0
                    else:
                        scale = level / 0.4 if intermittent else level
                        consumed = max(0, round(rng.gauss(scale, scale * 0.25)))
                    stockout = rng.choice((0, 0, 0, 0, 3, 10)) if i % 7 == 0 else ""
                    writer.writerow((unit, clave, f"{year}-{month + 1:02d}", consumed, stockout))
    return out.getvalue().encode("utf-8")


def load_demand(ctx: Context, scenario: Scenario, *, forecast: bool = True) -> int:
    """Open the demo round, import its appendix and the consumption history, and (unless told
    not to) run the forecast; the round's line count."""
    demand.open_round(ctx, name=DEMO_ROUND, periods=list(DEMO_PERIODS))
    summary = demand.import_appendix(
        ctx,
        round_name=DEMO_ROUND,
        content=demand_appendix(scenario),
        filename=f"apendice-{DEMO_ROUND}-escenario-{scenario.seed}-{scenario.scale}.xlsx",
    )
    demand.import_consumption(
        ctx,
        content=consumption_file(scenario),
        filename=f"consumo-escenario-{scenario.seed}-{scenario.scale}.csv",
    )
    if forecast:
        demand.run_forecast(ctx, round_name=DEMO_ROUND)
    return summary.lines


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
