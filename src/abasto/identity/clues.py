"""Read units from a file in the layout of the CLUES catalogue of health establishments.

The catalogue the Secretaría de Salud (DGIS) publishes has one row per establishment under
headers such as ``CLUES``, ``NOMBRE DE LA INSTITUCION``, ``NOMBRE DE LA UNIDAD``, ``ENTIDAD``,
``MUNICIPIO``, ``NOMBRE TIPOLOGIA``, ``LATITUD`` and ``LONGITUD``; case, accents and the other
spellings below are accepted. This module reads and checks the cells; the service resolves the
institutions and writes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal
from functools import lru_cache

from abasto.core.errors import Problem, ValidationFailed
from abasto.core.numbers import number_of, shown
from abasto.core.spreadsheet import Column, Header, Row, find_headers, read_sheets, text
from abasto.core.text import fold
from abasto.identity.rules import STATE_EXPECTED, parse_state

EXPECTED_FILE = (
    "el catálogo CLUES (.xlsx o .csv) con las columnas CLUES, NOMBRE DE LA INSTITUCION,"
    " NOMBRE DE LA UNIDAD y ENTIDAD (MUNICIPIO, NOMBRE TIPOLOGIA, LATITUD y LONGITUD opcionales)"
)
COLUMNS = (
    Column("clues", ("CLUES", "CLAVE CLUES", "CLAVE UNICA DE ESTABLECIMIENTOS DE SALUD")),
    Column("institution", ("NOMBRE DE LA INSTITUCION", "INSTITUCION", "NOMBRE INSTITUCION")),
    Column("institution_key", ("CLAVE DE LA INSTITUCION", "CLAVE INSTITUCION"), required=False),
    Column(
        "name",
        ("NOMBRE DE LA UNIDAD", "NOMBRE DE LA UNIDAD MEDICA", "NOMBRE UNIDAD", "UNIDAD"),
    ),
    Column("state", ("ENTIDAD", "NOMBRE DE LA ENTIDAD", "ENTIDAD FEDERATIVA")),
    Column("state_key", ("CLAVE DE LA ENTIDAD", "CLAVE ENTIDAD"), required=False),
    Column("municipality", ("MUNICIPIO", "NOMBRE DEL MUNICIPIO"), required=False),
    Column(
        "typology",
        (
            "NOMBRE TIPOLOGIA",
            "NOMBRE DE TIPOLOGIA",
            "TIPOLOGIA",
            "NOMBRE TIPO ESTABLECIMIENTO",
            "TIPO ESTABLECIMIENTO",
            "TIPO",
        ),
        required=False,
    ),
    Column("status", ("ESTATUS DE OPERACION", "ESTATUS"), required=False),
    Column("latitude", ("LATITUD",), required=False),
    Column("longitude", ("LONGITUD",), required=False),
)
CLUES_PATTERN = re.compile(r"^[A-Z]{5}\d{6}$")
CLUES_EXPECTED = "una clave CLUES: 5 letras y 6 dígitos, p. ej. DFIMS000123"
# Mexico lies within these, with a margin; 0 (or blank) is how the catalogue leaves a unit
# without coordinates.
LATITUDE = (Decimal(14), Decimal("33.5"))
LONGITUDE = (Decimal(-119), Decimal(-86))
WIDTHS = {"name": 300, "institution": 300, "municipality": 120, "typology": 150}


@dataclass(frozen=True, slots=True)
class CluesRow:
    row: int
    clues: str
    institution: str
    institution_key: str | None
    name: str
    state_code: str
    municipality: str | None
    typology: str | None
    latitude: Decimal | None
    longitude: Decimal | None
    out_of_operation: bool = False
    """The catalogue says ``FUERA DE OPERACION``: the unit is imported retired."""

    @property
    def kind(self) -> str:
        """How the unit is grouped: hospitals and warehouses apart, every other type a unit."""
        return kind_of(self.typology or self.name)


@lru_cache(maxsize=1024)
def kind_of(typology: str) -> str:
    folded = fold(typology)
    if "almacen" in folded:
        return "almacen"
    if "hospital" in folded:
        return "hospital"
    return "unidad"


def parse_units(content: bytes, filename: str) -> tuple[list[CluesRow], list[Problem]]:
    """The good rows of the file's first sheet with a CLUES header, and every problem of the
    others (the caller adds its own and refuses the file when there is any)."""
    header = find_headers(read_sheets(content, filename), COLUMNS)[0]
    rows: list[CluesRow] = []
    problems: list[Problem] = []
    first_row: dict[str, int] = {}
    for number, cells in header.rows():
        row = _row(header, number, cells, problems)
        if row is None:
            continue
        earlier = first_row.setdefault(row.clues, number)
        if earlier != number:
            problems.append(
                _problem(
                    header,
                    number,
                    "clues",
                    f"La CLUES ya está en la fila {earlier}.",
                    row.clues,
                    "cada CLUES una sola vez",
                )
            )
            continue
        rows.append(row)
    if not rows and not problems:
        raise ValidationFailed(
            f"El archivo «{filename}» no tiene ninguna unidad.", expected=EXPECTED_FILE
        )
    return rows, problems


def _problem(
    header: Header, number: int, key: str, message: str, value: object, expected: str
) -> Problem:
    index = header.index(key)
    return Problem(
        message,
        sheet=header.sheet.name,
        row=number,
        column=header.column_name(index) if index is not None else key,
        value=shown(value) if value is not None else None,
        expected=expected,
    )


def _row(header: Header, number: int, cells: Row, problems: list[Problem]) -> CluesRow | None:
    before = len(problems)

    def value(key: str) -> str | None:
        return text(header.value(cells, key))

    def required(key: str, what: str) -> str:
        found = value(key)
        if found is None:
            problems.append(_problem(header, number, key, f"Falta {what}.", None, what))
            return ""
        return found

    def bounded(key: str) -> str | None:
        found = value(key)
        most = WIDTHS[key]
        if found is not None and len(found) > most:
            problems.append(
                _problem(
                    header,
                    number,
                    key,
                    f"El texto tiene {len(found)} caracteres.",
                    found[:60],
                    f"a lo más {most} caracteres",
                )
            )
        return found

    clues = required("clues", "la clave CLUES").upper()
    if clues and not CLUES_PATTERN.match(clues):
        problems.append(
            _problem(header, number, "clues", "La CLUES no es válida.", clues, CLUES_EXPECTED)
        )
    institution = required("institution", "la institución")
    name = required("name", "el nombre de la unidad")
    bounded("name")
    bounded("institution")
    state_text = required("state", "la entidad federativa")
    state = parse_state(state_text) or parse_state(value("state_key"))
    if state_text and state is None:
        problems.append(
            _problem(
                header,
                number,
                "state",
                "La entidad federativa no existe.",
                state_text,
                STATE_EXPECTED,
            )
        )
    latitude = _coordinate(header, number, cells, "latitude", LATITUDE, problems)
    longitude = _coordinate(header, number, cells, "longitude", LONGITUDE, problems)
    municipality, typology = bounded("municipality"), bounded("typology")
    if len(problems) > before or state is None:
        return None
    return CluesRow(
        row=number,
        clues=clues,
        institution=institution,
        institution_key=value("institution_key"),
        name=name,
        state_code=state,
        municipality=municipality,
        typology=typology,
        latitude=latitude,
        longitude=longitude,
        out_of_operation=fold(value("status") or "").startswith("fuera de operacion"),
    )


def _coordinate(
    header: Header,
    number: int,
    cells: Row,
    key: str,
    bounds: tuple[Decimal, Decimal],
    problems: list[Problem],
) -> Decimal | None:
    raw = header.value(cells, key)
    if text(raw) is None:
        return None
    low, high = bounds
    expected = f"grados decimales entre {low} y {high} (o vacío)"
    try:
        found = number_of(raw if not isinstance(raw, str) else raw.replace(",", "."))
    except ValueError:
        problems.append(_problem(header, number, key, "No es un número.", raw, expected))
        return None
    if found == 0:
        return None
    if not low <= found <= high:
        problems.append(_problem(header, number, key, "Fuera de México.", raw, expected))
        return None
    return found.quantize(Decimal("0.000001"))
