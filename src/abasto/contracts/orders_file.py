"""Supply orders and their deliveries from a CSV or workbook: read, check, template.

Pure: bytes in, values out. An institution's supply system (or its spreadsheet) exports what
it ordered under each contract and what arrived; ``service.import_orders`` loads it whole
through ``service.load_orders``. One row per lot received, or one row for an order that has
not received anything yet; a title above the headers is fine, and so are other columns.

| column | accepted headers | holds |
| --- | --- | --- |
| Contrato | Contrato, Número de contrato | the contract's number in Abasto |
| Orden | Orden, Folio, Folio de la orden, Número de orden | the file's own order key (1) |
| Clave | Clave, Clave CNIS, Clave del Compendio | a clave of the contract |
| Unidad | Unidad, Clave de la unidad, Punto de entrega | the delivery point's unit code |
| Cantidad | Cantidad, Cantidad solicitada | pieces ordered (whole, above zero) |
| Fecha de emisión | Fecha de emisión, Emisión | the day (and time) the order was issued |
| Fecha límite | Fecha límite, Fecha límite de entrega | the last day to deliver |
| Remisión | Remisión, Envío, Entrega | the delivery's key within the order (2) |
| Fecha de recepción | Fecha de recepción, Recepción | when the delivery was received |
| Lote, Caducidad | Lote; Caducidad, Fecha de caducidad | the lot received and its expiry |
| Aceptadas, Rechazadas | Aceptadas, Piezas aceptadas; Rechazadas, Piezas rechazadas | pieces |
| Motivo de rechazo | Motivo de rechazo, Motivo | needed when pieces were rejected |
| Registro sanitario | Registro sanitario, Registro | the lot's registro |

(1) Rows with the same contract and key are one order. (2) Blank, with the columns after it,
when nothing was received yet.

Times without a zone are Mexico City's; a day alone is its noon. The rows of one order repeat
its clave, unit, quantity and dates, and must agree. A delivery's lots share its reception.
All or nothing: every problem is reported at once with its sheet, row and column.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from datetime import date, datetime

import openpyxl

from abasto.contracts.rules import REJECTION_REASONS
from abasto.core import numbers
from abasto.core.errors import Problem, ValidationFailed
from abasto.core.money import MEXICO_CITY
from abasto.core.spreadsheet import (
    DAY_EXPECTED,
    MOMENT_EXPECTED,
    Cell,
    Column,
    Header,
    find_headers,
    is_blank,
    parse_day,
    parse_moment,
    read_sheets,
    text,
)
from abasto.core.text import fold

MAX_ROWS = 200_000
"""Rows of one file: a year of a large institution's orders, lot by lot."""
MAX_QUANTITY = 100_000_000
MAX_KEY_CHARS = 60
MAX_PROBLEMS = 50
"""A refused file lists this many problems (and counts the rest)."""

CONTRACT = Column("contract", ("Contrato", "Número de contrato"))
ORDER = Column("order", ("Orden", "Folio", "Folio de la orden", "Número de orden"))
CLAVE = Column("clave", ("Clave", "Clave CNIS", "Clave del Compendio"))
UNIT = Column("unit", ("Unidad", "Clave de la unidad", "Punto de entrega"))
QUANTITY = Column("quantity", ("Cantidad", "Cantidad solicitada"))
ISSUED = Column("issued", ("Fecha de emisión", "Emisión"))
DUE = Column("due", ("Fecha límite", "Fecha límite de entrega"))
DELIVERY = Column("delivery", ("Remisión", "Envío", "Entrega"), required=False)
RECEIVED = Column("received", ("Fecha de recepción", "Recepción"), required=False)
LOT = Column("lot", ("Lote",), required=False)
EXPIRY = Column("expiry", ("Caducidad", "Fecha de caducidad"), required=False)
ACCEPTED = Column("accepted", ("Aceptadas", "Piezas aceptadas"), required=False)
REJECTED = Column("rejected", ("Rechazadas", "Piezas rechazadas"), required=False)
REASON = Column("reason", ("Motivo de rechazo", "Motivo"), required=False)
REGISTRO = Column("registro", ("Registro sanitario", "Registro"), required=False)
COLUMNS = (
    CONTRACT,
    ORDER,
    CLAVE,
    UNIT,
    QUANTITY,
    ISSUED,
    DUE,
    DELIVERY,
    RECEIVED,
    LOT,
    EXPIRY,
    ACCEPTED,
    REJECTED,
    REASON,
    REGISTRO,
)
_DELIVERY_KEYS = ("delivery", "received", "lot", "expiry", "accepted", "rejected", "reason")
_REASONS = {fold(k): k for k in REJECTION_REASONS} | {
    fold(label): k for k, label in REJECTION_REASONS.items()
}
REASONS_EXPECTED = ", ".join(f"«{label}»" for label in REJECTION_REASONS.values())


