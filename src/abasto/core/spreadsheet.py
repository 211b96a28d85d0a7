"""Read the tabular files officials live in (.xlsx, .csv) and find their columns by header name."""

from __future__ import annotations

import csv
import io
import re
import unicodedata
import zipfile
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, tzinfo
from decimal import Decimal
from pathlib import PurePath
from typing import Any

import openpyxl
from openpyxl.utils import column_index_from_string, get_column_letter

from abasto.core.encoding import decode_text
from abasto.core.errors import Problem, ValidationFailed
from abasto.core.money import format_int
from abasto.core.text import clean_text, fold, neutralise_cell, restore_cell

Cell = str | int | float | bool | Decimal | datetime | date | time | timedelta | None
Row = tuple[Cell, ...]
Progress = Callable[[int, int], None]
"""Called with (rows done, rows expected); the expected count is an estimate until the end."""

XLSX_MEDIA_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
SCAN_ROWS = 30
"""How many rows from the top may hold the header: titles and group rows come first."""

EXPECTED_FILE = (
    "un archivo .xlsx o .csv con una fila de encabezados y después una fila por registro"
)

# ----- limits --------------------------------------------------------------------------------
# A file of a few kilobytes can unpack into millions of rows (a "row bomb"): 92 KB took 42.6 s
# of CPU. These bound the work one upload may cost; each is checked before the work it bounds,
# and then again while reading. The real files are far below them: the 2025-2026 bid template
# has 3,904 rows, 20 columns, 78,049 cells and 3.6 MB of XML in 10 members (compressed 6:1); the
# 2023-2024 appendix has 52 columns, 1,234 rows in two sheets and compresses 7:1.
MAX_ROWS = 50_000
"""Rows of a whole workbook (every sheet, blank rows between them included) or of a CSV."""
MAX_COLUMNS = 500
"""Columns of one row: the widest real appendix has 52 (26 institutions x minimum, maximum)."""
MAX_CELLS = 1_000_000
"""Cells of a whole workbook or CSV, counted as the rows' widths (blank cells inside a row too)."""
MAX_UNPACKED_BYTES = 40 * 1024 * 1024
"""Bytes of a workbook once unpacked (every zip member), as its zip directory declares them;
Python's zipfile never yields more than declared, so the declared sizes bound the reading."""
MAX_MEMBERS = 200
"""Files inside the workbook's zip; Excel writes 10 to 20."""
MAX_RATIO = 100
"""Unpacked size over packed size of a member larger than ``_RATIO_FROM``: XML compresses
5-10 to 1, a bomb of repeated rows a thousand to 1."""
MAX_CSV_BYTES = 20 * 1024 * 1024
"""Bytes of a CSV (the request body may be larger: a workbook's packed size is bounded apart)."""
MAX_CSV_ROWS = 1_000_000
"""Rows of a CSV: the ``csv`` module reads a million short rows in about a second (openpyxl
takes 7 s for 50,000), and consumption histories are long (4 units x 1,000 claves x 25 months
is 100,000 rows)."""
MAX_CSV_CELLS = 5_000_000
"""Cells of a CSV, counted as the rows' widths."""
_RATIO_FROM = 1024 * 1024
_SCAN_CHUNK = 1024 * 1024

_ZIP_MAGIC = b"PK\x03\x04"
_OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_PDF_MAGIC = b"%PDF"
_TEXT_SUFFIXES = frozenset({".csv", ".txt", ".tsv"})
_DELIMITERS = (",", ";", "\t", "|")
_PROGRESS_EVERY = 500
# Symbols that distinguish headers ("CUCoP" vs "CUCoP +", "#" vs "%") and that fold() would erase.
_HEADER_SYMBOLS = {"+": " mas ", "#": " numero ", "%": " por ciento ", "$": " pesos "}
_TOTAL_WORDS = frozenset({"total", "totales", "subtotal", "subtotales", "suma", "sumas"})


