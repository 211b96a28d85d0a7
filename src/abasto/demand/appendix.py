"""Demand appendices as files: read institutions' needs, write the consolidated appendix.

Three formats: the multi-institution appendix (read, and written consolidated) and the sheet an
institution's planner downloads, fills offline and uploads back.

Everything here is pure (bytes in, values out): whether a clave is in the catalog, an institution
is registered, a minimum meets the round's share or the round is still open is for the service
to check with the rows returned, which carry the sheet, row and column names to cite.
"""

from __future__ import annotations

import io
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Any

import openpyxl
from openpyxl.cell import WriteOnlyCell
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.datavalidation import DataValidation

from abasto.catalog import reader as catalog
from abasto.catalog.rules import ClaveError, parse_clave
from abasto.core import numbers
from abasto.core.errors import Problem, ValidationFailed
from abasto.core.spreadsheet import (
    Cell,
    Column,
    Header,
    Progress,
    Row,
    cell,
    find_headers,
    is_blank,
    is_total_label,
    read_sheets,
    text,
)
from abasto.core.text import fold, neutralise_cell

# ----- columns -------------------------------------------------------------------------------

CLAVE = catalog.CLAVE
DESCRIPTION = replace(catalog.DESCRIPTION, required=False)
UNIT = catalog.UNIT
_MINIMUM_NAMES = (
    "CANTIDAD MIN",
    "Cantidad mínima",
    "Cantidad mín",
    "Cant. mín",
    "Mínimo",
    "Mínima",
    "MIN",
)
_MAXIMUM_NAMES = (
    "CANTIDAD MAX",
    "Cantidad máxima",
    "Cantidad máx",
    "Cant. máx",
    "Máximo",
    "Máxima",
    "MAX",
)
MINIMUM = Column("minimum", _MINIMUM_NAMES, many=True)
MAXIMUM = Column("maximum", _MAXIMUM_NAMES, many=True)
APPENDIX_COLUMNS = (CLAVE, DESCRIPTION, UNIT, MINIMUM, MAXIMUM)

PLANNER_CLAVE = replace(CLAVE, required=False)
INSTITUTION_CODE = Column(
    "institution_code",
    ("Clave institucional", "Código institucional", "Clave interna", "Clave propia"),
    required=False,
)
# Not "Unidad de medida" (the catalog's UM): header matching compares whole names.
UNIT_CODE = Column(
    "unit_code",
    ("Unidad", "Clave de unidad", "Clave de la unidad", "Código de unidad", "Punto de entrega"),
    required=False,
)
# Many: a sheet may hold a pair per period (the 2025-2026 template: 2025 and 2026).
PLANNER_MINIMUM = Column("minimum", _MINIMUM_NAMES, many=True)
PLANNER_MAXIMUM = Column("maximum", _MAXIMUM_NAMES, many=True)
# Written beside the quantities for the planner to compare; read only to know it is ours.
PLANNER_SUGGESTION = Column(
    "suggestion", ("Máximo sugerido (pronóstico)", "Máximo sugerido"), required=False
)
PLANNER_COLUMNS = (
    PLANNER_CLAVE,
    INSTITUTION_CODE,
    UNIT_CODE,
    DESCRIPTION,
    PLANNER_MINIMUM,
    PLANNER_MAXIMUM,
    PLANNER_SUGGESTION,
)

# ----- what is expected, as users read it ----------------------------------------------------

QUANTITY_EXPECTED = "un número entero de 0 en adelante, sin texto ni decimales (p. ej. 1200)"
PAIR_EXPECTED = "las dos cantidades, mínima y máxima, o ambas en blanco si no se requiere la clave"
ORDER_EXPECTED = "una cantidad mínima menor o igual que la cantidad máxima"
INSTITUTIONS_EXPECTED = (
    "el nombre de cada institución en la fila de arriba de su par de columnas"
    " «CANTIDAD MIN» y «CANTIDAD MAX» (p. ej. «IMSS»)"
)
IDENTIFIER_COLUMN_EXPECTED = (
    "una columna con la clave del Compendio («Clave») o con la clave institucional"
    " («Clave institucional»)"
)
IDENTIFIER_EXPECTED = (
    "la clave del Compendio o la clave institucional del insumo (al menos una de las dos)"
)

# ----- the layouts Abasto writes --------------------------------------------------------------

TOTALS_GROUP = "TOTALES"
APPENDIX_SHEET = "Demanda consolidada"
APPENDIX_HEADER = ("#", "CLAVES", "DESCRIPCIÓN", "UM")
MIN_HEADER, MAX_HEADER = "CANTIDAD MIN", "CANTIDAD MAX"
PLANNER_SHEET = "Demanda"
PLANNER_HEADER = (
    "Clave",
    "Clave institucional",
    "Unidad",
    "Descripción",
    "Cantidad mínima",
    "Cantidad máxima",
    "Máximo sugerido (pronóstico)",
)
_PLANNER_HEADER_ROW = 3

