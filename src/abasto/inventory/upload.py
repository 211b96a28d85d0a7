"""A unit's daily movements or stock snapshot from a CSV or workbook: read, check, template.

Pure: values in, values out. Two layouts, told apart by their headers (one row of headers,
then one row per line; a title above the headers is fine):

* **Movements** (``Fecha, Clave, Movimiento, Lote, Caducidad, Cantidad, Motivo``): one row per
  movement of the unit. ``Movimiento`` is ``recepción``, ``inicial``, ``dispensación`` (or
  ``consumo``), ``ajuste`` or ``caducidad``. ``Cantidad`` is a whole number above zero, except
  for ``ajuste``, whose sign says whether it adds or takes. ``Lote`` may be blank for a
  dispensing (the lots are picked first to expire, first out); ``Caducidad`` is needed where a
  lot enters (recepción, inicial, ajuste). ``Motivo`` is needed for an ajuste.
* **Snapshot** (``Clave, Lote, Caducidad, Existencia``): what is on the shelves, lot by lot; each
  clave in the file is a physical count of it (its lots the file does not list go to zero).

All or nothing: every problem of the file is reported at once with its row and column, and
nothing is posted while one remains.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import date

import openpyxl

from abasto.core import numbers
from abasto.core.errors import Problem, ValidationFailed
from abasto.core.spreadsheet import (
    DAY_EXPECTED,
    Cell,
    Column,
    Header,
    find_header,
    find_headers,
    is_blank,
    parse_day,
    read_sheets,
    text,
)
from abasto.core.text import fold, neutralise_cell
from abasto.inventory.rules import MAX_LOT_CHARS, MAX_QUANTITY, Kind

MAX_UPLOAD_ROWS = 50_000
"""Rows of one upload: a large hospital's day is a few thousand dispensing lines."""

DATE = Column("date", ("Fecha",))
CLAVE = Column("clave", ("Clave", "Clave CNIS", "Clave del Compendio"))
KIND = Column("kind", ("Movimiento", "Tipo de movimiento", "Tipo"))
LOT = Column("lot", ("Lote",), required=False)
EXPIRY = Column("expiry", ("Caducidad", "Fecha de caducidad"), required=False)
QUANTITY = Column("quantity", ("Cantidad",))
REASON = Column("reason", ("Motivo",), required=False)
ON_HAND = Column("on_hand", ("Existencia", "Existencias"))
SNAPSHOT_LOT = Column("lot", ("Lote",))
SNAPSHOT_EXPIRY = Column("expiry", ("Caducidad", "Fecha de caducidad"))
MOVEMENT_COLUMNS = (DATE, CLAVE, KIND, LOT, EXPIRY, QUANTITY, REASON)
SNAPSHOT_COLUMNS = (CLAVE, SNAPSHOT_LOT, SNAPSHOT_EXPIRY, ON_HAND)

KINDS = {
    "recepcion": Kind.receipt,
    "entrada": Kind.receipt,
    "inicial": Kind.initial,
    "inventario inicial": Kind.initial,
    "dispensacion": Kind.dispense,
    "consumo": Kind.dispense,
    "salida": Kind.dispense,
    "ajuste": Kind.adjustment,
    "caducidad": Kind.expiry,
    "baja por caducidad": Kind.expiry,
}
LAYOUTS_EXPECTED = (
    "columnas Fecha, Clave, Movimiento, Lote, Caducidad, Cantidad y Motivo (movimientos), o "
    "Clave, Lote, Caducidad y Existencia (existencias)"
)
KINDS_EXPECTED = "recepción, inicial, dispensación (o consumo), ajuste o caducidad"
DATE_EXPECTED = DAY_EXPECTED


@dataclass(frozen=True, slots=True)
class MovementRow:
    sheet: str
    row: int
    day: date
    clave: str
    kind: Kind
    lot: str | None
    expiry: date | None
    quantity: int
    reason: str | None


@dataclass(frozen=True, slots=True)
class SnapshotRow:
    sheet: str
    row: int
    clave: str
    lot: str
    expiry: date
    quantity: int