class TooLarge(ValidationFailed):
    """A file beyond one of the limits above: refused before (or while) it is read."""

    status = 413
    title = "Archivo demasiado grande"

    def __init__(
        self, filename: str, limit: str, value: int, maximum: int, *, at_least: bool = False
    ) -> None:
        shown, most = format_int(value), format_int(maximum)
        counted = f"al menos {shown}" if at_least else shown
        super().__init__(
            f"El archivo «{filename}» excede el límite de {limit}: tiene {counted}"
            f" y el máximo es {most}.",
            problems=[
                Problem(f"demasiado grande: {limit}", value=shown, expected=f"a lo más {most}")
            ],
            expected="un archivo dentro de los límites; divídalo en varios si es necesario",
        )
        self.limit = limit
        self.value = value
        self.maximum = maximum


@dataclass(frozen=True, slots=True)
class Sheet:
    """One sheet of a file: its name and its rows, ``rows[0]`` being spreadsheet row 1."""

    name: str
    rows: tuple[Row, ...]

    def row(self, number: int) -> Row:
        """The cells of spreadsheet row ``number`` (1-based); empty beyond the last row."""
        if 1 <= number <= len(self.rows):
            return self.rows[number - 1]
        return ()


@dataclass(frozen=True, slots=True)
class Column:
    """A wanted column: the key the code uses and the header names a file may give it."""

    key: str
    names: tuple[str, ...]
    required: bool = True
    many: bool = False
    """Collect every column with one of the names (e.g. ``CANTIDAD MIN`` per institution)."""

    def accepted(self) -> str:
        """The accepted names as a person reads them: «A», «B» o «C»."""
        quoted = [f"«{name}»" for name in self.names]
        if len(quoted) == 1:
            return quoted[0]
        return ", ".join(quoted[:-1]) + " o " + quoted[-1]


@dataclass(frozen=True, slots=True)
class Header:
    """Where a sheet's header is and which column holds each wanted key.

    A header may span two rows (``Cantidad Solicitada`` above ``Mínimo``/``Máximo``); then
    ``data_start`` is two rows below ``row``. Rows above ``row`` hold group labels such as
    institution names or years; ``group`` reads them.
    """

    sheet: Sheet
    row: int
    data_start: int
    columns: Mapping[str, tuple[int, ...]]
    """Key → 0-based indexes of the matching columns, left to right; absent keys not found."""

    def index(self, key: str) -> int | None:
        """The first column of ``key``, or None when the file lacks that (optional) column."""
        found = self.columns.get(key, ())
        return found[0] if found else None

    def indexes(self, key: str) -> tuple[int, ...]:
        return self.columns.get(key, ())

    def value(self, row: Row, key: str) -> Cell:
        """The cell of ``row`` in the first column of ``key``; None when the column is absent."""
        index = self.index(key)
        return None if index is None else cell(row, index)

    @property
    def above(self) -> tuple[Row, ...]:
        """The rows above the header row, top to bottom (titles, group labels)."""
        return self.sheet.rows[: self.row - 1]

    @property
    def spans_two_rows(self) -> bool:
        return self.data_start == self.row + 2

    def column_name(self, index: int) -> str:
        """The column's header as written in the file, for messages; its letter if it has none.

        In a two-row header a sub-column reads ``Cantidad Solicitada / Mínimo``.
        """
        if self._own_row(index) > self.row:
            parent = cell(self._filled(self.row), index)
            sub = cell(self.sheet.row(self.row + 1), index)
            return " / ".join(p for p in (_label(parent), _label(sub)) if p is not None)
        name = _label(cell(self.sheet.row(self.row), index))
        return name if name is not None else f"columna {get_column_letter(index + 1)}"

    def group(self, index: int, up: int = 1) -> str | None:
        """The label ``up`` rows above the column's own header cell, merged cells filled forward.

        A merged cell keeps its value in its first cell only, so a label is taken to run right
        until the next label or the end of the header: a title above the groups therefore
        covers every column, and a column after the last group (e.g. after ``TOTAL GENERAL``)
        gets that group; ask only about columns that sit under a group.
        """
        number = self._own_row(index) - up
        return text(cell(self._filled(number), index)) if number >= 1 else None

    def _own_row(self, index: int) -> int:
        """The row of the column's own name: the second header row when it has one there."""
        if self.spans_two_rows and not is_blank(cell(self.sheet.row(self.row + 1), index)):
            return self.row + 1
        return self.row

    def _filled(self, number: int) -> Row:
        """Row ``number`` as wide as the header, merged cells filled forward."""
        width = max(len(self.sheet.row(self.row)), len(self.sheet.row(self.data_start - 1)))
        row = self.sheet.row(number)
        return fill_forward(row + (None,) * (width - len(row)))

    def rows(self) -> Iterator[tuple[int, Row]]:
        """(spreadsheet row number, cells) for every row below the header that is not blank."""
        for number in range(self.data_start, len(self.sheet.rows) + 1):
            row = self.sheet.row(number)
            if not all(is_blank(value) for value in row):
                yield number, row