_BAD_TAB = re.compile(r"[\[\]:*?/\\]")
_THOUSANDS = re.compile(r"\d{1,3}(,\d{3})+(\.\d+)?")
_DECIMAL = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)")
_BOLD = Font(bold=True)
_HEADER_FILL = PatternFill("solid", fgColor="D9E1F2")


# ----- results -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class InstitutionColumns:
    """An institution's pair of columns in a sheet, named as problems cite them."""

    name: str
    """As written above the pair, whitespace normalised (matching it to a registered
    institution is the service's job)."""
    min_column: str
    """E.g. «IMSS — CANTIDAD MIN (columna E)»."""
    max_column: str
    period: str = ""
    """The year written between the name and the pair when the appendix states each period
    apart (IMSS over 2025 and 2026, each over its MIN/MAX); "" for the whole round."""

    @property
    def key(self) -> str:
        """How ``AppendixRow.quantities`` and ``totals`` name the pair: the name, and the
        period when there is one («IMSS · 2025»)."""
        return f"{self.name} · {self.period}" if self.period else self.name


@dataclass(frozen=True, slots=True)
class AppendixRow:
    """One clave of a sheet: what each institution asks for, and where it was read."""

    sheet: str
    row: int
    clave: str
    """Canonical form (``010.000.0104.00``); whether the catalog has it is for the service."""
    description: str | None
    unit: str | None
    quantities: dict[str, tuple[int, int]]
    """Institution name (``InstitutionColumns.key``: with the period when the file states
    periods apart) → (minimum, maximum); institutions that left both cells blank or wrote
    0 in both are absent (they do not ask for the clave: a zero cell is not a line, and a
    national appendix is mostly zeros)."""


@dataclass(frozen=True, slots=True)
class AppendixSheet:
    """A sheet with the appendix layout: its institutions, in file order, and its claves."""

    name: str
    institutions: tuple[InstitutionColumns, ...]
    rows: tuple[AppendixRow, ...]
    totals: dict[str, tuple[int, int]]
    """The file's own totals row (``Total``), per institution; empty when the sheet has none.
    Not checked against the rows: ``sums()`` gives what the rows add up to, to compare."""
    clave_column: str = "CLAVES"
    """The clave column as problems cite it, e.g. «CLAVES (columna B)»."""
    skipped: tuple[Problem, ...] = ()
    """What was not read as demand: blank rows, notes, totals, columns not understood."""

    def institution(self, key: str) -> InstitutionColumns:
        return next(columns for columns in self.institutions if columns.key == key)

    def sums(self) -> dict[str, tuple[int, int]]:
        """Per institution (and period), the sum of its minimums and maximums over the rows."""
        sums = {columns.key: [0, 0] for columns in self.institutions}
        for row in self.rows:
            for name, (low, high) in row.quantities.items():
                pair = sums[name]
                pair[0] += low
                pair[1] += high
        return {name: (low, high) for name, (low, high) in sums.items()}


@dataclass(frozen=True, slots=True)
class AppendixFile:
    """Every sheet of a file that has the appendix layout (other sheets are not read)."""

    filename: str
    sheets: tuple[AppendixSheet, ...]

    def sheet(self, name: str) -> AppendixSheet:
        return next(sheet for sheet in self.sheets if sheet.name == name)


@dataclass(frozen=True, slots=True)
class ConsolidatedRow:
    """A clave of the consolidated appendix and each institution's (minimum, maximum)."""

    clave: str
    description: str
    unit: str | None
    quantities: Mapping[str, tuple[int, int]]


@dataclass(frozen=True, slots=True)
class ConsolidatedSheet:
    """One sheet of a consolidated workbook: the appendix itself, or a coordinator's detail."""

    name: str
    """The sheet's tab: at most 31 characters, none of ``[]:*?/\\``."""
    title: str
    institutions: Sequence[str]
    rows: Sequence[ConsolidatedRow]


@dataclass(frozen=True, slots=True)
class PlannerRow:
    """A line of an institution planner's sheet.

    When read, ``sheet`` and ``row`` say where; when written they are ignored. ``unit_code``
    is "" for the institution as a whole, ``period`` "" for the whole round or the year
    written above the pair of quantities (one row per period when the sheet has several).
    Quantities are None when the planner left both blank: the line is returned all the same,
    so the service can tell "not asked for" from "not in the file".
    """

    sheet: str
    row: int
    clave: str | None
    institution_code: str | None
    unit_code: str
    description: str | None
    min_qty: int | None
    max_qty: int | None
    period: str = ""
    suggested_max: int | None = None
    """Written only: the forecast's suggested maximum, beside the quantities."""


# ----- reading an appendix -------------------------------------------------------------------


