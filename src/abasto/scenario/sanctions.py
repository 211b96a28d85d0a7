"""The scenario's own SFP list of sanctioned suppliers, as a CSV in the official layout.

The demo runs without the real list, so it writes one: the sanctioned look-alikes under the
names the SFP list gives them (so the import has a real match to make), and a few unrelated
companies that match nobody. Every row says in "Hechos" that it is fictitious.
"""

from __future__ import annotations

import datetime
import io
import random
from dataclasses import dataclass

from abasto.core.spreadsheet import CsvWriter
from abasto.identity.rules import normalize_company_name
from abasto.scenario.build import Scenario
from abasto.scenario.catalog import Category
from abasto.scenario.suppliers import SANCTIONED_LOOKALIKES, SanctionedLookalike

# The header of ProveedoresyContratistasSancionados.csv as the SFP publishes it (its cells are
# padded with spaces there; the importer matches names, so they are written trimmed here).
SFP_HEADER = (
    "Proveedor",
    "Dependencia",
    "Número de Expediente",
    "Hechos",
    "Objeto Social",
    "Sentido de Resolución",
    "Fecha de Notificación",
    "FechadeResolucion",
    "Plazo años - meses",
    "Monto",
    "Nombre del Responsable de la información",
)

UNRELATED_COUNT = 6
FICTITIOUS = "Registro ficticio del escenario de demostración de Abasto."
RESPONSIBLE = "ESCENARIO DE DEMOSTRACIÓN"
INHABILITATION = "SANCIONATORIA CON MULTA E INHABILITACIÓN"

# Agencies as the list spells them.
_AGENCIES = (
    "INSTITUTO MEXICANO DEL SEGURO SOCIAL",
    "INSTITUTO DE SEGURIDAD Y SERVICIOS SOCIALES DE LOS TRABAJADORES DEL ESTADO",
    "PETRÓLEOS MEXICANOS",
    "SECRETARÍA DE SALUD",
    "COMISIÓN FEDERAL DE ELECTRICIDAD",
    "SECRETARÍA DE COMUNICACIONES Y TRANSPORTES",
)
_PURPOSES: dict[Category, str] = {
    "medicamento": "DISTRIBUCIÓN DE MEDICAMENTOS",
    "vacuna": "IMPORTACIÓN Y DISTRIBUCIÓN DE BIOLÓGICOS",
    "material_curacion": "COMERCIALIZACIÓN DE MATERIAL DE CURACIÓN",
    "radiologia": "VENTA DE MATERIAL DE RADIOLOGÍA",
    "laboratorio": "SUMINISTRO DE REACTIVOS DE LABORATORIO",
}
# Companies outside health supplies, so none can match a generated supplier's name.
_UNRELATED_TRADES = (
    ("CONSTRUCTORA", "CONSTRUCCIÓN DE OBRA CIVIL"),
    ("EDIFICACIONES", "CONSTRUCCIÓN DE OBRA CIVIL"),
    ("SERVICIOS DE LIMPIEZA", "SERVICIOS DE LIMPIEZA INDUSTRIAL"),
    ("TRANSPORTES", "AUTOTRANSPORTE DE CARGA"),
    ("CONSULTORES EN INFORMÁTICA", "SERVICIOS DE TECNOLOGÍAS DE LA INFORMACIÓN"),
    ("SEGURIDAD PRIVADA", "SERVICIOS DE VIGILANCIA"),
    ("PAPELERÍA Y ARTÍCULOS DE OFICINA", "VENTA DE ARTÍCULOS DE OFICINA"),
    ("ALIMENTOS Y BANQUETES", "SERVICIOS DE ALIMENTACIÓN"),
)
_UNRELATED_NAMES = (
    "ARGOS", "TLALOC", "CENTAURO", "PIRÁMIDE", "HALCÓN", "ORIÓN", "ZAFIRO", "QUETZAL",
    "SIERRA MADRE", "RÍO BRAVO", "ATLÁNTIDA", "CANTERA", "VOLCÁN", "LAS ÁGUILAS",
)  # fmt: skip
_LEGAL_FORMS = ("S.A. DE C.V.", "S. DE R.L. DE C.V.", "S.A.")
_UNRELATED_RESOLUTIONS = (
    "SANCIONATORIA CON MULTA",
    INHABILITATION,
    INHABILITATION,
    "ABSOLUTORIA",
)
_INHABILITATION_TERMS = ("3 MESES", "6 MESES", "1 AÑO", "2 AÑOS 3 MESES")
# LAASSP art. 60 allows up to five years; the look-alikes get long ones so that they are still
# barred years after the scenario's date, when the demo is run.
_LOOKALIKE_TERMS = ("4 AÑOS 6 MESES", "5 AÑOS")