# ----- cells ---------------------------------------------------------------------------------


def cell(row: Row, index: int) -> Cell:
    """The value at ``index``; None past the end (rows are trimmed of trailing empty cells)."""
    return row[index] if 0 <= index < len(row) else None


def is_blank(value: Cell) -> bool:
    """Nothing in the cell: None, or text without a letter or digit.

    A dash or a dot is how people leave a cell empty on purpose (``-`` in totals rows, ``.``
    in the last row of the 2025-2026 template).
    """
    if value is None:
        return True
    return isinstance(value, str) and not any(ch.isalnum() for ch in value)


def text(value: Cell) -> str | None:
    """The cell as trimmed single-spaced text, None when blank; integral floats lose ``.0``."""
    if is_blank(value):
        return None
    if isinstance(value, str):
        return " ".join(value.split())
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    return str(value)


DAY_EXPECTED = "una fecha aaaa-mm-dd o dd/mm/aaaa"
MOMENT_EXPECTED = (
    "una fecha, o fecha y hora: aaaa-mm-dd hh:mm o dd/mm/aaaa hh:mm (hora de la Ciudad de México)"
)
_ISO_DAY = re.compile(r"(\d{4})-(\d{1,2})-(\d{1,2})")
_DMY_DAY = re.compile(r"(\d{1,2})/(\d{1,2})/(\d{4})")
_CLOCK = re.compile(r"(\d{1,2}):(\d{2})(?::(\d{2}))?")


def parse_day(value: Cell) -> date | None:
    """A day from a cell: a date, ``aaaa-mm-dd`` or ``dd/mm/aaaa`` (es-MX); None otherwise."""
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if not isinstance(value, str):
        return None
    raw = value.strip()
    try:
        if match := _ISO_DAY.fullmatch(raw):
            return date(int(match[1]), int(match[2]), int(match[3]))
        if match := _DMY_DAY.fullmatch(raw):
            return date(int(match[3]), int(match[2]), int(match[1]))
    except ValueError:
        return None
    return None


def parse_moment(value: Cell, *, zone: tzinfo, noon: bool = True) -> datetime | None:
    """An instant from a cell, read in ``zone`` when it names none: a date and time, or a day
    alone (then its noon, or its start when not ``noon``); None when it is neither."""
    if isinstance(value, datetime):
        return value if value.tzinfo is not None else value.replace(tzinfo=zone)
    if isinstance(value, str) and len(parts := value.split()) == 2:
        day, clock = parse_day(parts[0]), _CLOCK.fullmatch(parts[1])
        if day is None or clock is None:
            return None
        try:
            at = time(int(clock[1]), int(clock[2]), int(clock[3] or 0))
        except ValueError:
            return None
        return datetime.combine(day, at, tzinfo=zone)
    day = parse_day(value)
    if day is None:
        return None
    return datetime.combine(day, time(12) if noon else time(0), tzinfo=zone)


def _label(value: Cell) -> str | None:
    """A header cell as written; unlike ``text`` it keeps a name made of a sign, such as ``#``."""
    if isinstance(value, str):
        return " ".join(value.split()) or None
    return text(value)


def fill_forward(cells: Sequence[Cell]) -> Row:
    """Each blank cell takes the nearest non-blank value to its left: how merged cells read."""
    filled: list[Cell] = []
    last: Cell = None
    for value in cells:
        if not is_blank(value):
            last = value
        filled.append(last)
    return tuple(filled)


def is_total_label(value: Cell) -> bool:
    """A label of a totals row (``Total``, ``TOTAL GENERAL``, ``Subtotal``, ``Gran total``)."""
    if not isinstance(value, str):
        return False
    words = fold(value).split()
    if words[:2] == ["gran", "total"]:
        return True
    return bool(words) and words[0] in _TOTAL_WORDS