def read_appendix(
    content: bytes, filename: str, *, progress: Progress | None = None
) -> AppendixFile:
    """Every sheet with a clave column and MIN/MAX pairs under institution names.

    The header row may be anywhere in the first rows, and the institutions in any order and
    number. Totals rows (``Total``, ``TOTAL GENERAL`` where the clave goes) and totals columns
    (pairs under ``TOTAL GENERAL``, ``TOTALES``, ``TOTAL``) are not demand and are skipped;
    the totals row is kept in ``AppendixSheet.totals``. ``ValidationFailed`` lists every
    problem of the file. ``progress`` hears (rows parsed, rows expected) while the file is
    parsed, which is nearly all the time taken.
    """
    sheets = read_sheets(content, filename, progress=progress)
    headers = find_headers(sheets, APPENDIX_COLUMNS)
    problems: list[Problem] = []
    read = tuple(_read_sheet(header, problems) for header in headers)
    _raise_if_any(problems, f"El apéndice «{filename}»", "no se importó ninguna cantidad")
    return AppendixFile(filename=filename, sheets=read)


@dataclass(frozen=True, slots=True)
class _Pair:
    columns: InstitutionColumns
    low: int
    high: int


def _read_sheet(header: Header, problems: list[Problem]) -> AppendixSheet:
    sheet = header.sheet.name
    pairs = _institution_pairs(header, problems)
    skipped = _unread(header, {i for p in pairs for i in (p.low, p.high)}, APPENDIX_COLUMNS)
    clave_index = header.columns[CLAVE.key][0]
    clave_column = _cited(header, clave_index)
    description_index = header.index(DESCRIPTION.key)
    unit_index = header.index(UNIT.key)
    # Labels to the left of the first quantity: where a totals row without a clave says so.
    label_width = min((min(p.low, p.high) for p in pairs), default=clave_index + 1)
    rows: list[AppendixRow] = []
    totals: dict[str, tuple[int, int]] | None = None
    seen: dict[str, int] = {}
    for number, cells in header.rows():
        width = len(cells)
        clave_value = cells[clave_index] if clave_index < width else None
        if is_total_label(clave_value) or (
            is_blank(clave_value) and any(is_total_label(value) for value in cells[:label_width])
        ):
            label = fold(str(clave_value)) if isinstance(clave_value, str) else ""
            if totals is None and not label.startswith("sub"):
                totals = _totals(cells, pairs)
            skipped.append(_skipped_row("fila de totales: no es demanda", sheet, number, cells))
            continue
        if is_blank(clave_value) and not _has_quantities(cells, pairs):
            # A note or an empty numbered line: nothing is asked for.
            skipped.append(_skipped_row(_NO_CLAVE, sheet, number, cells))
            continue
        clave: str | None = None
        try:
            clave = parse_clave(clave_value).code
        except ClaveError as error:
            problems.append(error.problem(sheet=sheet, row=number, column=clave_column))
        quantities: dict[str, tuple[int, int]] = {}
        for pair in pairs:
            low = cells[pair.low] if pair.low < width else None
            high = cells[pair.high] if pair.high < width else None
            if low is None and high is None:
                continue
            # The common case, kept free of function calls: 480,000 cells in a big appendix.
            if type(low) is int and type(high) is int and 0 <= low <= high:
                if high:
                    quantities[pair.columns.key] = (low, high)
                continue
            checked = _read_pair(
                low,
                high,
                sheet=sheet,
                row=number,
                min_column=pair.columns.min_column,
                max_column=pair.columns.max_column,
                problems=problems,
            )
            if checked is not None and checked[1]:
                quantities[pair.columns.key] = checked
        if clave is None:
            continue
        first = seen.setdefault(clave, number)
        if first != number:
            problems.append(
                Problem(
                    message=f"la clave está repetida en esta hoja (ya aparece en la fila {first})",
                    sheet=sheet,
                    row=number,
                    column=clave_column,
                    value=clave,
                    expected="cada clave una sola vez por hoja",
                )
            )
            continue
        rows.append(
            AppendixRow(
                sheet=sheet,
                row=number,
                clave=clave,
                description=None
                if description_index is None
                else text(cell(cells, description_index)),
                unit=None if unit_index is None else text(cell(cells, unit_index)),
                quantities=quantities,
            )
        )
    return AppendixSheet(
        name=sheet,
        institutions=tuple(pair.columns for pair in pairs),
        rows=tuple(rows),
        totals=totals or {},
        clave_column=clave_column,
        skipped=tuple(skipped),
    )


def _has_quantities(cells: Row, pairs: Sequence[_Pair]) -> bool:
    return any(
        not is_blank(cell(cells, index)) for pair in pairs for index in (pair.low, pair.high)
    )


_NO_CLAVE = "fila sin clave ni cantidades: no se leyó"


def _skipped_row(message: str, sheet: str, number: int, cells: Row) -> Problem:
    shown = " ".join(t for t in (_shown(value) for value in cells) if t)
    return Problem(message, sheet=sheet, row=number, value=shown[:120] or None)


