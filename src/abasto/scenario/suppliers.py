"""Generated suppliers: Mexican companies with valid RFCs, a few named like sanctioned ones."""

from __future__ import annotations

import datetime
import random
from dataclasses import dataclass
from typing import Literal

from abasto.core.text import fold
from abasto.identity.rules import STATES, make_rfc, normalize_company_name, strip_legal_form
from abasto.scenario.catalog import Category
from abasto.scenario.institutions import Scale

SupplierKind = Literal["fabricante", "distribuidor"]

SUPPLIER_COUNTS: dict[Scale, int] = {"national": 600, "small": 40}
SANCTIONED_COUNTS: dict[Scale, int] = {"national": 3, "small": 2}

# Share of suppliers registered within the year before the scenario date (red flag material).
_NEW_SHARE = 0.15


@dataclass(frozen=True, slots=True)
class SupplierSpec:
    """A company registered as a supplier of the consolidated purchase."""

    rfc: str
    razon_social: str
    kind: SupplierKind
    state_code: str
    incorporated_on: datetime.date
    registered_on: datetime.date
    categories: tuple[Category, ...]
    # Spelled like a company on the SFP list of sanctioned suppliers, so the sanctions import
    # has a real match to show; ``razon_social`` is a variant spelling, not the list's own.
    sanctions_lookalike: bool = False


@dataclass(frozen=True, slots=True)
class SanctionedLookalike:
    """A sanctioned company as the SFP list spells it and as a generated supplier spells it."""

    listed_as: str
    spelled_as: str
    kind: SupplierKind
    categories: tuple[Category, ...]


# Invented companies that the demo's generated sanctions list names, each with the spelling the
# list uses and a variant a supplier might type when registering. They are invented on purpose:
# a demo must not attach made-up sanctions to real companies (tests check that none of these
# names is on the real SFP list).
SANCTIONED_LOOKALIKES: tuple[SanctionedLookalike, ...] = (
    SanctionedLookalike(
        "DISTRIBUIDORA MEDICA XOCHIPILLI, S.A. DE C.V.",
        "Distribuidora Médica Xochipilli SA de CV",
        "distribuidor",
        ("medicamento", "material_curacion"),
    ),
    SanctionedLookalike(
        "LABORATORIOS TEPOZTLAN FARMA, S.A. DE C.V.",
        "Laboratorios Tepoztlán Farma, S. A. de C. V.",
        "fabricante",
        ("medicamento",),
    ),
    SanctionedLookalike(
        "INSUMOS HOSPITALARIOS CUAUHNAHUAC, S.A. DE C.V.",
        "Insumos Hospitalarios Cuauhnáhuac S.A. de C.V.",
        "distribuidor",
        ("medicamento", "material_curacion", "laboratorio"),
    ),
    SanctionedLookalike(
        "GRUPO REACTIVOS ZAPOPAN, S. DE R.L. DE C.V.",
        "Grupo Reactivos Zapopan S de RL de CV",
        "distribuidor",
        ("laboratorio",),
    ),
)


@dataclass(frozen=True, slots=True)
class _Profile:
    kind: SupplierKind
    share: float
    prefixes: tuple[str, ...]
    # Categories always supplied, and those each supplier of the profile may add.
    categories: tuple[Category, ...]
    optional: tuple[Category, ...] = ()


_PROFILES: tuple[_Profile, ...] = (
    _Profile(
        "fabricante",
        0.22,
        (
            "Laboratorios",
            "Farmacéutica",
            "Industria Farmacéutica",
            "Productos Farmacéuticos",
            "Laboratorio Químico Farmacéutico",
            "Especialidades Farmacéuticas",
        ),
        ("medicamento",),
    ),
    _Profile(
        "fabricante",
        0.03,
        ("Biológicos", "Biotecnología", "Inmunológicos"),
        ("vacuna",),
        ("medicamento",),
    ),
    _Profile(
        "fabricante",
        0.15,
        (
            "Productos Hospitalarios",
            "Material Médico",
            "Dispositivos Médicos",
            "Manufacturas Médicas",
            "Textiles Quirúrgicos",
            "Plásticos Médicos",
        ),
        ("material_curacion",),
    ),
    _Profile(
        "distribuidor",
        0.12,
        (
            "Diagnóstica",
            "Reactivos y Equipos",
            "Sistemas de Diagnóstico",
            "Químicos y Reactivos",
            "Soluciones de Laboratorio",
        ),
        ("laboratorio",),
        ("radiologia",),
    ),
    _Profile(
        "distribuidor",
        0.04,
        ("Imagen Médica", "Radiología y Contraste", "Servicios de Imagenología"),
        ("radiologia",),
        ("laboratorio",),
    ),
    _Profile(
        "distribuidor",
        0.44,
        (
            "Distribuidora",
            "Comercializadora",
            "Grupo",
            "Proveedora",
            "Insumos Médicos",
            "Suministros Hospitalarios",
            "Distribuidora de Medicamentos",
            "Corporativo",
            "Abastecedora",
            "Comercial",
        ),
        (),
        ("medicamento", "material_curacion", "laboratorio"),
    ),
)