@dataclass(frozen=True, slots=True)
class LotRow:
    """One lot of one delivery, as the file gives it."""

    row: int
    delivery: str
    received_at: datetime
    lot: str
    expiry: date
    accepted: int
    rejected: int
    reason: str | None
    registro: str


@dataclass(slots=True)
class OrderRows:
    """One order of the file: its first row and what its rows agree on, then its lots."""

    sheet: str
    row: int
    contract: str
    key: str
    clave: str
    unit: str
    quantity: int
    issued_at: datetime
    due_on: date
    lots: list[LotRow] = field(default_factory=list)


def read(content: bytes, filename: str) -> list[OrderRows]:
    """The file's orders in the order they first appear, each with its lots."""
    sheets = read_sheets(content, filename)
    rows = sum(len(sheet.rows) for sheet in sheets)
    if rows > MAX_ROWS + 50:
        raise ValidationFailed(
            f"El archivo «{filename}» tiene {numbers.shown(rows)} filas; "
            f"se aceptan hasta {MAX_ROWS:,}."
        )
    reading = _Reading()
    for header in find_headers(sheets, COLUMNS):
        for number, row in header.rows():
            reading.row(header, number, row)
    if reading.problems:
        kept = reading.problems[:MAX_PROBLEMS]
        more = len(reading.problems) - len(kept)
        raise ValidationFailed(
            f"El archivo «{filename}» tiene {len(reading.problems)} problemas"
            + (f" (se muestran {len(kept)}, faltan {more})" if more else "")
            + "; no se cargó nada.",
            problems=kept,
        )
    if not reading.orders:
        raise ValidationFailed(f"El archivo «{filename}» no tiene órdenes bajo sus encabezados.")
    return list(reading.orders.values())


