"""Turn a catalog file (claves with their descriptions) into validated rows, without a database."""

from __future__ import annotations

from dataclasses import dataclass, replace
from decimal import Decimal

from abasto.catalog.rules import Category, Clave, ClaveError, parse_clave
from abasto.core import numbers
from abasto.core.errors import Problem, ValidationFailed
from abasto.core.spreadsheet import (
    Cell,
    Column,
    Header,
    Progress,
    Row,
    find_headers,
    is_blank,
    is_total_label,
    read_sheets,
    text,
)
from abasto.core.text import fold

CLAVE = Column(
    "clave",
    (
        "Clave",
        "Claves",
        "Clave CNIS",
        "Clave del insumo",
        "Clave del Compendio",
        "Clave del cuadro básico",
    ),
)
DESCRIPTION = Column(
    "description",
    (
        "Descripción",
        "Descripción del bien ofertado",
        "Descripción del insumo",
        "Descripción de la clave",
        "Descripción del bien",
    ),
)
UNIT = Column("unit", ("UM", "Unidad de medida", "Unidad de medida (UM)"), required=False)
# "CUCoP +" (the partida-and-consecutive form 25301-1574) is another column: header matching
# keeps the "+", so it never passes for this one.
CUCOP = Column("cucop", ("CUCoP", "Clave CUCoP"), required=False)
# "Presentación ofertada" in bid templates is what a supplier offers, not the catalog's own.
PRESENTATION = Column("presentation", ("Presentación", "Presentación del insumo"), required=False)
CATALOG_COLUMNS = (CLAVE, DESCRIPTION, UNIT, CUCOP, PRESENTATION)

CUCOP_EXPECTED = "el número CUCoP, un entero como 25301574"


@dataclass(frozen=True, slots=True)
class CatalogRow:
    """One clave as a catalog file gives it, and where it was read."""

    clave: Clave
    description: str
    unit: str | None
    cucop: int | None
    presentation: str | None
    sheet: str
    row: int

    @property
    def group(self) -> str:
        return self.clave.group

    @property
    def category(self) -> Category:
        return self.clave.category

    @property
    def iva_rate(self) -> Decimal:
        return self.clave.iva_rate


@dataclass(frozen=True, slots=True)
class CatalogFile:
    """What a catalog file holds: one row per clave (the union of its sheets)."""

    filename: str
    rows: tuple[CatalogRow, ...]
    rows_read: int
    """Data rows read over all sheets; a clave listed in two sheets counts twice."""
    sheets: tuple[str, ...]
    """The sheets that had a catalog header; others (instructions, notes) were not read."""
    warnings: tuple[Problem, ...]
    """Oddities that do not stop the import (a description that is only a number)."""


def read_catalog(
    content: bytes,
    filename: str,
    *,
    progress: Progress | None = None,
    encoding: str | None = None,
) -> CatalogFile:
    """Every clave of every sheet with a catalog header; ``ValidationFailed`` lists all problems.

    Totals rows (``Total``, ``TOTAL GENERAL`` where the clave goes, or in a row without a
    clave) and rows with nothing in any catalog column are skipped. A clave may appear in
    several sheets (an appendix and its detail) if its description agrees up to case, accents,
    spacing and punctuation. ``progress`` hears (rows parsed, rows expected) while the file is
    parsed, which is nearly all the time taken; checking the rows afterwards is quick. A .csv
    is decoded in ``encoding`` when given, else as ``core.encoding`` detects it.
    """
    sheets = read_sheets(content, filename, progress=progress, encoding=encoding)
    headers = find_headers(sheets, CATALOG_COLUMNS)
    problems: list[Problem] = []
    warnings: list[Problem] = []
    rows: dict[Clave, CatalogRow] = {}
    rows_read = 0
    for header in headers:
        reader = _SheetReader(header, problems, warnings)
        for number, cells in header.rows():
            values = {column.key: header.value(cells, column.key) for column in CATALOG_COLUMNS}
            if all(is_blank(value) for value in values.values()):
                continue
            if _is_totals_row(values[CLAVE.key], cells):
                continue
            rows_read += 1
            row = reader.read(number, values)
            if row is not None:
                _merge(rows, row, header, problems)
    if problems:
        count = f"{len(problems)} problema" + ("s" if len(problems) != 1 else "")
        raise ValidationFailed(
            f"El catálogo «{filename}» tiene {count}; no se importó ninguna clave.",
            problems=problems,
        )
    return CatalogFile(
        filename=filename,
        rows=tuple(rows.values()),
        rows_read=rows_read,
        sheets=tuple(header.sheet.name for header in headers),
        warnings=tuple(warnings),
    )