def _unread(header: Header, quantities: set[int], columns: Sequence[Column]) -> list[Problem]:
    """Notes for what a sheet's reader leaves out: columns with a header it does not read
    (one note listing them) and rows with nothing in them (one note with their numbers)."""
    sheet = header.sheet.name
    read = {header.index(c.key) for c in columns if not c.many} | quantities
    width = max(len(header.sheet.row(header.row)), len(header.sheet.row(header.data_start - 1)))
    paired = {i for c in columns if c.many for i in header.indexes(c.key)}
    unread = [
        # A MIN/MAX pair is cited with the label above it («TOTAL GENERAL — CANTIDAD MIN»).
        _cited(header, index, header.group(index) if index in paired else None)
        for index in range(width)
        if index not in read
        and header.column_name(index) != f"columna {get_column_letter(index + 1)}"
    ]
    notes: list[Problem] = []
    if unread:
        notes.append(
            Problem(
                message=f"{len(unread)} columnas no se leyeron (no son de la demanda): "
                + ", ".join(f"«{name}»" for name in unread),
                sheet=sheet,
                row=header.row,
            )
        )
    blank = [
        number
        for number in range(header.data_start, len(header.sheet.rows) + 1)
        if all(is_blank(value) for value in header.sheet.row(number))
    ]
    if blank:
        shown = ", ".join(str(number) for number in blank[:_LISTED]) + (
            ", …" if len(blank) > _LISTED else ""
        )
        one = len(blank) == 1
        what = "fila vacía o solo con signos" if one else "filas vacías o solo con signos"
        verb, rows = ("no se leyó", "fila") if one else ("no se leyeron", "filas")
        notes.append(
            Problem(
                message=f"{len(blank):,} {what} («.», «-») {verb} ({rows} {shown})",
                sheet=sheet,
            )
        )
    return notes


def _institution_pairs(header: Header, problems: list[Problem]) -> list[_Pair]:
    """The MIN/MAX pair under each institution name, in file order; totals pairs left out."""
    sheet = header.sheet.name
    kinds = sorted(
        [(index, MINIMUM.key) for index in header.indexes(MINIMUM.key)]
        + [(index, MAXIMUM.key) for index in header.indexes(MAXIMUM.key)]
    )
    first = kinds[0][0]
    groups: dict[tuple[str, str], dict[str, list[int]]] = {}
    names: dict[tuple[str, str], str] = {}
    unnamed: list[int] = []
    for index, kind in kinds:
        name = header.group(index)
        if name is None or _label_start(header, index) < first:
            # A label starting left of every quantity is a title or a note, not an institution.
            unnamed.append(index)
            continue
        period = ""
        if _YEAR.fullmatch(name):
            # A year over the pair: the institution's name is the label above it.
            period, name = name, header.group(index, 2)
            if name is None:
                unnamed.append(index)
                continue
        if is_total_label(name):
            continue
        key = (fold(name), period)
        names.setdefault(key, name)
        groups.setdefault(key, {MINIMUM.key: [], MAXIMUM.key: []})[kind].append(index)
    if not groups:
        problems.append(
            Problem(
                message="no se encontraron columnas de institución",
                sheet=sheet,
                row=header.row,
                expected=INSTITUTIONS_EXPECTED,
            )
        )
        return []
    for index in unnamed:
        problems.append(
            Problem(
                message="la columna no tiene encima el nombre de una institución",
                sheet=sheet,
                row=header.row,
                column=_cited(header, index),
                expected=INSTITUTIONS_EXPECTED,
            )
        )
    pairs: list[_Pair] = []
    for key, found in groups.items():
        name = names[key]
        lows, highs = found[MINIMUM.key], found[MAXIMUM.key]
        if len(lows) > 1 or len(highs) > 1:
            letters = [get_column_letter(i + 1) for i in sorted(lows + highs)]
            listed = ", ".join(letters[:-1]) + " y " + letters[-1]
            problems.append(
                Problem(
                    message=(
                        f"la institución «{name}» está encima de más de un par de columnas"
                        f" (columnas {listed})"
                    ),
                    sheet=sheet,
                    row=_name_row(header, lows[0] if lows else highs[0]) - 1,
                    value=name,
                    expected=INSTITUTIONS_EXPECTED + ", una sola vez",
                )
            )
            continue
        if not lows or not highs:
            present = (lows or highs)[0]
            wanted = "mínima" if not lows else "máxima"
            problems.append(
                Problem(
                    message=f"a la institución «{name}» le falta la columna de cantidad {wanted}",
                    sheet=sheet,
                    row=header.row,
                    column=_cited(header, present, name),
                    value=name,
                    expected=INSTITUTIONS_EXPECTED,
                )
            )
            continue
        cited = f"{name} {key[1]}" if key[1] else name
        columns = InstitutionColumns(
            name=name,
            min_column=_cited(header, lows[0], cited),
            max_column=_cited(header, highs[0], cited),
            period=key[1],
        )
        pairs.append(_Pair(columns=columns, low=lows[0], high=highs[0]))
    return pairs


def _cited(header: Header, index: int, institution: str | None = None) -> str:
    """A column as an official finds it: «IMSS — CANTIDAD MIN (columna E)»."""
    name = header.column_name(index)
    if institution is not None and _name_row(header, index) > header.row:
        # Under a two-row header the institution is the upper half of the name.
        name = text(cell(header.sheet.row(header.row + 1), index)) or name
    letter = f"columna {get_column_letter(index + 1)}"
    if name == letter:
        name = ""
    prefix = f"{institution} — " if institution else ""
    return f"{prefix}{name} ({letter})" if name else f"{prefix}{letter}"