class _Reading:
    def __init__(self) -> None:
        self.orders: dict[tuple[str, str], OrderRows] = {}
        self.problems: list[Problem] = []
        self.deliveries: dict[tuple[str, str, str], tuple[datetime, int]] = {}

    def bad(
        self, header: Header, number: int, key: str, value: Cell, message: str, expected: str
    ) -> None:
        index = header.index(key)
        column = header.column_name(index) if index is not None else key
        shown = None if is_blank(value) else numbers.shown(value)
        self.problems.append(
            Problem(
                message,
                sheet=header.sheet.name,
                row=number,
                column=column,
                value=shown,
                expected=expected,
            )
        )

    def key(
        self, header: Header, number: int, row: tuple[Cell, ...], key: str, what: str
    ) -> str | None:
        value = header.value(row, key)
        found = text(value)
        if found is None or len(found) > MAX_KEY_CHARS:
            self.bad(
                header,
                number,
                key,
                value,
                f"Falta {what} o es demasiado largo.",
                f"{what}, a lo más {MAX_KEY_CHARS} caracteres",
            )
            return None
        return found

    def whole(
        self, header: Header, number: int, row: tuple[Cell, ...], key: str, *, zero: bool
    ) -> int | None:
        value = header.value(row, key)
        if is_blank(value) and zero:
            return 0
        try:
            raw = "".join(value.split()).replace(",", "") if isinstance(value, str) else value
            found = None if isinstance(value, bool) else numbers.whole_of(raw)
        except ValueError:
            found = None
        least = 0 if zero else 1
        if found is None or not least <= found <= MAX_QUANTITY:
            self.bad(
                header,
                number,
                key,
                value,
                "Cantidad no válida.",
                f"un entero de {least} a {MAX_QUANTITY:,}",
            )
            return None
        return found

    def row(self, header: Header, number: int, row: tuple[Cell, ...]) -> None:
        contract = self.key(header, number, row, "contract", "el número de contrato")
        key = self.key(header, number, row, "order", "el folio de la orden")
        clave = self.key(header, number, row, "clave", "la clave")
        unit = self.key(header, number, row, "unit", "la unidad")
        quantity = self.whole(header, number, row, "quantity", zero=False)
        issued_cell, due_cell = header.value(row, "issued"), header.value(row, "due")
        issued = parse_moment(issued_cell, zone=MEXICO_CITY)
        due = parse_day(due_cell)
        if issued is None:
            self.bad(
                header,
                number,
                "issued",
                issued_cell,
                "Fecha de emisión no válida.",
                MOMENT_EXPECTED,
            )
        if due is None:
            self.bad(header, number, "due", due_cell, "Fecha límite no válida.", DAY_EXPECTED)
        if (
            contract is None
            or key is None
            or clave is None
            or unit is None
            or quantity is None
            or issued is None
            or due is None
        ):
            return
        clave = "".join(clave.split())
        order = self.orders.get((contract, key))
        if order is None:
            order = OrderRows(
                header.sheet.name, number, contract, key, clave, unit, quantity, issued, due
            )
            self.orders[(contract, key)] = order
        else:
            for name, mine, theirs in (
                ("clave", clave, order.clave),
                ("unit", unit, order.unit),
                ("quantity", quantity, order.quantity),
                ("issued", issued, order.issued_at),
                ("due", due, order.due_on),
            ):
                if mine != theirs:
                    self.bad(
                        header,
                        number,
                        name,
                        header.value(row, name),
                        f"La orden {key} del contrato {contract} dice otra cosa en la fila "
                        f"{order.row}.",
                        "lo mismo en todas las filas de una orden",
                    )
        if all(is_blank(header.value(row, k)) for k in _DELIVERY_KEYS):
            return
        lot = self.lot(header, number, row, contract, key)
        if lot is not None:
            order.lots.append(lot)

    def lot(
        self, header: Header, number: int, row: tuple[Cell, ...], contract: str, key: str
    ) -> LotRow | None:
        delivery = self.key(header, number, row, "delivery", "la remisión")
        received_cell, expiry_cell = header.value(row, "received"), header.value(row, "expiry")
        received = parse_moment(received_cell, zone=MEXICO_CITY)
        expiry = parse_day(expiry_cell)
        lot = self.key(header, number, row, "lot", "el lote")
        accepted = self.whole(header, number, row, "accepted", zero=True)
        rejected = self.whole(header, number, row, "rejected", zero=True)
        reason_cell = header.value(row, "reason")
        reason = _REASONS.get(fold(text(reason_cell) or ""))
        registro = text(header.value(row, "registro")) or ""
        if received is None:
            self.bad(
                header,
                number,
                "received",
                received_cell,
                "Fecha de recepción no válida.",
                MOMENT_EXPECTED,
            )
        if expiry is None:
            self.bad(header, number, "expiry", expiry_cell, "Caducidad no válida.", DAY_EXPECTED)
        if rejected and reason is None:
            self.bad(
                header,
                number,
                "reason",
                reason_cell,
                "Falta el motivo del rechazo o no se reconoce.",
                REASONS_EXPECTED,
            )
        if accepted is not None and rejected is not None and accepted + rejected == 0:
            self.bad(
                header,
                number,
                "accepted",
                header.value(row, "accepted"),
                "Un lote recibido trae piezas.",
                "aceptadas más rechazadas: 1 o más",
            )
            return None
        if (
            delivery is None
            or received is None
            or expiry is None
            or lot is None
            or accepted is None
            or rejected is None
            or (rejected and reason is None)
        ):
            return None
        at = (contract, key, delivery)
        first = self.deliveries.setdefault(at, (received, number))
        if first[0] != received:
            self.bad(
                header,
                number,
                "received",
                received_cell,
                f"La remisión {delivery} se recibió en otro momento en la fila {first[1]}.",
                "el mismo momento en todos los lotes de una remisión",
            )
            return None
        return LotRow(
            number,
            delivery,
            received,
            lot,
            expiry,
            accepted,
            rejected,
            reason if rejected else None,
            registro,
        )


