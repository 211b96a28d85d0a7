"""The real institutions of Mexico's public health sector and their units, as static data."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Literal

from abasto.core.text import fold
from abasto.identity.rules import STATES, STATES_BY_CODE

Scale = Literal["small", "national"]
UnitKind = Literal["OOAD", "UMAE", "hospital", "almacen", "entidad", "programa", "unidad"]
InstitutionKind = Literal[
    "seguridad social",
    "IMSS-Bienestar",
    "empresa productiva del Estado",
    "fuerzas armadas",
    "sistema penitenciario",
    "CCINSHAE",
    "programa SPPS",
    "compra consolidada",
]

SMALL_UNITS_PER_INSTITUTION = 4


# States whose health services adhered to IMSS-Bienestar, as the shipped registry marks them
# (identity/registry.json, "adhered"); a test keeps the two equal.
IMSS_BIENESTAR_STATES: tuple[str, ...] = (
    "02", "03", "04", "06", "07", "09", "10", "12", "13", "16", "17", "18",
    "20", "21", "23", "24", "25", "26", "27", "28", "29", "30", "32",
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class UnitSpec:
    """A delivery point or administrative unit of an institution; ``code`` is unique nationally."""

    code: str
    name: str
    kind: UnitKind
    state_code: str


@dataclass(frozen=True, slots=True)
class InstitutionSpec:
    """An institution as official appendices name it; ``aliases`` keep their exact spellings."""

    code: str
    name: str
    kind: InstitutionKind
    aliases: tuple[str, ...]
    units: tuple[UnitSpec, ...]
    # The body that aggregates this one in official appendices (a CCINSHAE hospital → "CCINSHAE").
    coordinator: str | None = None

    @property
    def names(self) -> tuple[str, ...]:
        """Code, name and aliases without the spellings that fold to the same text."""
        return _distinct_by_fold((self.code, self.name, *self.aliases))

    def units_of_kind(self, kind: UnitKind) -> tuple[UnitSpec, ...]:
        return tuple(u for u in self.units if u.kind == kind)


def _distinct_by_fold(names: Iterable[str]) -> tuple[str, ...]:
    seen: set[str] = set()
    kept: list[str] = []
    for name in names:
        key = fold(name)
        if key not in seen:
            seen.add(key)
            kept.append(name)
    return tuple(kept)


def _warehouse(code: str, name: str, state_code: str = "09") -> UnitSpec:
    return UnitSpec(f"{code}-ALM", name, "almacen", state_code)


# --- IMSS ------------------------------------------------------------------------------------

# IMSS splits its three most populous entities in two OOAD each; the others have one.
_IMSS_SPLIT_OOAD = {
    "09": (("NTE", "Ciudad de México Norte"), ("SUR", "Ciudad de México Sur")),
    "15": (("OTE", "Estado de México Oriente"), ("PTE", "Estado de México Poniente")),
    "30": (("NTE", "Veracruz Norte"), ("SUR", "Veracruz Sur")),
}


def _imss_ooad() -> list[UnitSpec]:
    units: list[UnitSpec] = []
    for state in STATES:
        for suffix, label in _IMSS_SPLIT_OOAD.get(state.code, (("", state.short_name),)):
            code = f"IMSS-OOAD-{state.code}{suffix}"
            units.append(UnitSpec(code, f"OOAD {label}", "OOAD", state.code))
    return units


_IMSS_UMAE: tuple[tuple[str, str], ...] = (
    ("UMAE Hospital de Especialidades CMN Siglo XXI", "09"),
    ("UMAE Hospital de Cardiología CMN Siglo XXI", "09"),
    ("UMAE Hospital de Oncología CMN Siglo XXI", "09"),
    ("UMAE Hospital de Pediatría CMN Siglo XXI", "09"),
    ("UMAE Hospital de Especialidades CMN La Raza", "09"),
    ("UMAE Hospital General CMN La Raza", "09"),
    ("UMAE Hospital de Gineco Obstetricia No. 3 CMN La Raza", "09"),
    ("UMAE Hospital de Gineco Obstetricia No. 4 Luis Castelazo Ayala", "09"),
    ("UMAE Hospital de Traumatología y Ortopedia Dr. Victorio de la Fuente Narváez", "09"),
    ("UMAE Hospital de Traumatología y Ortopedia Lomas Verdes", "15"),
    ("UMAE Hospital de Especialidades CMN Occidente", "14"),
    ("UMAE Hospital de Pediatría CMN Occidente", "14"),
    ("UMAE Hospital de Gineco Obstetricia CMN Occidente", "14"),
    ("UMAE Hospital de Especialidades No. 25 Monterrey", "19"),
    ("UMAE Hospital de Cardiología No. 34 Monterrey", "19"),
    ("UMAE Hospital de Traumatología y Ortopedia No. 21 Monterrey", "19"),
    ("UMAE Hospital de Gineco Obstetricia No. 23 Monterrey", "19"),
    ("UMAE Hospital de Especialidades CMN Manuel Ávila Camacho, Puebla", "21"),
    ("UMAE Hospital de Traumatología y Ortopedia de Puebla", "21"),
    ("UMAE Hospital de Especialidades No. 14 CMN Adolfo Ruiz Cortines, Veracruz", "30"),
    ("UMAE Hospital de Especialidades No. 2 Ciudad Obregón", "26"),
    ("UMAE Hospital de Especialidades Ignacio García Téllez, Mérida", "31"),
    ("UMAE Hospital de Especialidades No. 1 CMN del Bajío, León", "11"),
    ("UMAE Hospital de Gineco Pediatría No. 48 CMN del Bajío, León", "11"),
    ("UMAE Hospital de Especialidades No. 71 Torreón", "05"),
)


def _imss() -> InstitutionSpec:
    umae = [
        UnitSpec(f"IMSS-UMAE-{i:02d}", name, "UMAE", state)
        for i, (name, state) in enumerate(_IMSS_UMAE, start=1)
    ]
    return InstitutionSpec(
        code="IMSS",
        name="Instituto Mexicano del Seguro Social",
        kind="seguridad social",
        aliases=("IMSS", "Instituto Mexicano del Seguro Social (IMSS)"),
        units=(_warehouse("IMSS", "Almacén Central IMSS"), *_imss_ooad(), *umae),
    )


# --- ISSSTE ----------------------------------------------------------------------------------

_ISSSTE_HOSPITALS: tuple[tuple[str, str], ...] = (
    ("Centro Médico Nacional 20 de Noviembre", "09"),
    ("Hospital Regional Lic. Adolfo López Mateos", "09"),
    ("Hospital Regional 1° de Octubre", "09"),
    ("Hospital Regional Gral. Ignacio Zaragoza", "09"),
    ("Hospital Regional de Alta Especialidad Centenario de la Revolución Mexicana", "17"),
    ("Hospital Regional de Alta Especialidad Bicentenario de la Independencia", "15"),
    ("Hospital Regional Valentín Gómez Farías", "14"),
    ("Hospital Regional Monterrey", "19"),
    ("Hospital Regional León", "11"),
    ("Hospital Regional Puebla", "21"),
    ("Hospital Regional Mérida", "31"),
    ("Hospital Regional Culiacán", "25"),
)


_ISSSTE_CDMX_ZONES = (("NTE", "Norte"), ("SUR", "Sur"), ("OTE", "Oriente"), ("PTE", "Poniente"))


def _issste() -> InstitutionSpec:
    offices: list[UnitSpec] = []
    for state in STATES:
        if state.code == "09":
            # The capital has four offices (zonas), not one.
            for suffix, zone in _ISSSTE_CDMX_ZONES:
                offices.append(
                    UnitSpec(
                        f"ISSSTE-OR-09{suffix}",
                        f"Oficina de Representación ISSSTE Ciudad de México Zona {zone}",
                        "unidad",
                        "09",
                    )
                )
        else:
            offices.append(
                UnitSpec(
                    f"ISSSTE-OR-{state.code}",
                    f"Oficina de Representación ISSSTE {state.short_name}",
                    "unidad",
                    state.code,
                )
            )
    hospitals = [
        UnitSpec(f"ISSSTE-HOSP-{i:02d}", name, "hospital", state)
        for i, (name, state) in enumerate(_ISSSTE_HOSPITALS, start=1)
    ]
    return InstitutionSpec(
        code="ISSSTE",
        name="Instituto de Seguridad y Servicios Sociales de los Trabajadores del Estado",
        kind="seguridad social",
        aliases=("ISSSTE",),
        units=(_warehouse("ISSSTE", "Almacén Central ISSSTE"), *hospitals, *offices),
    )


# --- IMSS-Bienestar --------------------------------------------------------------------------

_IMSS_BIENESTAR_HOSPITALS: tuple[tuple[str, str], ...] = (
    ("Hospital General de Tlaxcala", "29"),
    ("Hospital General de Acapulco", "12"),
    ("Hospital General del Estado de Sonora", "26"),
    ("Hospital General de Culiacán", "25"),
    ("Hospital General de Tijuana", "02"),
    ("Hospital General de Pachuca", "13"),
    ("Hospital General de Zacatecas", "32"),
    ("Hospital Infantil de Tamaulipas", "28"),
)


def _imss_bienestar() -> InstitutionSpec:
    entities = [
        UnitSpec(
            f"IMSSB-CE-{code}",
            f"Coordinación Estatal IMSS-Bienestar {STATES_BY_CODE[code].short_name}",
            "entidad",
            code,
        )
        for code in IMSS_BIENESTAR_STATES
    ]
    hospitals = [
        UnitSpec(f"IMSSB-HOSP-{i:02d}", name, "hospital", state)
        for i, (name, state) in enumerate(_IMSS_BIENESTAR_HOSPITALS, start=1)
    ]
    return InstitutionSpec(
        code="IMSS-BIENESTAR",
        name="Servicios de Salud del Instituto Mexicano del Seguro Social para el Bienestar",
        kind="IMSS-Bienestar",
        # INSABI bought for the states without social security until its extinction in 2023;
        # its appendix columns are IMSS-Bienestar's demand today.
        aliases=(
            "IMSS-Bienestar",
            "IMSS BIENESTAR",
            "INSABI",
            "Instituto de Salud para el Bienestar",
        ),
        units=(_warehouse("IMSSB", "Almacén Central IMSS-Bienestar"), *entities, *hospitals),
    )


# --- PEMEX, fuerzas armadas, sistema penitenciario -------------------------------------------


def _units(prefix: str, kind: UnitKind, rows: Iterable[tuple[str, str]]) -> list[UnitSpec]:
    return [
        UnitSpec(f"{prefix}-{i:02d}", name, kind, state)
        for i, (name, state) in enumerate(rows, start=1)
    ]


def _pemex() -> InstitutionSpec:
    hospitals = _units(
        "PEMEX-HOSP",
        "hospital",
        (
            ("Hospital Central Norte", "09"),
            ("Hospital Central Sur de Alta Especialidad", "09"),
            ("Hospital Regional Salamanca", "11"),
            ("Hospital Regional Minatitlán", "30"),
            ("Hospital Regional Poza Rica", "30"),
            ("Hospital Regional Ciudad Madero", "28"),
            ("Hospital Regional Reynosa", "28"),
            ("Hospital Regional Villahermosa", "27"),
        ),
    )
    return InstitutionSpec(
        code="PEMEX",
        name="Petróleos Mexicanos",
        kind="empresa productiva del Estado",
        aliases=("PEMEX", "Servicios de Salud de Petróleos Mexicanos"),
        units=(_warehouse("PEMEX", "Almacén Central de Servicios de Salud PEMEX"), *hospitals),
    )


def _sedena() -> InstitutionSpec:
    hospitals = _units(
        "SEDENA-HOSP",
        "hospital",
        (
            ("Hospital Central Militar", "09"),
            ("Hospital Militar de Especialidades de la Mujer y Neonatología", "09"),
            ("Hospital Militar Regional de Especialidades de Guadalajara", "14"),
            ("Hospital Militar Regional de Especialidades de Monterrey", "19"),
            ("Hospital Militar Regional de Especialidades de Mazatlán", "25"),
        ),
    )
    return InstitutionSpec(
        code="SEDENA",
        name="Secretaría de la Defensa Nacional",
        kind="fuerzas armadas",
        aliases=("SEDENA", "DEFENSA"),
        units=(_warehouse("SEDENA", "Almacén Central de Sanidad Militar"), *hospitals),
    )


def _semar() -> InstitutionSpec:
    hospitals = _units(
        "SEMAR-HOSP",
        "hospital",
        (
            ("Centro Médico Naval", "09"),
            ("Hospital Naval de Veracruz", "30"),
            ("Hospital Naval de Acapulco", "12"),
            ("Hospital Naval de Mazatlán", "25"),
        ),
    )
    return InstitutionSpec(
        code="SEMAR",
        name="Secretaría de Marina",
        kind="fuerzas armadas",
        aliases=("SEMAR", "MARINA"),
        units=(_warehouse("SEMAR", "Almacén Central de Sanidad Naval"), *hospitals),
    )


def _guardia_nacional() -> InstitutionSpec:
    return InstitutionSpec(
        code="GN",
        name="Guardia Nacional",
        kind="fuerzas armadas",
        aliases=("GUARDIA NACIONAL",),
        units=(
            _warehouse("GN", "Almacén Central Guardia Nacional"),
            UnitSpec("GN-SAN-09", "Unidad de Sanidad Guardia Nacional", "unidad", "09"),
        ),
    )


def _oadprs() -> InstitutionSpec:
    prisons = _units(
        "OADPRS-CEFERESO",
        "unidad",
        (
            ("CEFERESO No. 1 Altiplano", "15"),
            ("CEFERESO No. 2 Occidente", "14"),
            ("CEFERESO No. 4 Noroeste", "18"),
            ("CEFERESO No. 5 Oriente", "30"),
            ("CEFERESO No. 11 CPS Sonora", "26"),
            ("CEFERESO No. 16 CPS Femenil Morelos", "17"),
        ),
    )
    return InstitutionSpec(
        code="OADPRS",
        name="Órgano Administrativo Desconcentrado Prevención y Readaptación Social",
        kind="sistema penitenciario",
        aliases=("OADPRS", "Prevención y Readaptación Social"),
        units=(_warehouse("OADPRS", "Almacén Central OADPRS"), *prisons),
    )


# --- CCINSHAE --------------------------------------------------------------------------------

# (code, name, exact spelling in the 2023-2024 appendix or "", state, extra aliases)
_CCINSHAE: tuple[tuple[str, str, str, str, tuple[str, ...]], ...] = (
    ("INCAN", "Instituto Nacional de Cancerología", "INSTITUTO NACIONAL DE CANCEROLOGÍA", "09", ()),
    (
        "INCICH",
        "Instituto Nacional de Cardiología Ignacio Chávez",
        "INSTITUTO NACIONAL DE CARDIOLOGÍA IGNACIO CHÁVEZ",
        "09",
        ("Instituto Nacional de Cardiología",),
    ),
    (
        "INCMNSZ",
        "Instituto Nacional de Ciencias Médicas y Nutrición Salvador Zubirán",
        "INSTITUTO NACIONAL DE CIENCIAS MÉDICAS Y NUTRICIÓN SALVADOR ZUBIRÁN",
        "09",
        (),
    ),
    (
        "INER",
        "Instituto Nacional de Enfermedades Respiratorias Ismael Cosío Villegas",
        "INSTITUTO NACIONAL DE ENFERMEDADES RESPIRATORIAS ISMAEL COSÍO VILLEGAS",
        "09",
        ("Instituto Nacional de Enfermedades Respiratorias",),
    ),
    (
        "INNN",
        "Instituto Nacional de Neurología y Neurocirugía Manuel Velasco Suárez",
        "INSTITUTO NACIONAL DE NEUROLOGÍA Y NEUROCIRUGÍA MANUEL VELASCO SUÁREZ",
        "09",
        ("Instituto Nacional de Neurología y Neurocirugía",),
    ),
    ("INP", "Instituto Nacional de Pediatría", "INSTITUTO NACIONAL DE PEDIATRÍA", "09", ()),
    (
        "INPER",
        "Instituto Nacional de Perinatología Isidro Espinosa de los Reyes",
        "INSTITUTO NACIONAL DE PERINATOLOGÍA ISIDRO ESPINOSA DE LOS REYES",
        "09",
        ("Instituto Nacional de Perinatología",),
    ),
    (
        "INPRF",
        "Instituto Nacional de Psiquiatría Ramón de la Fuente Muñiz",
        "INSTITUTO NACIONAL DE PSIQUIATRÍA RAMÓN DE LA FUENTE MUÑÍZ",
        "09",
        ("Instituto Nacional de Psiquiatría",),
    ),
    (
        "INR",
        "Instituto Nacional de Rehabilitación Luis Guillermo Ibarra Ibarra",
        "INSTITUTO NACIONAL DE REHABILITACIÓN",
        "09",
        (),
    ),
    ("INGER", "Instituto Nacional de Geriatría", "", "09", ()),
    ("INMEGEN", "Instituto Nacional de Medicina Genómica", "", "09", ()),
    ("INSP", "Instituto Nacional de Salud Pública", "", "17", ()),
    (
        "HGM",
        "Hospital General de México Dr. Eduardo Liceaga",
        "HOSPITAL GENERAL DE MÉXICO",
        "09",
        (),
    ),
    (
        "HJM",
        "Hospital Juárez de México",
        "HOSPITAL JUÁREZ DE MÉXICO",
        "09",
        (),
    ),
    (
        "HIMFG",
        "Hospital Infantil de México Federico Gómez",
        "HOSPITAL INFANTIL DE MÉXICO FEDERICO GÓMEZ",
        "09",
        (),
    ),
    (
        "HGMGG",
        "Hospital General Dr. Manuel Gea González",
        "HOSPITAL GENERAL DR. MANUEL GEA GONZÁLEZ",
        "09",
        (),
    ),
    ("HMUJER", "Hospital de la Mujer", "HOSPITAL DE LA MUJER", "09", ()),
    ("HNH", "Hospital Nacional Homeopático", "HOSPITAL NACIONAL HOMEOPÁTICO", "09", ()),
    (
        "UMQJC",
        "Unidad Médico Quirúrgica Juárez Centro",
        "UNIDAD MÉDICO QUIRÚRGICA JUÁREZ CENTRO",
        "09",
        (),
    ),
    (
        "HEP",
        "Hospital de Especialidades Pediátricas",
        "HOSPITAL DE ESPECIALIDADES PEDIÁTRICAS",
        "07",
        ("Hospital de Especialidades Pediátricas de Tuxtla Gutiérrez",),
    ),
    (
        "HRAECS",
        "Hospital Regional de Alta Especialidad Ciudad Salud",
        "HOSPITAL REGIONAL DE ALTA ESPECIALIDAD CIUDAD SALUD",
        "07",
        (),
    ),
    (
        "HRAEPY",
        "Hospital Regional de Alta Especialidad de la Península de Yucatán",
        "HOSPITAL REGIONAL DE ALTA ESPECIALIDAD DE LA PENÍNSULA DE YUCATÁN",
        "31",
        (),
    ),
    (
        "HRAEO",
        "Hospital Regional de Alta Especialidad de Oaxaca",
        "HOSPITAL REGIONAL DE ALTA ESPECIALIDAD DE OAXACA",
        "20",
        (),
    ),
    (
        "HRAEB",
        "Hospital Regional de Alta Especialidad del Bajío",
        "HOSPITAL REGIONAL DE ALTA ESPECIALIDAD DEL BAJÍO",
        "11",
        (),
    ),
    (
        "HRAEV",
        "Hospital Regional de Alta Especialidad de Ciudad Victoria Bicentenario 2010",
        "HOSPITAL REGIONAL DE ALTA ESPECIALIDAD EN CD VICTORIA BICENTENARIO 2010",
        "28",
        (),
    ),
    (
        "HRAEI",
        "Hospital Regional de Alta Especialidad de Ixtapaluca",
        "HOSPITAL REGIONAL DE ALTA ESPECIALIDAD IXTAPALUCA",
        "15",
        (),
    ),
)


def _ccinshae() -> list[InstitutionSpec]:
    coordinator = InstitutionSpec(
        code="CCINSHAE",
        name="Comisión Coordinadora de Institutos Nacionales de Salud y Hospitales de Alta "
        "Especialidad",
        kind="CCINSHAE",
        aliases=("CCINSHAE",),
        units=(_warehouse("CCINSHAE", "Almacén CCINSHAE"),),
    )
    members = [
        InstitutionSpec(
            code=code,
            name=name,
            kind="CCINSHAE",
            aliases=tuple(a for a in (appendix_name, *extra) if a),
            units=(
                _warehouse(code, f"Almacén General {name}", state),
                UnitSpec(f"{code}-01", name, "hospital", state),
            ),
            coordinator="CCINSHAE",
        )
        for code, name, appendix_name, state, extra in _CCINSHAE
    ]
    return [coordinator, *members]


# --- SPPS programmes -------------------------------------------------------------------------

_SPPS: tuple[tuple[str, str, tuple[str, ...], tuple[tuple[str, UnitKind, str], ...]], ...] = (
    (
        "CENSIA",
        "Centro Nacional para la Salud de la Infancia y la Adolescencia",
        ("SPPS-CENSIA",),
        (("Programa de Vacunación Universal", "programa", "09"),),
    ),
    (
        "CENAPRECE",
        "Centro Nacional de Programas Preventivos y Control de Enfermedades",
        ("SPPS-CENAPRECE",),
        (
            ("Programa de Prevención y Control de la Tuberculosis", "programa", "09"),
            ("Programa de Enfermedades Transmitidas por Vectores", "programa", "09"),
            ("Programa de Prevención y Control de la Diabetes", "programa", "09"),
        ),
    ),
    (
        "CNEGSR",
        "Centro Nacional de Equidad de Género y Salud Reproductiva",
        ("SPPS-CNEGSR",),
        (
            ("Programa de Planificación Familiar y Anticoncepción", "programa", "09"),
            ("Programa de Salud Materna y Perinatal", "programa", "09"),
            ("Programa de Prevención y Control del Cáncer de la Mujer", "programa", "09"),
        ),
    ),
    (
        "CENSIDA",
        "Centro Nacional para la Prevención y el Control del VIH y el sida",
        ("SPPS-CENSIDA",),
        (("Programa de VIH y otras Infecciones de Transmisión Sexual", "programa", "09"),),
    ),
    (
        "SAP",
        "Servicios de Atención Psiquiátrica",
        ("SPPS-SAP",),
        (
            ("Hospital Psiquiátrico Fray Bernardino Álvarez", "hospital", "09"),
            ("Hospital Psiquiátrico Infantil Dr. Juan N. Navarro", "hospital", "09"),
            ("Hospital Psiquiátrico Dr. Samuel Ramírez Moreno", "hospital", "09"),
        ),
    ),
)


def _spps() -> list[InstitutionSpec]:
    return [
        InstitutionSpec(
            code=code,
            name=name,
            kind="programa SPPS",
            aliases=aliases,
            units=(
                _warehouse(code, f"Almacén {code}"),
                *(
                    UnitSpec(f"{code}-{i:02d}", unit_name, kind, state)
                    for i, (unit_name, kind, state) in enumerate(units, start=1)
                ),
            ),
        )
        for code, name, aliases, units in _SPPS
    ]


# --- the whole sector ------------------------------------------------------------------------

# The coordinating buyer of the consolidated purchase; it demands nothing, so it is kept apart.
BUYER = InstitutionSpec(
    code="BIRMEX",
    name="Laboratorios de Biológicos y Reactivos de México, S.A. de C.V.",
    kind="compra consolidada",
    aliases=("BIRMEX",),
    units=(_warehouse("BIRMEX", "Almacén BIRMEX"),),
)

INSTITUTIONS: tuple[InstitutionSpec, ...] = (
    _imss(),
    _issste(),
    _imss_bienestar(),
    _pemex(),
    _sedena(),
    _semar(),
    _guardia_nacional(),
    _oadprs(),
    *_ccinshae(),
    *_spps(),
)


def _few_units(units: tuple[UnitSpec, ...]) -> tuple[UnitSpec, ...]:
    """The warehouse and, taking kinds in turn, the first other units up to the small limit."""
    warehouses = [u for u in units if u.kind == "almacen"][:1]
    queues: dict[str, list[UnitSpec]] = {}
    for unit in units:
        if unit.kind != "almacen":
            queues.setdefault(unit.kind, []).append(unit)
    chosen: list[UnitSpec] = list(warehouses)
    while len(chosen) < SMALL_UNITS_PER_INSTITUTION and any(queues.values()):
        for queue in queues.values():
            if queue and len(chosen) < SMALL_UNITS_PER_INSTITUTION:
                chosen.append(queue.pop(0))
    return tuple(chosen)


def institutions(scale: Scale) -> tuple[InstitutionSpec, ...]:
    """Every institution; at "small" scale each keeps only its warehouse and a few units."""
    if scale == "national":
        return INSTITUTIONS
    return tuple(replace(i, units=_few_units(i.units)) for i in INSTITUTIONS)