_BRAND_STARTS = (
    "Medi", "Farma", "Bio", "Quimi", "Vita", "Salu", "Novo", "Gene", "Cura", "Hospi", "Termo",
    "Proto", "Inmuno", "Dermo", "Neo", "Clini", "Sani", "Andro", "Cardio", "Onco", "Nefro",
    "Pedia", "Orto", "Uro", "Angio", "Lumi", "Vital", "Alfa", "Omega", "Zeta",
)  # fmt: skip
_BRAND_ENDS = (
    "mex", "tec", "san", "vida", "lux", "ser", "nova", "plus", "cel", "gen", "form", "dix",
    "quim", "sur", "nor", "max", "lab", "tek", "cor", "med",
)  # fmt: skip
_SURNAMES = (
    "Hernández", "García", "Martínez", "López", "González", "Rodríguez", "Pérez", "Sánchez",
    "Ramírez", "Cruz", "Flores", "Gómez", "Morales", "Vázquez", "Reyes", "Jiménez", "Torres",
    "Díaz", "Gutiérrez", "Ruiz", "Mendoza", "Aguilar", "Ortiz", "Castillo", "Moreno", "Romero",
    "Álvarez", "Chávez", "Rivera", "Juárez", "Domínguez", "Herrera", "Medina", "Castro",
    "Vargas", "Guzmán", "Velázquez", "Salazar", "Rojas", "Contreras", "Treviño", "Garza",
    "Villarreal", "Zamora", "Ibarra", "Escobedo", "Montoya", "Navarro", "Peralta", "Olvera",
)  # fmt: skip
_REGIONS = (
    "del Norte", "del Bajío", "del Sureste", "de Occidente", "del Pacífico", "del Golfo",
    "del Centro", "Peninsular", "de la Laguna", "Mexicana", "de México", "Internacional",
    "del Noreste", "Azteca", "del Valle",
)  # fmt: skip
_LEGAL_FORMS = ("S.A. de C.V.", "S. de R.L. de C.V.", "S.A.P.I. de C.V.", "S.A.", "S.A.B. de C.V.")
_LEGAL_FORM_WEIGHTS = (70, 16, 8, 4, 2)
# Where suppliers have their fiscal domicile: most in the capital and the big industrial states.
_STATE_WEIGHTS = {"09": 30, "15": 12, "14": 10, "19": 9, "21": 4, "11": 4, "22": 3, "17": 2}

# Words SAT skips when it takes the initials of a company name for the RFC.
_RFC_SKIPPED = frozenset(
    ("DE", "DEL", "LA", "LAS", "LOS", "EL", "Y", "E", "EN", "CON", "PARA", "POR", "A", "AL",
     "SOCIEDAD", "COMPANIA", "CIA")
)  # fmt: skip
_HOMOCLAVE_CHARS = "123456789ABCDEFGHIJKLMNPQRSTUVWXYZ"


def rfc_prefix(denominacion: str) -> str:
    """The three letters of a persona moral's RFC from its name without the legal form.

    SAT takes the initials of the first three significant words; with two words, the initial of
    the first and two letters of the second; with one, its first three letters.
    """
    words = [w for w in fold(denominacion).upper().split() if w.isalpha()]
    words = [w for w in words if w not in _RFC_SKIPPED] or words
    if len(words) >= 3:
        prefix = "".join(w[0] for w in words[:3])
    elif len(words) == 2:
        prefix = words[0][0] + words[1][:2]
    else:
        prefix = words[0][:3] if words else ""
    return prefix.ljust(3, "X")