@dataclass(frozen=True, slots=True)
class ListedSanction:
    """One row of the scenario's list."""

    supplier: str
    agency: str
    file_number: str
    purpose: str
    resolution: str
    notified_on: datetime.date
    resolved_on: datetime.date
    term: str
    amount: str
    lookalike: bool


def sanctioned_lookalikes(scenario: Scenario) -> tuple[SanctionedLookalike, ...]:
    """The look-alikes that are suppliers of this scenario (fewer at small scale)."""
    spelled = {s.razon_social for s in scenario.suppliers if s.sanctions_lookalike}
    return tuple(
        lookalike for lookalike in SANCTIONED_LOOKALIKES if lookalike.spelled_as in spelled
    )


def build_sanctions(scenario: Scenario) -> tuple[ListedSanction, ...]:
    """The look-alikes as the list names them, then unrelated companies; same seed, same list."""
    rng = random.Random(f"abasto:{scenario.seed}:sanctions")
    year = scenario.as_of.year
    lookalikes = sanctioned_lookalikes(scenario)
    rows: list[ListedSanction] = []
    for number, lookalike in enumerate(lookalikes, start=1):
        resolved = scenario.as_of - datetime.timedelta(days=rng.randint(30, 180))
        rows.append(
            ListedSanction(
                supplier=lookalike.listed_as,
                agency=rng.choice(_AGENCIES[:4]),
                file_number=f"DEMO-{number:04d}/{year}",
                purpose=_PURPOSES[lookalike.categories[0]],
                resolution=INHABILITATION,
                notified_on=resolved + datetime.timedelta(days=rng.randint(3, 20)),
                resolved_on=resolved,
                term=rng.choice(_LOOKALIKE_TERMS),
                amount=_amount(rng),
                lookalike=True,
            )
        )
    taken = {normalize_company_name(s.razon_social) for s in scenario.suppliers}
    while len(rows) < len(lookalikes) + UNRELATED_COUNT:
        trade, purpose = rng.choice(_UNRELATED_TRADES)
        name = f"{trade} {rng.choice(_UNRELATED_NAMES)}, {rng.choice(_LEGAL_FORMS)}"
        if normalize_company_name(name) in taken:
            continue
        taken.add(normalize_company_name(name))
        resolution = rng.choice(_UNRELATED_RESOLUTIONS)
        resolved = scenario.as_of - datetime.timedelta(days=rng.randint(60, 8 * 365))
        rows.append(
            ListedSanction(
                supplier=name,
                agency=rng.choice(_AGENCIES),
                file_number=f"DEMO-{len(rows) + 1:04d}/{resolved.year}",
                purpose=purpose,
                resolution=resolution,
                notified_on=resolved + datetime.timedelta(days=rng.randint(3, 20)),
                resolved_on=resolved,
                term=rng.choice(_INHABILITATION_TERMS) if resolution == INHABILITATION else "",
                amount="" if resolution == "ABSOLUTORIA" else _amount(rng),
                lookalike=False,
            )
        )
    return tuple(rows)


def _amount(rng: random.Random) -> str:
    return f"{rng.randint(20_000, 900_000)}.{rng.randint(0, 99):02d}"


def sanctions_csv(scenario: Scenario) -> bytes:
    """The list as the SFP publishes it: UTF-8 CSV, its header, ISO dates."""
    out = io.StringIO()
    writer = CsvWriter(out, lineterminator="\r\n")
    writer.writerow(SFP_HEADER)
    for row in build_sanctions(scenario):
        writer.writerow(
            (
                row.supplier,
                row.agency,
                row.file_number,
                FICTITIOUS,
                row.purpose,
                row.resolution,
                row.notified_on.isoformat(),
                row.resolved_on.isoformat(),
                row.term,
                row.amount,
                RESPONSIBLE,
            )
        )
    return out.getvalue().encode("utf-8")