def _label_start(header: Header, index: int) -> int:
    """The column where the group label over ``index`` is written (merged cells keep it in
    their first cell)."""
    row = header.sheet.row(_name_row(header, index) - 1)
    start = index
    while start > 0 and is_blank(cell(row, start)):
        start -= 1
    return start


def _name_row(header: Header, index: int) -> int:
    """The row of the column's own name: the lower one of a two-row header when it has one."""
    below = header.row + 1
    if header.spans_two_rows and not is_blank(cell(header.sheet.row(below), index)):
        return below
    return header.row


def _totals(cells: Row, pairs: Sequence[_Pair]) -> dict[str, tuple[int, int]]:
    """The totals row's numbers per institution; cells that are not quantities are left out."""
    totals: dict[str, tuple[int, int]] = {}
    for pair in pairs:
        try:
            low = parse_quantity(cell(cells, pair.low))
            high = parse_quantity(cell(cells, pair.high))
        except QuantityError:
            continue
        if low is not None and high is not None:
            totals[pair.columns.key] = (low, high)
    return totals


# ----- quantities ----------------------------------------------------------------------------


class QuantityError(ValueError):
    """A cell that is not a quantity; ``message`` is in Spanish and says why."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def parse_quantity(value: Cell) -> int | None:
    """A whole number of units from a cell, None when blank; raises ``QuantityError``.

    Integral floats (``10.0``) and numbers typed as text (``"1200"``, ``"1,200"``: CSV files
    hold nothing else) are quantities; ``2.5``, ``-3`` and ``"diez"`` are not.
    """
    if is_blank(value):
        return None
    if isinstance(value, str):
        raw = "".join(value.split())
        if _THOUSANDS.fullmatch(raw):
            raw = raw.replace(",", "")
        if not _DECIMAL.fullmatch(raw):
            raise QuantityError("la cantidad no es un número")
        value = raw
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal | str):
        raise QuantityError("la cantidad no es un número")
    try:
        # Bounded by length and exponent before conversion: int() of a long number is quadratic.
        number = numbers.number_of(value)
    except ValueError as exc:
        raise QuantityError(f"la cantidad {exc}") from None
    if number < 0:
        raise QuantityError("la cantidad es negativa")
    if number != number.to_integral_value():
        raise QuantityError("la cantidad no es un número entero")
    return int(number)


def _read_pair(
    low_value: Cell,
    high_value: Cell,
    *,
    sheet: str,
    row: int,
    min_column: str,
    max_column: str,
    problems: list[Problem],
) -> tuple[int, int] | None:
    """(minimum, maximum) when both are sound; None when both are blank or a problem was found."""
    values: list[int | None] = []
    for value, column in ((low_value, min_column), (high_value, max_column)):
        try:
            values.append(parse_quantity(value))
        except QuantityError as error:
            problems.append(
                Problem(
                    message=error.message,
                    sheet=sheet,
                    row=row,
                    column=column,
                    value=_shown(value),
                    expected=QUANTITY_EXPECTED,
                )
            )
    if len(values) < 2:
        return None
    low, high = values
    if low is None and high is None:
        return None
    if low is None or high is None:
        missing, other = ("mínima", "máxima") if low is None else ("máxima", "mínima")
        present = high if low is None else low
        problems.append(
            Problem(
                message=f"falta la cantidad {missing} (la {other} es {present:,})",
                sheet=sheet,
                row=row,
                column=min_column if low is None else max_column,
                value=None,
                expected=PAIR_EXPECTED,
            )
        )
        return None
    if low > high:
        problems.append(
            Problem(
                message=f"la cantidad mínima ({low:,}) es mayor que la máxima ({high:,})",
                sheet=sheet,
                row=row,
                column=min_column,
                value=_shown(low_value),
                expected=ORDER_EXPECTED,
            )
        )
        return None
    return low, high


def _shown(value: Cell) -> str | None:
    if isinstance(value, str):
        return " ".join(value.split()) or value
    return text(value)


def _raise_if_any(problems: Sequence[Problem], subject: str, consequence: str) -> None:
    if problems:
        count = f"{len(problems)} problema" + ("s" if len(problems) != 1 else "")
        raise ValidationFailed(f"{subject} tiene {count}; {consequence}.", problems=problems)


# ----- writing the consolidated appendix -----------------------------------------------------


def write_appendix(
    *, title: str, institutions: Sequence[str], rows: Sequence[ConsolidatedRow]
) -> bytes:
    """The consolidated appendix in the official wide layout (that of 2023-2024.xlsx).

    Row 1 the title; row 2 each institution's name above its MIN/MAX pair, then ``TOTALES``;
    row 3 the column names; row 4 the totals (``Total``, the number of claves, the sums);
    then one row per clave, in the order given. An institution that does not ask for a clave
    gets blank cells. ``read_appendix`` reads the file back to the same numbers.
    """
    sheet = ConsolidatedSheet(APPENDIX_SHEET, title, institutions, rows)
    return write_appendix_sheets([sheet])


def write_appendix_sheets(sheets: Sequence[ConsolidatedSheet]) -> bytes:
    """Several sheets in the layout of ``write_appendix`` in one workbook, in order (like
    «1 Demanda Agregada» and «1.1 Detalle CCINSHAE»)."""
    tabs = [sheet.name for sheet in sheets]
    if not tabs or len({tab.casefold() for tab in tabs}) != len(tabs):
        raise ValueError(f"sheet names must be given and distinct: {tabs}")
    bad = [tab for tab in tabs if not tab.strip() or len(tab) > 31 or _BAD_TAB.search(tab)]
    if bad:
        raise ValueError(f"not valid Excel sheet names: {bad}")
    workbook = openpyxl.Workbook(write_only=True)
    for sheet in sheets:
        _write_sheet(workbook, sheet)
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def _write_sheet(workbook: Any, sheet: ConsolidatedSheet) -> None:
    names, rows = list(sheet.institutions), sheet.rows
    _check_institutions(names, rows)
    width = len(APPENDIX_HEADER) + 2 * (len(names) + 1)
    last_row = 4 + len(rows)
    worksheet: Any = workbook.create_sheet(sheet.name)
    # A write-only sheet stores no size; a reader then parses the whole sheet once more just
    # to learn it. The size is known, so say it.
    worksheet.calculate_dimension = lambda: f"A1:{get_column_letter(width)}{last_row}"
    for index, size in enumerate((6, 18, 60, 10), start=1):
        worksheet.column_dimensions[get_column_letter(index)].width = size
    for index in range(len(APPENDIX_HEADER) + 1, width + 1):
        worksheet.column_dimensions[get_column_letter(index)].width = 14
    worksheet.freeze_panes = "E5"

    sums = [[0, 0] for _ in names]
    lines: list[list[Cell]] = []
    grand = [0, 0]
    for number, row in enumerate(rows, start=1):
        # Only the text cells can start like a formula; the rest are counts.
        line: list[Cell] = [
            number,
            neutralise_cell(row.clave),
            neutralise_cell(row.description),
            neutralise_cell(row.unit),
        ]
        low_sum = high_sum = 0
        for position, name in enumerate(names):
            pair = row.quantities.get(name)
            if pair is None:
                line += (None, None)
                continue
            low, high = pair
            if not 0 <= low <= high:
                raise ValueError(f"clave {row.clave}, {name}: not 0 ≤ min ≤ max: {pair}")
            line += (low, high)
            low_sum += low
            high_sum += high
            sums[position][0] += low
            sums[position][1] += high
        line += (low_sum, high_sum)
        grand[0] += low_sum
        grand[1] += high_sum
        lines.append(line)

    worksheet.append([_styled(worksheet, sheet.title, bold=True)])
    groups: list[Any] = [None] * len(APPENDIX_HEADER)
    for name in [*names, TOTALS_GROUP]:
        groups += (_styled(worksheet, name, bold=True, fill=True), None)
    worksheet.append(groups)
    labels = [*APPENDIX_HEADER, *(MIN_HEADER, MAX_HEADER) * (len(names) + 1)]
    worksheet.append([_styled(worksheet, label, bold=True, fill=True) for label in labels])
    totals: list[Cell] = ["-", "Total", len(rows), "-"]
    for low, high in [*sums, grand]:
        totals += (low, high)
    worksheet.append([_styled(worksheet, value, bold=True) for value in totals])
    for line in lines:
        worksheet.append(line)


def _check_institutions(names: Sequence[str], rows: Sequence[ConsolidatedRow]) -> None:
    """The caller's mistakes, which would otherwise make a file that reads back differently."""
    folded = [fold(name) for name in names]
    if len(set(folded)) != len(folded) or not all(folded):
        raise ValueError(f"institution names must be distinct and not blank: {names}")
    spaced = [name for name in names if " ".join(name.split()) != name]
    if spaced:
        raise ValueError(f"institution names would read back with their spaces trimmed: {spaced}")
    totals = [name for name in names if is_total_label(name)]
    if totals:
        raise ValueError(f"an institution named like a totals column would be skipped: {totals}")
    listed = set(names)
    for row in rows:
        unknown = row.quantities.keys() - listed
        if unknown:
            raise ValueError(f"clave {row.clave}: institutions not listed: {sorted(unknown)}")