# ----- the template --------------------------------------------------------------------------

TEMPLATE_HEADERS = (
    "Contrato",
    "Orden",
    "Clave",
    "Unidad",
    "Cantidad",
    "Fecha de emisión",
    "Fecha límite",
    "Remisión",
    "Fecha de recepción",
    "Lote",
    "Caducidad",
    "Aceptadas",
    "Rechazadas",
    "Motivo de rechazo",
    "Registro sanitario",
)


def template(contract: str = "", clave: str = "", unit: str = "") -> bytes:
    """An empty workbook with the headers, an example order (one lot received, one order
    waiting) when a contract, clave and unit are given, and a sheet explaining the columns."""
    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = "Órdenes"
    sheet.append(TEMPLATE_HEADERS)
    if contract and clave and unit:
        sheet.append(
            (
                contract,
                "OS-0001",
                clave,
                unit,
                500,
                "2026-11-02 10:00",
                "2026-11-22",
                "R-1",
                "2026-11-18 09:30",
                "L2401",
                "2028-06-30",
                480,
                20,
                REJECTION_REASONS["danado"],
                "123M2019 SSA",
            )
        )
        sheet.append((contract, "OS-0002", clave, unit, 300, "2026-11-20", "2026-12-10"))
    notes = book.create_sheet("Instrucciones")
    notes.append(("Columna", "Qué lleva"))
    for header, what in (
        ("Contrato", "El número del contrato en Abasto."),
        (
            "Orden",
            "El folio de la orden en su sistema; las filas con el mismo contrato y folio son "
            "una orden.",
        ),
        ("Clave", "Una clave del contrato."),
        ("Unidad", "La clave de la unidad, punto de entrega del contrato."),
        ("Cantidad", "Piezas solicitadas (entero mayor que cero)."),
        (
            "Fecha de emisión",
            "aaaa-mm-dd hh:mm o dd/mm/aaaa hh:mm, hora de la Ciudad de México; sin hora, "
            "el mediodía.",
        ),
        ("Fecha límite", "aaaa-mm-dd o dd/mm/aaaa."),
        (
            "Remisión",
            "La remisión de la entrega; vacía si no ha llegado nada (y vacías las columnas "
            "siguientes).",
        ),
        (
            "Fecha de recepción",
            "Cuándo se recibió; todos los lotes de una remisión, el mismo momento.",
        ),
        ("Lote, Caducidad", "El lote recibido y su caducidad."),
        ("Aceptadas, Rechazadas", "Piezas aceptadas y rechazadas del lote."),
        ("Motivo de rechazo", "Si hubo rechazadas: " + REASONS_EXPECTED + "."),
        ("Registro sanitario", "El registro sanitario del lote."),
    ):
        notes.append((header, what))
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def delivery_numbers(order: OrderRows) -> dict[str, int]:
    """Each delivery of the order numbered 1, 2, … in the order it was received (the file's
    order of rows breaks a tie)."""
    first: dict[str, tuple[datetime, int]] = {}
    for lot in order.lots:
        first.setdefault(lot.delivery, (lot.received_at, lot.row))
    ranked = sorted(first, key=lambda d: first[d])
    return {delivery: n for n, delivery in enumerate(ranked, start=1)}
