"""Read the SFP list of sanctioned suppliers and find registered suppliers on it.

The list is a CSV published by the Secretaría de la Función Pública; ``core.spreadsheet`` reads
it (any encoding and delimiter Mexican offices produce, or the list saved as .xlsx). Columns are
found by name, not position, so a later edition with reordered or extra columns still reads. An
import is all-or-nothing: every problem found is reported at once and nothing is returned.

Policy for the official list's own flaws (all present in the 1,504-row edition in
``data/sancionados``), chosen so the official list is never refused for them:

* **Unquoted commas.** Some free-text cells ("Hechos", "Objeto social") contain a comma but
  were not quoted, so the rest of the row slid one or two columns to the right. The piece after
  such a comma starts with a space, which no well-formed cell of the list does. When a row
  overflows past the named columns or a typed cell fails to read, those pieces are joined back
  to the cell before them; the repair is kept only if the row then reads better (nothing
  refused, fewer cells tolerated), and the record carries a note saying so.
* **Unreadable notification date** (e.g. "2006-Ju-30", where "Ju" is junio or julio): the
  date is informational, so the record keeps ``notification_date=None``, the text as published
  in ``notification_text`` (stored and shown with the sanction) and a note, rather than
  guessing a month or dropping a sanctioned supplier.
* **Unrecognised term** ("Plazo"): kept as published, ``term_months=None`` and a note.

Still refused: a missing supplier name (nothing to match), a missing or unreadable resolution
date (the sanction cannot be dated), an amount that is not a number (a fine is exact or
absent), and a row whose columns cannot be realigned. Row numbers are those a spreadsheet
shows: the header's row plus one per record, whatever line breaks quoted cells contain.
"""

from __future__ import annotations

import codecs
import datetime
import re
from collections import defaultdict
from collections.abc import Hashable, Iterable, Sequence
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import TypeVar

from abasto.core import numbers
from abasto.core.errors import Problem, ValidationFailed
from abasto.core.money import count_of
from abasto.core.spreadsheet import Cell, read_sheets
from abasto.core.spreadsheet import text as cell_text
from abasto.core.text import fold
from abasto.identity.rules import company_name_keys, is_acquittal, normalize_company_name

SupplierId = TypeVar("SupplierId", bound=Hashable)

# Enough to show what is wrong with a file without burying the reader.
MAX_PROBLEMS = 200
# Title rows may precede the header in a re-exported edition.
HEADER_SEARCH_ROWS = 20


@dataclass(frozen=True, slots=True)
class SanctionRecord:
    """One sanction as published, with the values the platform reads typed."""

    row: int
    supplier: str
    normalized_name: str
    agency: str
    file_number: str
    facts: str
    corporate_purpose: str
    resolution: str
    notification_date: datetime.date | None
    resolution_date: datetime.date
    term: str
    term_months: int | None
    amount: Decimal | None
    # The notification date as published when it is not a readable date; "" otherwise.
    notification_text: str = ""
    # Normalised keys the record matches under: the whole name, then each party of a joint bid.
    name_keys: tuple[str, ...] = ()
    # What was repaired or tolerated in this row, with the text as published.
    notes: tuple[Problem, ...] = ()

    @property
    def acquitted(self) -> bool:
        """An "absolutoria" resolution: listed, but the supplier was cleared, not sanctioned."""
        return is_acquittal(self.resolution)


@dataclass(frozen=True, slots=True)
class _Column:
    field: str
    label: str
    # Compared with the header folded and without spaces; a header matches an alias it starts
    # with, so "Plazo años - meses" is the term and "Proveedor o contratista" the supplier.
    aliases: tuple[str, ...]
    required: bool


_COLUMNS = (
    _Column(
        "supplier",
        "Proveedor",
        ("proveedor", "contratista", "razonsocial", "nombreorazonsocial", "nombredelproveedor"),
        True,
    ),
    _Column("agency", "Dependencia", ("dependencia", "institucion"), True),
    _Column(
        "file_number",
        "Número de Expediente",
        ("numerodeexpediente", "numeroexpediente", "noexpediente", "expediente"),
        True,
    ),
    _Column("facts", "Hechos", ("hechos",), False),
    _Column("corporate_purpose", "Objeto Social", ("objetosocial", "giro"), False),
    _Column("resolution", "Sentido de Resolución", ("sentido", "resolucion"), True),
    _Column(
        "notification_date",
        "Fecha de Notificación",
        ("fechadenotificacion", "fechanotificacion", "notificacion"),
        False,
    ),
    _Column(
        "resolution_date",
        "Fecha de Resolución",
        ("fechaderesolucion", "fecharesolucion"),
        True,
    ),
    _Column("term", "Plazo", ("plazo",), False),
    _Column("amount", "Monto", ("monto", "multa", "importe"), False),
)