def header_key(value: Cell) -> str:
    """The form in which two spellings of a header meet: no case, accents or spacing."""
    raw = text(value) if not isinstance(value, str) else value
    if raw is None:
        return ""
    for symbol, word in _HEADER_SYMBOLS.items():
        raw = raw.replace(symbol, word)
    return fold(raw)


# ----- reading files -------------------------------------------------------------------------


def read_sheets(
    content: bytes,
    filename: str,
    *,
    progress: Progress | None = None,
    encoding: str | None = None,
) -> tuple[Sheet, ...]:
    """Every sheet of an .xlsx workbook, or the one sheet of a .csv (named after the file).

    The format is told by the content, not the name, so a workbook saved as ``.csv`` still
    reads; anything else (a PDF, an old .xls, random bytes) is refused with what was expected,
    and so is a file beyond the limits above, before the work it would cost. A .csv is decoded
    by ``core.encoding.decode_text``: in ``encoding`` when given, else detected, and refused
    when the encoding cannot be told. A file this context already read (``read_ahead``, which
    detects the encoding) is not read again unless an encoding is named.
    """
    for ahead in _ahead.get() if encoding is None else ():
        if ahead.filename == filename and ahead.content == content:
            if ahead.error is not None:
                raise ahead.error
            if progress is not None:
                rows = sum(len(sheet.rows) for sheet in ahead.sheets)
                progress(rows, rows)
            return ahead.sheets
    if not content:
        raise ValidationFailed(f"El archivo «{filename}» está vacío", expected=EXPECTED_FILE)
    suffix = PurePath(filename).suffix.lower()
    if content.startswith(_ZIP_MAGIC):
        sheets = _read_xlsx(content, filename, progress)
    elif content.startswith(_OLE_MAGIC):
        raise ValidationFailed(
            f"El archivo «{filename}» es un libro de Excel 97-2003 (.xls), que no se puede leer;"
            " ábralo en Excel y guárdelo como .xlsx",
            expected=EXPECTED_FILE,
        )
    elif suffix in _TEXT_SUFFIXES and not content.startswith(_PDF_MAGIC):
        sheets = (_read_csv(content, filename, progress, encoding),)
    else:
        raise ValidationFailed(
            f"El archivo «{filename}» no es una hoja de cálculo", expected=EXPECTED_FILE
        )
    if not any(not is_blank(value) for sheet in sheets for row in sheet.rows for value in row):
        raise ValidationFailed(
            f"El archivo «{filename}» no tiene ninguna fila con datos", expected=EXPECTED_FILE
        )
    return sheets


@dataclass(frozen=True, slots=True)
class ReadAhead:
    """What reading a file gave: its sheets, or the user's error (a bad or too large file)."""

    content: bytes
    filename: str
    sheets: tuple[Sheet, ...] = ()
    error: ValidationFailed | None = None


_ahead: ContextVar[tuple[ReadAhead, ...]] = ContextVar("abasto_read_ahead", default=())


def read_ahead(content: bytes, filename: str) -> ReadAhead:
    """Read the file now, keeping a refusal instead of raising it (see ``keep_read``).

    The web edge reads uploads so in a worker thread before a request takes a database slot;
    the domain code that reads the same bytes later in the request then gets this outcome.
    """
    try:
        return ReadAhead(content, filename, sheets=read_sheets(content, filename))
    except ValidationFailed as exc:
        return ReadAhead(content, filename, error=exc)


def keep_read(ahead: ReadAhead) -> None:
    """Let ``read_sheets`` of the same bytes and name, in this context, answer with ``ahead``."""
    _ahead.set((*_ahead.get(), ahead))


class _Budget:
    """Counts rows and cells as they are read, and stops the read at the first limit passed."""

    def __init__(
        self, filename: str, *, max_rows: int = MAX_ROWS, max_cells: int = MAX_CELLS
    ) -> None:
        self.filename = filename
        self.max_rows = max_rows
        self.max_cells = max_cells
        self.rows = 0
        self.cells = 0

    def take(self, width: int) -> None:
        self.rows += 1
        self.cells += width
        if width > MAX_COLUMNS:
            raise TooLarge(self.filename, "columnas en una fila", width, MAX_COLUMNS)
        self.check(rows=self.rows, cells=self.cells)

    def check(self, *, rows: int, cells: int) -> None:
        if rows > self.max_rows:
            raise TooLarge(self.filename, "filas", rows, self.max_rows, at_least=True)
        if cells > self.max_cells:
            raise TooLarge(self.filename, "celdas", cells, self.max_cells, at_least=True)