def _quantity(value: Cell, *, signed: bool) -> int | None:
    if is_blank(value) or isinstance(value, bool):
        return None
    raw = "".join(value.split()).replace(",", "") if isinstance(value, str) else value
    try:
        number = numbers.whole_of(raw)
    except ValueError:
        return None
    if abs(number) > MAX_QUANTITY or number == 0 or (number < 0 and not signed):
        return None
    return number


def read(
    content: bytes, filename: str
) -> tuple[list[MovementRow], None] | tuple[None, list[SnapshotRow]]:
    """The file's movements, or its snapshot (the layout is told by its headers)."""
    sheets = read_sheets(content, filename)
    rows = sum(len(sheet.rows) for sheet in sheets)
    if rows > MAX_UPLOAD_ROWS + 50:
        raise ValidationFailed(
            f"El archivo «{filename}» tiene {rows} filas; se aceptan hasta {MAX_UPLOAD_ROWS}."
        )
    snapshot = [h for s in sheets if (h := find_header(s, SNAPSHOT_COLUMNS)) is not None]
    moves = [h for s in sheets if (h := find_header(s, MOVEMENT_COLUMNS)) is not None]
    if snapshot and moves:
        raise ValidationFailed(
            f"El archivo «{filename}» trae movimientos y existencias; suba uno por archivo.",
            expected=LAYOUTS_EXPECTED,
        )
    if snapshot:
        return None, _snapshot(snapshot)
    if moves:
        return _movements(moves), None
    find_headers(sheets, MOVEMENT_COLUMNS)  # raises, naming the missing columns
    raise AssertionError("unreachable")


def _problem(
    message: str, sheet: str, row: int, column: str, value: Cell, expected: str
) -> Problem:
    shown = None if is_blank(value) else numbers.shown(value)
    return Problem(message, sheet=sheet, row=row, column=column, value=shown, expected=expected)


def _lot(value: Cell) -> str | None:
    found = text(value)
    return found.strip() if found else None


def _movements(headers: list[Header]) -> list[MovementRow]:
    found: list[MovementRow] = []
    problems: list[Problem] = []
    for header in headers:
        name = header.sheet.name
        for number, row in header.rows():
            day_cell, kind_cell = header.value(row, "date"), header.value(row, "kind")
            clave = "".join((text(header.value(row, "clave")) or "").split())
            day = parse_day(day_cell)
            kind = KINDS.get(fold(text(kind_cell) or ""))
            lot = _lot(header.value(row, "lot"))
            expiry_cell = header.value(row, "expiry")
            expiry = parse_day(expiry_cell)
            quantity_cell = header.value(row, "quantity")
            quantity = _quantity(quantity_cell, signed=kind is Kind.adjustment)
            reason = text(header.value(row, "reason"))
            here = (name, number)
            if day is None:
                problems.append(
                    _problem("Fecha no válida.", *here, "Fecha", day_cell, DATE_EXPECTED)
                )
            if not clave:
                problems.append(_problem("Falta la clave.", *here, "Clave", None, "una clave"))
            if kind is None:
                problems.append(
                    _problem(
                        "Movimiento desconocido.", *here, "Movimiento", kind_cell, KINDS_EXPECTED
                    )
                )
            if quantity is None:
                problems.append(
                    _problem(
                        "Cantidad no válida.",
                        *here,
                        "Cantidad",
                        quantity_cell,
                        "un entero distinto de cero"
                        if kind is Kind.adjustment
                        else "un entero mayor que cero",
                    )
                )
            if lot is not None and len(lot) > MAX_LOT_CHARS:
                problems.append(
                    _problem(
                        "Lote demasiado largo.",
                        *here,
                        "Lote",
                        lot,
                        f"a lo más {MAX_LOT_CHARS} caracteres",
                    )
                )
            if kind in (Kind.receipt, Kind.initial, Kind.adjustment, Kind.expiry) and not lot:
                problems.append(_problem("Falta el lote.", *here, "Lote", None, "el lote"))
            if kind in (Kind.receipt, Kind.initial, Kind.adjustment) and expiry is None:
                problems.append(
                    _problem(
                        "Falta la caducidad o no es válida.",
                        *here,
                        "Caducidad",
                        expiry_cell,
                        DATE_EXPECTED,
                    )
                )
            if kind is Kind.adjustment and not reason:
                problems.append(
                    _problem("Un ajuste necesita su motivo.", *here, "Motivo", None, "el motivo")
                )
            if day is None or kind is None or quantity is None or not clave:
                continue
            found.append(MovementRow(name, number, day, clave, kind, lot, expiry, quantity, reason))
    _raise(problems)
    return found