def _styled(worksheet: Any, value: Cell, *, bold: bool = False, fill: bool = False) -> Any:
    if value is None:
        return None
    styled = WriteOnlyCell(worksheet, value=neutralise_cell(value))
    if bold:
        styled.font = _BOLD
    if fill:
        styled.fill = _HEADER_FILL
        styled.alignment = Alignment(horizontal="center", wrap_text=True)
    return styled


# ----- the institution planner's sheet -------------------------------------------------------


def write_institution_sheet(
    *, round_name: str, institution: str, rows: Sequence[PlannerRow]
) -> bytes:
    """A sheet for a planner to fill offline and upload back through ``read_institution_sheet``.

    One line per row given (its ``sheet`` and ``row`` are ignored), blank quantities where the
    row has none. Quantity cells accept only whole numbers from 0 in Excel too.
    """
    workbook = openpyxl.Workbook()
    worksheet: Any = workbook.active
    worksheet.title = PLANNER_SHEET
    worksheet.append([neutralise_cell(f"Demanda {round_name} — {institution}")])
    worksheet.append(
        [
            "Capture la cantidad mínima y la máxima de cada clave; deje las dos en blanco si"
            " no la requiere. «Unidad» en blanco: la institución en su conjunto."
            " «Máximo sugerido» es el pronóstico de Abasto según su consumo: sólo de consulta."
        ]
    )
    worksheet.append(list(PLANNER_HEADER))
    worksheet["A1"].font = Font(bold=True, size=13)
    for header_cell in worksheet[_PLANNER_HEADER_ROW]:
        header_cell.font = _BOLD
        header_cell.fill = _HEADER_FILL
    for row in rows:
        values = [
            row.clave,
            row.institution_code,
            row.unit_code or None,
            row.description,
            row.min_qty,
            row.max_qty,
            row.suggested_max,
        ]
        worksheet.append([neutralise_cell(value) for value in values])
    for index, size in enumerate((18, 20, 14, 60, 16, 16, 18), start=1):
        worksheet.column_dimensions[get_column_letter(index)].width = size
    # Codes typed in new lines stay text: Excel would drop an institutional code's leading zeros.
    for letter in "ABC":
        worksheet.column_dimensions[letter].number_format = "@"
    worksheet.freeze_panes = f"A{_PLANNER_HEADER_ROW + 1}"
    whole = DataValidation(
        type="whole",
        operator="greaterThanOrEqual",
        formula1="0",
        allow_blank=True,
        showErrorMessage=True,
        errorTitle="Cantidad no válida",
        error="Capture un número entero de 0 en adelante, o deje la celda en blanco.",
    )
    whole.add(f"E{_PLANNER_HEADER_ROW + 1}:F{_PLANNER_HEADER_ROW + max(len(rows), 1) + 1000}")
    worksheet.add_data_validation(whole)
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def read_institution_sheet(
    content: bytes, filename: str, *, skipped: list[Problem] | None = None
) -> tuple[PlannerRow, ...]:
    """The lines of a planner's sheet, from every sheet with its header; ``ValidationFailed``
    lists every problem.

    Lines with both quantities blank are returned with None quantities (the service decides
    what an emptied line means); lines with neither clave nor institutional code nor
    quantities (notes, blank lines) are skipped. A pair of quantities under a year (``2025``
    above «Cantidad Solicitada / Mínimo, Máximo») is that period's; pairs under another label
    (``Importe total``) are not quantities. Each clave (or institutional code) may appear
    once per unit and period in the whole file. The description is returned as written, not
    checked. What is not read (blank rows, notes, totals, columns not understood) is added to
    ``skipped``, one note each, so the caller can say it.
    """
    sheets = read_sheets(content, filename)
    headers = find_headers(sheets, PLANNER_COLUMNS)
    problems: list[Problem] = []
    rows: list[PlannerRow] = []
    seen: dict[tuple[str, str, str], tuple[str, int]] = {}
    notes = skipped if skipped is not None else []
    for header in headers:
        rows.extend(_read_planner_sheet(header, problems, seen, notes))
    _raise_if_any(problems, f"El archivo «{filename}»", "no se importó ninguna cantidad")
    return tuple(rows)