def _read_xlsx(content: bytes, filename: str, progress: Progress | None) -> tuple[Sheet, ...]:
    _inspect_xlsx(content, filename)
    try:
        workbook = openpyxl.load_workbook(io.BytesIO(content), read_only=True, data_only=True)
    # openpyxl signals a damaged or foreign archive (a .docx, a truncated download) with many
    # unrelated exception types; to the user they all mean the same thing.
    except Exception as exc:
        raise _damaged(filename) from exc
    budget = _Budget(filename)
    try:
        worksheets: list[Any] = list(workbook.worksheets)
        expected = sum(ws.max_row or 0 for ws in worksheets)
        done = 0
        sheets = []
        for ws in worksheets:
            # The stored dimension is often wrong in files written by other tools; without it
            # openpyxl reads every row there is.
            ws.reset_dimensions()
            rows: list[Row] = []
            for row in _rows_of(ws, filename, budget):
                rows.append(row)
                done += 1
                if progress is not None and done % _PROGRESS_EVERY == 0:
                    progress(done, max(expected, done))
            sheets.append(Sheet(name=str(ws.title), rows=tuple(rows)))
    finally:
        workbook.close()
    if progress is not None:
        progress(done, done)
    return tuple(sheets)


def _rows_of(worksheet: Any, filename: str, budget: _Budget) -> Iterator[Row]:
    """The rows of a sheet; a damaged sheet part fails here, not in the caller's progress."""
    rows = worksheet.iter_rows(values_only=True)
    while True:
        try:
            values = next(rows)
        except StopIteration:
            return
        except Exception as exc:
            raise _damaged(filename) from exc
        budget.take(len(values))
        yield _trim(values)


# Tags as they stand in the sheet XML, with or without a namespace prefix (``<x:row>``).
_ROW_TAG = re.compile(rb"<(?:[\w.-]+:)?row(?=[\s/>])([^>]*)>")
_ROW_NUMBER = re.compile(rb'\br\s*=\s*["\'](\d+)')
_CELL_TAG = re.compile(rb"<(?:[\w.-]+:)?c(?=[\s/>])")
_DIMENSION = re.compile(
    rb"<(?:[\w.-]+:)?dimension\s[^>]*?\bref\s*=\s*[\"'][A-Z]*\d*:?([A-Z]*)(\d*)[\"']"
)


def _inspect_xlsx(content: bytes, filename: str) -> None:
    """Refuse a workbook beyond the limits from its zip directory and a count of its XML tags.

    Counting tags in the unpacked XML is a scan in C, a hundred times faster than reading the
    rows with openpyxl, so a bomb is refused in milliseconds; the read counts again as it goes,
    since tags can be written in ways a scan does not see.
    """
    try:
        archive = zipfile.ZipFile(io.BytesIO(content))
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as exc:
        raise _damaged(filename) from exc
    with archive:
        members = archive.infolist()
        if len(members) > MAX_MEMBERS:
            raise TooLarge(filename, "archivos dentro del libro", len(members), MAX_MEMBERS)
        unpacked = sum(member.file_size for member in members)
        if unpacked > MAX_UNPACKED_BYTES:
            raise TooLarge(filename, "bytes descomprimidos", unpacked, MAX_UNPACKED_BYTES)
        for member in members:
            ratio = member.file_size // max(member.compress_size, 1)
            if member.file_size > _RATIO_FROM and ratio > MAX_RATIO:
                raise TooLarge(filename, "tasa de compresión", ratio, MAX_RATIO)
        budget = _Budget(filename)
        rows = cells = 0
        for member in members:
            if not member.filename.lower().endswith(".xml"):
                continue
            try:
                rows, cells = _scan(archive, member, budget, rows, cells)
            except TooLarge:
                raise
            # A damaged member (bad CRC, unknown compression, encryption) is a damaged file.
            except Exception as exc:
                raise _damaged(filename) from exc