_DATE_EXPECTED = "una fecha AAAA-MM-DD (o dd/mm/aaaa)"
_AMOUNT_EXPECTED = "un importe en pesos, p. ej. 90664 o 20,075.60, o la celda vacía"
_TERM_EXPECTED = "un plazo como «3 MESES», «1 AÑO 6 MESES» o «TRES MESES»"


def parse_sanctions(data: bytes, filename: str) -> list[SanctionRecord]:
    """Every sanction in the file, in file order, or ``ValidationFailed`` listing all problems."""
    rows, header_index, columns = _read_list(data, filename)
    header = rows[header_index]
    named_width = max(i for i, name in enumerate(header) if name.strip()) + 1
    labels = {i: name.strip() for i, name in enumerate(header)}

    records: list[SanctionRecord] = []
    problems: list[Problem] = []
    for index in range(header_index + 1, len(rows)):
        cells = rows[index]
        if not any(cell.strip() for cell in cells):
            continue
        record, row_problems = _read_record(index + 1, cells, columns, labels, named_width)
        if record is not None:
            records.append(record)
        problems.extend(row_problems)
    if problems:
        shown = problems[:MAX_PROBLEMS]
        more = f" Se muestran los primeros {len(shown)}." if len(problems) > len(shown) else ""
        raise ValidationFailed(
            f"El archivo «{filename}» tiene {count_of(len(problems), 'problema', 'problemas')}; "
            f"no se importó nada.{more}",
            problems=shown,
        )
    if not records:
        raise ValidationFailed(
            f"El archivo «{filename}» no contiene ningún registro después del encabezado.",
            expected="una fila por sanción debajo del encabezado",
        )
    return records


def find_sanctioned(
    suppliers: Iterable[tuple[SupplierId, str]], records: Iterable[SanctionRecord]
) -> dict[SupplierId, list[SanctionRecord]]:
    """The records whose listed name (or one party of it) equals each supplier's razón social
    once both are normalised; suppliers with none are left out. Acquittals are included (the
    list publishes them too); callers that flag risk skip ``record.acquitted``.
    """
    by_key: defaultdict[str, list[SanctionRecord]] = defaultdict(list)
    for record in records:
        for key in record.name_keys or (record.normalized_name,):
            by_key[key].append(record)
    found: dict[SupplierId, list[SanctionRecord]] = {}
    for supplier_id, razon_social in suppliers:
        hits = by_key.get(normalize_company_name(razon_social))
        if hits:
            found[supplier_id] = list(hits)
    return found


def _read_list(data: bytes, filename: str) -> tuple[list[list[str]], int, dict[str, int]]:
    """The rows of the sheet that holds the list, as text, its header's index and columns."""
    sheets = read_sheets(_mend_mixed_encoding(data), filename)
    refusal: ValidationFailed | None = None
    for sheet in (sheet for sheet in sheets if sheet.rows):
        rows = [[_as_text(value) for value in row] for row in sheet.rows]
        try:
            header_index, columns = _find_header(rows, filename)
        except ValidationFailed as error:
            refusal = refusal or error
            continue
        return rows, header_index, columns
    assert refusal is not None  # read_sheets refused a file without rows
    raise refusal


def _as_text(value: Cell) -> str:
    # CSV cells stay as written, leading spaces included: they mark the unquoted commas below.
    if value is None or isinstance(value, str):
        return value or ""
    return cell_text(value) or ""


def _mend_mixed_encoding(data: bytes) -> bytes:
    """UTF-8 with some lines pasted from a Windows-1252 source, re-encoded as UTF-8 throughout.

    ``read_sheets`` decodes a file with one encoding, and read whole as Windows-1252 such a file
    would turn every UTF-8 "Ó" into "Ã“". Anything else is returned unchanged.
    """
    if b"\x00" in data or data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return data
    if _is_utf8(data):
        return data
    lines = data.split(b"\n")
    if not any(not line.isascii() and _is_utf8(line) for line in lines):
        return data
    return b"\n".join(line if _is_utf8(line) else _legacy(line).encode() for line in lines)