def _is_totals_row(clave: Cell, cells: Row) -> bool:
    """``Total`` where the clave goes, or no clave and ``Total`` elsewhere in the row."""
    if is_total_label(clave):
        return True
    return is_blank(clave) and any(is_total_label(value) for value in cells)


class _SheetReader:
    """Validates the rows of one sheet, remembering the claves it has seen."""

    def __init__(self, header: Header, problems: list[Problem], warnings: list[Problem]) -> None:
        self.header = header
        self.problems = problems
        self.warnings = warnings
        self.seen: dict[Clave, int] = {}

    def read(self, number: int, values: dict[str, Cell]) -> CatalogRow | None:
        before = len(self.problems)
        clave = self._clave(number, values[CLAVE.key])
        description = self._description(number, values[DESCRIPTION.key])
        cucop = self._cucop(number, values[CUCOP.key])
        if clave is not None:
            first = self.seen.setdefault(clave, number)
            if first != number:
                self._problem(
                    number,
                    CLAVE.key,
                    f"la clave está repetida en esta hoja (ya aparece en la fila {first})",
                    str(clave),
                    "cada clave una sola vez por hoja",
                )
        if clave is None or description is None or len(self.problems) > before:
            return None
        return CatalogRow(
            clave=clave,
            description=description,
            unit=text(values[UNIT.key]),
            cucop=cucop,
            presentation=text(values[PRESENTATION.key]),
            sheet=self.header.sheet.name,
            row=number,
        )

    def _clave(self, number: int, value: Cell) -> Clave | None:
        try:
            return parse_clave(value)
        except ClaveError as error:
            self.problems.append(
                error.problem(sheet=self.header.sheet.name, row=number, column=self._name(CLAVE))
            )
            return None

    def _description(self, number: int, value: Cell) -> str | None:
        description = text(value)
        if description is None:
            self._problem(
                number,
                DESCRIPTION.key,
                "falta la descripción",
                None if value is None else str(value),
                "la descripción del insumo",
            )
            return None
        if not isinstance(value, str):
            # The 2025-2026 template has one (010.000.4112.00 reads "5"): worth a look, but the
            # clave itself is sound, so it does not stop the import.
            self.warnings.append(
                Problem(
                    message="la descripción es solo un número",
                    sheet=self.header.sheet.name,
                    row=number,
                    column=self._name(DESCRIPTION),
                    value=description,
                    expected="la descripción del insumo",
                )
            )
        return description

    def _cucop(self, number: int, value: Cell) -> int | None:
        if is_blank(value):
            return None
        cucop: int | None = None
        # Bounded (a CUCoP has 8 digits; the column is 64-bit): a number too long for the
        # column is refused here, not by the database, and its text is never converted.
        if isinstance(value, int) and not isinstance(value, bool) and value < 10**18:
            cucop = value
        elif isinstance(value, float) and value.is_integer() and value < 1e18:
            cucop = int(value)
        elif isinstance(value, str):
            cucop = numbers.count_of(value)
        if cucop is None or cucop <= 0:
            self._problem(
                number, CUCOP.key, "el CUCoP no es un número entero", text(value), CUCOP_EXPECTED
            )
            return None
        return cucop

    def _problem(
        self, number: int, key: str, message: str, value: str | None, expected: str
    ) -> None:
        column = next(column for column in CATALOG_COLUMNS if column.key == key)
        self.problems.append(
            Problem(
                message=message,
                sheet=self.header.sheet.name,
                row=number,
                column=self._name(column),
                value=value,
                expected=expected,
            )
        )

    def _name(self, column: Column) -> str:
        index = self.header.index(column.key)
        return column.names[0] if index is None else self.header.column_name(index)


def _merge(
    rows: dict[Clave, CatalogRow], row: CatalogRow, header: Header, problems: list[Problem]
) -> None:
    """Add a sheet's row to the union, checking it agrees with the same clave elsewhere."""
    earlier = rows.get(row.clave)
    if earlier is None:
        rows[row.clave] = row
        return
    if fold(earlier.description) != fold(row.description):
        index = header.index(DESCRIPTION.key)
        problems.append(
            Problem(
                message=(
                    f"la descripción de la clave {row.clave} no coincide con la de la hoja"
                    f" «{earlier.sheet}», fila {earlier.row}"
                ),
                sheet=row.sheet,
                row=row.row,
                column=None if index is None else header.column_name(index),
                value=row.description,
                expected=f"la misma descripción: «{earlier.description}»",
            )
        )
        return
    # The first sheet's text stands; a later sheet may only fill what the first left empty.
    rows[row.clave] = replace(
        earlier,
        unit=earlier.unit or row.unit,
        cucop=earlier.cucop if earlier.cucop is not None else row.cucop,
        presentation=earlier.presentation or row.presentation,
    )