def _scan(
    archive: zipfile.ZipFile, member: zipfile.ZipInfo, budget: _Budget, rows: int, cells: int
) -> tuple[int, int]:
    """Rows and cells so far, with this member's: it stops as soon as a limit is passed."""
    count = highest = 0
    carry = b""
    first = True
    with archive.open(member) as stream:
        while True:
            chunk = stream.read(_SCAN_CHUNK)
            data = carry + chunk
            # Keep a tag cut by the chunk's end for the next round (a short tail only: text
            # without tags does not grow it).
            cut = data.rfind(b"<") if chunk else len(data)
            if cut < len(data) - 4096:
                cut = len(data)
            data, carry = data[:cut], data[cut:]
            if first:
                first = False
                dimension = _DIMENSION.search(data)
                if dimension is not None and dimension.group(2):
                    width = column_index_from_string(dimension.group(1).decode() or "A")
                    if width > MAX_COLUMNS:
                        raise TooLarge(budget.filename, "columnas", width, MAX_COLUMNS)
                    budget.check(rows=rows + int(dimension.group(2)), cells=0)
            for tag in _ROW_TAG.finditer(data):
                count += 1
                number = _ROW_NUMBER.search(tag.group(1))
                if number is not None:
                    highest = max(highest, int(number.group(1)))
            cells += len(_CELL_TAG.findall(data))
            budget.check(rows=rows + max(count, highest), cells=cells)
            if not chunk:
                return rows + max(count, highest), cells


def _damaged(filename: str) -> ValidationFailed:
    return ValidationFailed(
        f"El archivo «{filename}» no es un libro de Excel válido o está dañado",
        expected=EXPECTED_FILE,
    )


def _read_csv(
    content: bytes, filename: str, progress: Progress | None, encoding: str | None = None
) -> Sheet:
    if len(content) > MAX_CSV_BYTES:
        raise TooLarge(filename, "bytes del CSV", len(content), MAX_CSV_BYTES)
    not_text = ValidationFailed(
        f"El archivo «{filename}» no es un archivo de texto separado por comas",
        expected=EXPECTED_FILE,
    )
    try:
        decoded = decode_text(content, filename, encoding)
    except ValidationFailed:
        # Binary data is not a text file in an unknown encoding: say the plainer thing.
        if not _looks_like_text(content.decode("latin-1")):
            raise not_text from None
        raise
    if not _looks_like_text(decoded):
        raise not_text
    budget = _Budget(filename, max_rows=MAX_CSV_ROWS, max_cells=MAX_CSV_CELLS)
    rows: list[Row] = []
    try:
        delimiter = _sniff_delimiter(decoded)
        reader = csv.reader(io.StringIO(decoded, newline=""), delimiter=delimiter)
        for record in reader:
            budget.take(len(record))
            rows.append(_trim(tuple(value if value.strip() else None for value in record)))
    except csv.Error as exc:
        # e.g. a cell over the csv module's field limit: a malformed file, not a crash.
        raise ValidationFailed(
            f"El archivo «{filename}» no se pudo leer como CSV: {exc}", expected=EXPECTED_FILE
        ) from None
    if progress is not None:
        progress(len(rows), len(rows))
    return Sheet(name=PurePath(filename).stem or filename, rows=tuple(rows))


def _looks_like_text(decoded: str) -> bool:
    sample = decoded[:65536]
    controls = sum(
        1 for ch in sample if ch not in "\t\r\n" and unicodedata.category(ch) in ("Cc", "Cs")
    )
    return "\x00" not in sample and controls <= len(sample) // 100


def _sniff_delimiter(decoded: str) -> str:
    """The delimiter that splits the first lines into the most equal, widest rows."""
    lines = [line for line in decoded.splitlines()[:50] if line.strip()]
    sample = "\n".join(lines)
    best, best_score = ",", (0.0, 0)
    for delimiter in _DELIMITERS:
        widths = [len(record) for record in csv.reader(io.StringIO(sample), delimiter=delimiter)]
        if not widths:
            continue
        width, count = Counter(widths).most_common(1)[0]
        if width < 2:
            continue
        score = (count / len(widths), width)
        if score > best_score:
            best, best_score = delimiter, score
    return best


def _trim(values: Iterable[Any]) -> Row:
    """A row as the importers see it: text without bidi controls nor the apostrophe that
    neutralised a formula (``core.text``), no trailing blank cells."""
    row = [restore_cell(clean_text(v)) if isinstance(v, str) else v for v in values]
    while row and row[-1] is None:
        row.pop()
    return tuple(row)