def _is_utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _legacy(line: bytes) -> str:
    # Windows-1252 leaves five bytes undefined; Latin-1 reads any byte.
    try:
        return line.decode("cp1252")
    except UnicodeDecodeError:
        return line.decode("latin-1")


def _find_header(rows: Sequence[list[str]], filename: str) -> tuple[int, dict[str, int]]:
    best: tuple[int, dict[str, int], list[Problem]] | None = None
    for index, cells in enumerate(rows[:HEADER_SEARCH_ROWS]):
        columns, problems = _match_columns(index + 1, cells)
        if not problems:
            return index, columns
        if best is None or len(columns) > len(best[1]):
            best = (index, columns, problems)
    assert best is not None  # read_sheets refused a file without rows
    raise ValidationFailed(
        f"El archivo «{filename}» no tiene las columnas de la lista de sancionados.",
        problems=best[2],
    )


def _match_columns(row: int, cells: Sequence[str]) -> tuple[dict[str, int], list[Problem]]:
    keys = [fold(cell).replace(" ", "") for cell in cells]
    columns: dict[str, int] = {}
    problems: list[Problem] = []
    for column in _COLUMNS:
        found = [
            i
            for i, key in enumerate(keys)
            if key and any(key.startswith(alias) for alias in column.aliases)
        ]
        if len(found) > 1:
            problems.append(
                Problem(
                    message=f"Hay {len(found)} columnas que parecen «{column.label}».",
                    row=row,
                    value=", ".join(f"«{cells[i].strip()}»" for i in found),
                    expected=f"una sola columna «{column.label}»",
                )
            )
        elif found:
            columns[column.field] = found[0]
        elif column.required:
            problems.append(
                Problem(
                    message=f"Falta la columna «{column.label}».",
                    row=row,
                    expected=f"una columna «{column.label}» en el encabezado",
                )
            )
    return columns, problems


def _read_record(
    row: int,
    cells: list[str],
    columns: dict[str, int],
    labels: dict[int, str],
    named_width: int,
) -> tuple[SanctionRecord | None, list[Problem]]:
    record, problems = _build(row, cells, columns, labels)
    overflows = _overflows(cells, named_width)
    if record is not None and not overflows and not record.notes:
        return record, []
    repaired = _rejoin_unquoted_commas(cells, named_width)
    if repaired is not None:
        fixed, _ = _build(row, repaired, columns, labels)
        # Kept only when it reads strictly better: no refusals left and fewer tolerated cells.
        if fixed is not None and (
            record is None or overflows or len(fixed.notes) < len(record.notes)
        ):
            note = Problem(
                message="Fila realineada: un texto con comas sin comillas ocupaba varias "
                "columnas y se volvió a unir.",
                row=row,
                value=" | ".join(cell for cell in cells if cell.strip()),
            )
            return replace(fixed, notes=(note, *fixed.notes)), []
    if overflows:
        problems.append(
            Problem(
                message="La fila tiene más valores que columnas con encabezado.",
                row=row,
                value=" | ".join(cell for cell in cells[named_width:] if cell.strip()),
                expected="entre comillas dobles cada texto que contenga comas",
            )
        )
    return (record if not problems else None), problems


def _overflows(cells: Sequence[str], named_width: int) -> bool:
    return any(cell.strip() for cell in cells[named_width:])


def _rejoin_unquoted_commas(cells: list[str], named_width: int) -> list[str] | None:
    # The piece after an unquoted ", " starts with a space; no sound cell of the list does.
    starts = [i for i, cell in enumerate(cells) if i > 0 and cell[:1].isspace() and cell.strip()]
    if not starts:
        return None
    joined = list(cells)
    for i in reversed(starts):
        joined[i - 1] = f"{joined[i - 1]},{joined[i]}"
        del joined[i]
    if _overflows(joined, named_width):
        return None
    return joined + [""] * (len(cells) - len(joined))