_LISTED = 10
"""Row numbers a note lists before «…»."""
_YEAR = re.compile(r"(19|20)\d\d")
_QUANTITY_GROUP = "cantidad"


@dataclass(frozen=True, slots=True)
class _PeriodPair:
    period: str
    low: int
    high: int
    min_column: str
    max_column: str


def _period_of(header: Header, index: int) -> str:
    """The year written above the column (merged cells filled forward), or "" if none."""
    for up in range(1, _name_row(header, index)):
        label = header.group(index, up)
        if label is not None and _YEAR.fullmatch(label):
            return label
    return ""


def _is_quantity(header: Header, index: int) -> bool:
    """A MIN/MAX column under «Cantidad …» (or under nothing), not under «Importe total»."""
    if _name_row(header, index) == header.row:
        return True
    parent = header.group(index)  # the header row's label over this sub-column
    return parent is None or _QUANTITY_GROUP in fold(parent)


def _period_pairs(header: Header, problems: list[Problem]) -> list[_PeriodPair]:
    """The pair of quantity columns of each period, in file order; other pairs are noted."""
    sheet = header.sheet.name
    found: dict[str, dict[str, list[int]]] = {}
    for key in (PLANNER_MINIMUM.key, PLANNER_MAXIMUM.key):
        for index in header.indexes(key):
            if not _is_quantity(header, index):
                continue
            found.setdefault(
                _period_of(header, index), {PLANNER_MINIMUM.key: [], PLANNER_MAXIMUM.key: []}
            )[key].append(index)
    pairs: list[_PeriodPair] = []
    for period, sides in found.items():
        lows, highs = sides[PLANNER_MINIMUM.key], sides[PLANNER_MAXIMUM.key]
        named = f"del periodo {period}" if period else "de la ronda"
        if len(lows) != 1 or len(highs) != 1:
            problems.append(
                Problem(
                    message=f"se esperaba un par de columnas mínima y máxima {named}; hay"
                    f" {len(lows)} de mínima y {len(highs)} de máxima",
                    sheet=sheet,
                    row=header.row,
                    value=period or None,
                    expected="una columna «Cantidad mínima» y una «Cantidad máxima» por periodo,"
                    " con el año encima si hay más de un periodo",
                )
            )
            continue
        pairs.append(
            _PeriodPair(
                period,
                lows[0],
                highs[0],
                _cited(header, lows[0]),
                _cited(header, highs[0]),
            )
        )
    if not found:
        problems.append(
            Problem(
                message="ninguna columna de cantidad mínima y máxima es de cantidades",
                sheet=sheet,
                row=header.row,
                expected="las columnas «Cantidad mínima» y «Cantidad máxima» (bajo «Cantidad"
                " Solicitada» si el encabezado ocupa dos filas)",
            )
        )
    return pairs