def _razon_social(rng: random.Random, profile: _Profile) -> str:
    prefix = rng.choice(profile.prefixes)
    style = rng.random()
    if style < 0.45:
        core = rng.choice(_BRAND_STARTS) + rng.choice(_BRAND_ENDS)
    elif style < 0.75:
        core = rng.choice(_SURNAMES)
        if rng.random() < 0.35:
            core = f"{core} {rng.choice(_SURNAMES)}"
    else:
        core = f"{rng.choice(_BRAND_STARTS)}{rng.choice(_BRAND_ENDS)} {rng.choice(_REGIONS)}"
    legal_form = rng.choices(_LEGAL_FORMS, weights=_LEGAL_FORM_WEIGHTS)[0]
    return f"{prefix} {core}, {legal_form}"


def _state(rng: random.Random) -> str:
    codes = [s.code for s in STATES]
    weights = [_STATE_WEIGHTS.get(code, 1) for code in codes]
    return rng.choices(codes, weights=weights)[0]


def _dates(rng: random.Random, as_of: datetime.date) -> tuple[datetime.date, datetime.date]:
    """Incorporation and registration dates; some registrations are from the last year."""
    if rng.random() < _NEW_SHARE:
        registered = as_of - datetime.timedelta(days=rng.randint(0, 364))
    else:
        registered = as_of - datetime.timedelta(days=rng.randint(365, 12 * 365))
    oldest = datetime.date(1965, 1, 1)
    youngest = registered - datetime.timedelta(days=90)
    incorporated = oldest + datetime.timedelta(days=rng.randint(0, (youngest - oldest).days))
    return incorporated, registered


def _profiles_for(rng: random.Random, count: int) -> list[_Profile]:
    """``count`` profiles in the shares above, each at least twice, in random order."""
    chosen: list[_Profile] = []
    for profile in _PROFILES[:-1]:
        chosen += [profile] * max(2, round(count * profile.share))
    chosen += [_PROFILES[-1]] * max(0, count - len(chosen))
    rng.shuffle(chosen)
    return chosen[:count]


def _categories(rng: random.Random, profile: _Profile) -> tuple[Category, ...]:
    categories = list(profile.categories)
    for category in profile.optional:
        if rng.random() < (0.6 if not profile.categories else 0.25):
            categories.append(category)
    if not categories:
        categories.append(rng.choice(profile.optional))
    return tuple(categories)


class _Registry:
    """Hands out RFCs and names no other supplier has."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.rfcs: set[str] = set()
        self.names: set[str] = set()

    def rfc(self, razon_social: str, incorporated: datetime.date) -> str:
        prefix = rfc_prefix(strip_legal_form(fold(razon_social)))
        while True:
            homoclave = "".join(self.rng.choices(_HOMOCLAVE_CHARS, k=2))
            rfc = make_rfc(prefix, incorporated, homoclave)
            if rfc not in self.rfcs:
                self.rfcs.add(rfc)
                return rfc

    def claim(self, razon_social: str) -> bool:
        key = normalize_company_name(razon_social)
        if key in self.names:
            return False
        self.names.add(key)
        return True


def build_suppliers(
    rng: random.Random, scale: Scale, as_of: datetime.date
) -> tuple[SupplierSpec, ...]:
    """The scenario's suppliers in RFC order, drawn from ``rng``."""
    count = SUPPLIER_COUNTS[scale]
    registry = _Registry(rng)
    suppliers: list[SupplierSpec] = []
    for lookalike in SANCTIONED_LOOKALIKES[: SANCTIONED_COUNTS[scale]]:
        registry.claim(lookalike.spelled_as)
        incorporated, registered = _dates(rng, as_of)
        suppliers.append(
            SupplierSpec(
                rfc=registry.rfc(lookalike.spelled_as, incorporated),
                razon_social=lookalike.spelled_as,
                kind=lookalike.kind,
                state_code=_state(rng),
                incorporated_on=incorporated,
                registered_on=registered,
                categories=lookalike.categories,
                sanctions_lookalike=True,
            )
        )
    for profile in _profiles_for(rng, count - len(suppliers)):
        razon_social = _razon_social(rng, profile)
        while not registry.claim(razon_social):
            razon_social = _razon_social(rng, profile)
        incorporated, registered = _dates(rng, as_of)
        suppliers.append(
            SupplierSpec(
                rfc=registry.rfc(razon_social, incorporated),
                razon_social=razon_social,
                kind=profile.kind,
                state_code=_state(rng),
                incorporated_on=incorporated,
                registered_on=registered,
                categories=_categories(rng, profile),
            )
        )
    return tuple(sorted(suppliers, key=lambda s: s.rfc))