def _build(
    row: int,
    cells: Sequence[str],
    columns: dict[str, int],
    labels: dict[int, str],
) -> tuple[SanctionRecord | None, list[Problem]]:
    def text(name: str) -> str:
        index = columns.get(name)
        return cells[index].strip() if index is not None and index < len(cells) else ""

    def column(name: str) -> str:
        return labels[columns[name]]

    problems: list[Problem] = []
    notes: list[Problem] = []

    supplier = text("supplier")
    if not supplier:
        problems.append(
            Problem(
                message="Falta el nombre del proveedor.",
                row=row,
                column=column("supplier"),
                expected="la razón social o el nombre de la persona sancionada",
            )
        )

    resolution_date = _parse_date(text("resolution_date"))
    if resolution_date is None:
        problems.append(
            Problem(
                message="La fecha de resolución falta o no es una fecha.",
                value=text("resolution_date"),
                expected=_DATE_EXPECTED,
                row=row,
                column=column("resolution_date"),
            )
        )

    notification_date = None
    notification_text = ""
    if "notification_date" in columns and text("notification_date"):
        notification_date = _parse_date(text("notification_date"))
        if notification_date is None:
            notification_text = text("notification_date")
            notes.append(
                Problem(
                    message="Fecha de notificación ilegible; se conserva el texto publicado.",
                    value=text("notification_date"),
                    expected=_DATE_EXPECTED,
                    row=row,
                    column=column("notification_date"),
                )
            )

    amount = None
    if "amount" in columns and text("amount"):
        amount = _parse_amount(text("amount"))
        if amount is None:
            problems.append(
                Problem(
                    message="El monto no es un número.",
                    value=text("amount"),
                    expected=_AMOUNT_EXPECTED,
                    row=row,
                    column=column("amount"),
                )
            )

    term = text("term")
    term_months = parse_term_months(term) if term else None
    if term and term_months is None:
        notes.append(
            Problem(
                message="Plazo no reconocido; se conserva el texto publicado.",
                value=term,
                expected=_TERM_EXPECTED,
                row=row,
                column=column("term"),
            )
        )

    if problems or resolution_date is None:
        return None, problems
    return (
        SanctionRecord(
            row=row,
            supplier=supplier,
            normalized_name=normalize_company_name(supplier),
            agency=text("agency"),
            file_number=text("file_number"),
            facts=text("facts"),
            corporate_purpose=text("corporate_purpose"),
            resolution=text("resolution"),
            notification_date=notification_date,
            notification_text=notification_text,
            resolution_date=resolution_date,
            term=term,
            term_months=term_months,
            amount=amount,
            name_keys=company_name_keys(supplier),
            notes=tuple(notes),
        ),
        [],
    )


_ISO_DATE = re.compile(r"(\d{4})[-/](\d{1,2})[-/](\d{1,2})(?:[ T].*)?")
_DMY_DATE = re.compile(r"(\d{1,2})[-/](\d{1,2})[-/](\d{4})(?:[ T].*)?")


def _parse_date(value: str) -> datetime.date | None:
    if match := _ISO_DATE.fullmatch(value):
        year, month, day = match.groups()
    elif match := _DMY_DATE.fullmatch(value):
        day, month, year = match.groups()
    else:
        return None
    try:
        return datetime.date(int(year), int(month), int(day))
    except ValueError:
        return None


_AMOUNT = re.compile(r"\$?\s*(\d{1,3}(?:,\d{3})+|\d+)(\.\d+)?")


def _parse_amount(value: str) -> Decimal | None:
    match = _AMOUNT.fullmatch(value.replace(" ", ""))
    if match is None:
        return None
    try:
        return numbers.decimal_of(match.group(1).replace(",", "") + (match.group(2) or ""))
    except ValueError:
        return None


_NUMBER_WORDS = {
    "un": 1,
    "uno": 1,
    "una": 1,
    "dos": 2,
    "tres": 3,
    "cuatro": 4,
    "cinco": 5,
    "seis": 6,
    "siete": 7,
    "ocho": 8,
    "nueve": 9,
    "diez": 10,
    "once": 11,
    "doce": 12,
}
_TERM_PART = re.compile(r"\b(\d+|[a-z]+) (anos?|meses|mes)\b")


def parse_term_months(term: str) -> int | None:
    """Months in a published term such as "1 AÑO 6 MESES" or "TRES MESES"; None if unclear."""
    folded = fold(term)
    parts = _TERM_PART.findall(folded)
    leftover = [word for word in _TERM_PART.sub(" ", folded).split() if word != "y"]
    if not parts or leftover:
        return None
    months = 0
    for number, unit in parts:
        count = int(number) if number.isdigit() else _NUMBER_WORDS.get(number)
        if count is None:
            return None
        months += count * 12 if unit.startswith("ano") else count
    return months