# ----- finding the header --------------------------------------------------------------------


def find_header(sheet: Sheet, columns: Sequence[Column], *, scan: int = SCAN_ROWS) -> Header | None:
    """The first row within ``scan`` that has every required column, or None.

    A name not found in a row may be in the row just below it (a two-row header), but the row
    itself must hold at least one wanted name, so a row of group labels is never taken.
    """
    return _search(sheet, columns, scan)[0]


def find_headers(
    sheets: Sequence[Sheet], columns: Sequence[Column], *, scan: int = SCAN_ROWS
) -> tuple[Header, ...]:
    """The header of every sheet that has one; when none has, every sheet's missing columns."""
    headers: list[Header] = []
    problems: list[Problem] = []
    for sheet in sheets:
        header, missing = _search(sheet, columns, scan)
        if header is not None:
            headers.append(header)
        problems.extend(missing)
    if not headers:
        raise ValidationFailed(
            "No se encontró la fila de encabezados: faltan columnas obligatorias.",
            problems=problems,
        )
    return tuple(headers)


def _search(
    sheet: Sheet, columns: Sequence[Column], scan: int
) -> tuple[Header | None, list[Problem]]:
    wanted = [(column, {header_key(name) for name in column.names}) for column in columns]
    required = [column for column in columns if column.required]
    # The row that came closest, so the problems can say where the header seems to be.
    best_row, best_keys = 0, set[str]()
    for number in range(1, min(scan, len(sheet.rows)) + 1):
        found = _match(sheet.row(number), wanted)
        if not found:
            continue
        below = sheet.row(number + 1)
        from_below = {k: v for k, v in _match(below, wanted).items() if k not in found}
        found.update(from_below)
        present = {column.key for column in required if column.key in found}
        if len(present) == len(required):
            two_rows = bool(from_below) or _is_sub_header(below, found)
            header = Header(
                sheet=sheet,
                row=number,
                data_start=number + (2 if two_rows else 1),
                columns=found,
            )
            return header, []
        if len(present) > len(best_keys):
            best_row, best_keys = number, present
    where = " en la fila de encabezados" if best_row else f" en alguna de las primeras {scan} filas"
    problems = [
        Problem(
            message=f"falta la columna «{column.names[0]}»",
            sheet=sheet.name,
            row=best_row or None,
            expected=f"un encabezado {column.accepted()}{where}",
        )
        for column in required
        if column.key not in best_keys
    ]
    return None, problems


def _match(row: Row, wanted: Sequence[tuple[Column, set[str]]]) -> dict[str, tuple[int, ...]]:
    keys = [header_key(value) for value in row]
    found: dict[str, tuple[int, ...]] = {}
    for column, names in wanted:
        indexes = tuple(i for i, key in enumerate(keys) if key and key in names)
        if indexes:
            found[column.key] = indexes if column.many else indexes[:1]
    return found


def _is_sub_header(below: Row, found: Mapping[str, tuple[int, ...]]) -> bool:
    """A second header row: blank under every matched column yet holding some labels.

    The first data row always has something under the key columns (a clave, or ``Total``).
    """
    if all(is_blank(value) for value in below):
        return False
    return all(is_blank(cell(below, i)) for indexes in found.values() for i in indexes)


# ----- writing -------------------------------------------------------------------------------


UTF8_BOM = "\ufeff"
"""What every CSV Abasto writes starts with: Excel (as set up in Mexico) then reads the file as
UTF-8 and shows «Instituto», «núm.» and «Peñoles» right instead of guessing Windows-1252."""


def csv_bytes(text: str) -> bytes:
    """A whole CSV's text as the bytes of a download: UTF-8 with its BOM."""
    return (UTF8_BOM + text).encode("utf-8")


class CsvWriter:
    """``csv.writer`` whose every cell passes through ``core.text.neutralise_cell``."""

    def __init__(self, out: Any, **options: Any) -> None:
        self._writer = csv.writer(out, **options)

    def writerow(self, row: Iterable[Any]) -> Any:
        return self._writer.writerow([neutralise_cell(value) for value in row])

    def writerows(self, rows: Iterable[Iterable[Any]]) -> None:
        for row in rows:
            self.writerow(row)