def _read_planner_sheet(
    header: Header,
    problems: list[Problem],
    seen: dict[tuple[str, str, str], tuple[str, int]],
    skipped: list[Problem],
) -> list[PlannerRow]:
    sheet = header.sheet.name
    clave_index = header.index(PLANNER_CLAVE.key)
    code_index = header.index(INSTITUTION_CODE.key)
    if clave_index is None and code_index is None:
        problems.append(
            Problem(
                message="falta la columna «Clave» o «Clave institucional»",
                sheet=sheet,
                row=header.row,
                expected=IDENTIFIER_COLUMN_EXPECTED,
            )
        )
        return []
    clave_column = None if clave_index is None else _cited(header, clave_index)
    code_column = None if code_index is None else _cited(header, code_index)
    identifier_column = clave_column or code_column
    pairs = _period_pairs(header, problems)
    skipped.extend(_unread(header, {i for p in pairs for i in (p.low, p.high)}, PLANNER_COLUMNS))
    rows: list[PlannerRow] = []
    for number, cells in header.rows():
        clave_value = header.value(cells, PLANNER_CLAVE.key)
        code = text(header.value(cells, INSTITUTION_CODE.key))
        values = [(cell(cells, pair.low), cell(cells, pair.high)) for pair in pairs]
        if is_total_label(clave_value) or is_total_label(code):
            skipped.append(_skipped_row("fila de totales: no es demanda", sheet, number, cells))
            continue
        if is_blank(clave_value) and code is None:
            if all(is_blank(low) and is_blank(high) for low, high in values):
                skipped.append(_skipped_row(_NO_CLAVE, sheet, number, cells))
                continue  # a note, or a line left empty
            problems.append(
                Problem(
                    message="falta la clave",
                    sheet=sheet,
                    row=number,
                    column=identifier_column,
                    expected=IDENTIFIER_EXPECTED,
                )
            )
        clave: str | None = None
        if not is_blank(clave_value):
            try:
                clave = parse_clave(clave_value).code
            except ClaveError as error:
                problems.append(error.problem(sheet=sheet, row=number, column=clave_column))
        unit_code = text(header.value(cells, UNIT_CODE.key)) or ""
        identifier = ("clave", clave) if clave is not None else ("institucional", code)
        if identifier[1] is not None:
            key = (identifier[0], identifier[1], unit_code)
            first = seen.setdefault(key, (sheet, number))
            if first != (sheet, number):
                where = f"la fila {first[1]}" + (
                    f" de la hoja «{first[0]}»" if first[0] != sheet else ""
                )
                unit = f"la unidad «{unit_code}»" if unit_code else "toda la institución"
                problems.append(
                    Problem(
                        message=f"la clave está repetida para {unit} (ya aparece en {where})",
                        sheet=sheet,
                        row=number,
                        column=clave_column if clave is not None else code_column,
                        value=identifier[1],
                        expected="cada clave una sola vez por unidad",
                    )
                )
        for pair, (low_value, high_value) in zip(pairs, values, strict=True):
            quantities = _read_pair(
                low_value,
                high_value,
                sheet=sheet,
                row=number,
                min_column=pair.min_column,
                max_column=pair.max_column,
                problems=problems,
            )
            rows.append(
                PlannerRow(
                    sheet=sheet,
                    row=number,
                    clave=clave,
                    institution_code=code,
                    unit_code=unit_code,
                    description=text(header.value(cells, DESCRIPTION.key)),
                    min_qty=None if quantities is None else quantities[0],
                    max_qty=None if quantities is None else quantities[1],
                    period=pair.period,
                )
            )
    return rows