def _snapshot(headers: list[Header]) -> list[SnapshotRow]:
    found: list[SnapshotRow] = []
    problems: list[Problem] = []
    for header in headers:
        name = header.sheet.name
        for number, row in header.rows():
            here = (name, number)
            clave = "".join((text(header.value(row, "clave")) or "").split())
            lot = _lot(header.value(row, "lot"))
            expiry_cell = header.value(row, "expiry")
            expiry = parse_day(expiry_cell)
            quantity_cell = header.value(row, "on_hand")
            quantity = 0 if quantity_cell in (0, "0") else _quantity(quantity_cell, signed=False)
            if not clave:
                problems.append(_problem("Falta la clave.", *here, "Clave", None, "una clave"))
            if not lot or len(lot) > MAX_LOT_CHARS:
                problems.append(
                    _problem(
                        "Lote no válido.", *here, "Lote", lot, f"de 1 a {MAX_LOT_CHARS} caracteres"
                    )
                )
            if expiry is None:
                problems.append(
                    _problem("Caducidad no válida.", *here, "Caducidad", expiry_cell, DATE_EXPECTED)
                )
            if quantity is None:
                problems.append(
                    _problem(
                        "Existencia no válida.",
                        *here,
                        "Existencia",
                        quantity_cell,
                        "un entero de 0 en adelante",
                    )
                )
            if clave and lot and expiry is not None and quantity is not None:
                found.append(SnapshotRow(name, number, clave, lot, expiry, quantity))
    _raise(problems)
    return found


def _raise(problems: list[Problem]) -> None:
    if problems:
        count = f"{len(problems)} problema" + ("s" if len(problems) != 1 else "")
        raise ValidationFailed(
            f"El archivo tiene {count}; no se registró ningún movimiento.", problems=problems[:500]
        )


LAYOUTS = ("movimientos", "existencias")


def template(layout: str) -> bytes:
    """The workbook to fill in for a layout (``movimientos`` or ``existencias``): its headers,
    example rows and a sheet that explains each column."""
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    assert sheet is not None
    if layout == "existencias":
        sheet.title = "Existencias"
        sheet.append([c.names[0] for c in SNAPSHOT_COLUMNS])
        sheet.append(["010.000.0104.00", "L-2301", "2027-06-30", 474])
    else:
        sheet.title = "Movimientos"
        sheet.append([c.names[0] for c in MOVEMENT_COLUMNS])
        sheet.append(
            ["2026-11-02", "010.000.0104.00", "recepción", "L-2301", "2027-06-30", 500, ""]
        )
        sheet.append(["2026-11-02", "010.000.0104.00", "dispensación", "", "", 24, ""])
        sheet.append(
            ["2026-11-02", "010.000.0104.00", "ajuste", "L-2301", "2027-06-30", -2, "Frasco roto"]
        )
    notes = workbook.create_sheet("Instrucciones")
    for line in (
        "Movimientos: Fecha (aaaa-mm-dd o dd/mm/aaaa, no futura); Clave del Compendio; Movimiento: "
        + KINDS_EXPECTED
        + "; Lote (en blanco en una dispensación: se toma el que caduca primero); Caducidad "
        "(obligatoria en recepción, inicial y ajuste); Cantidad entera mayor que cero (un ajuste "
        "lleva signo); Motivo (obligatorio en un ajuste).",
        "Existencias: Clave, Lote, Caducidad y Existencia por lote; cada clave del archivo se toma "
        "como un conteo físico: sus lotes que el archivo no lista quedan en cero.",
        "Un archivo trae movimientos o existencias, no ambos; también se acepta un CSV con las "
        "mismas columnas.",
        "Todo o nada: si una fila tiene un problema, no se registra ninguna y se listan todos.",
    ):
        notes.append([neutralise_cell(line)])
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()
