"""The bid template spreadsheet: written per tender, read back with the supplier's prices.

The layout is the official one of the 2025–2026 consolidated purchase (``No. Partida``,
``Clave``, ``CUCoP``, description, ``Presentación ofertada``, ``Cantidad Solicitada`` per year,
``Registro Sanitario``, ``Fabricante del bien``, ``Precio Unitario``…), with two more columns
Abasto needs: ``Cantidad ofertada`` and ``País de origen``. A row with no price is a partida the
supplier does not bid on.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from openpyxl import Workbook
from openpyxl.styles import Alignment, Font, PatternFill

from abasto.core.errors import Problem, ValidationFailed
from abasto.core.money import count_of
from abasto.core.spreadsheet import Column, Header, find_header, is_blank, read_sheets, text
from abasto.core.text import neutralise_cell
from abasto.tendering.rules import BidLineInput

PARTIDA = Column("partida", ("No. Partida", "Partida", "Número de partida"))
CLAVE = Column("clave", ("Clave", "Clave CNIS", "Clave del cuadro básico"))
PRICE = Column("price", ("Precio Unitario", "Precio unitario ofertado"))
REGISTRO = Column("registro", ("Registro Sanitario",), required=False)
MANUFACTURER = Column("manufacturer", ("Fabricante del bien", "Fabricante"), required=False)
QUANTITY = Column("quantity", ("Cantidad ofertada", "Cantidad ofertada total"), required=False)
COUNTRY = Column("country", ("País de origen", "Pais de origen"), required=False)
PRESENTATION = Column("presentation", ("Presentación ofertada",), required=False)
COLUMNS = (PARTIDA, CLAVE, PRICE, REGISTRO, MANUFACTURER, QUANTITY, COUNTRY, PRESENTATION)

EXPECTED = (
    "la plantilla de proposición de la licitación (descárguela de su página), con «No. "
    "Partida», «Clave» y «Precio Unitario»"
)


@dataclass(frozen=True, slots=True)
class TemplatePartida:
    number: int
    clave: str
    cucop: int | None
    description: str
    unit: str | None
    min_qty: int
    max_qty: int


def write_template(tender_number: str, title: str, partidas: Sequence[TemplatePartida]) -> bytes:
    """The template a supplier fills in, one row per partida."""
    workbook = Workbook()
    sheet = workbook.active
    sheet.title = "MED_MAT"
    bold = Font(bold=True)
    fill = PatternFill("solid", fgColor="DDEBF7")
    sheet.cell(1, 1, neutralise_cell(f"{tender_number} — {title}")).font = bold
    headers = [
        "No. Partida",
        "Clave",
        "CUCoP",
        "Descripción del bien ofertado",
        "Presentación ofertada",
        "Cantidad Solicitada",
        None,
        "Unidad de Medida",
        "Registro Sanitario",
        "Fabricante del bien",
        "País de origen",
        "Cantidad ofertada",
        "Precio Unitario",
        "Importe total",
        None,
    ]
    subs = [None, None, None, None, None, "Mínimo", "Máximo", None, None, None, None, None, None]
    subs += ["Mínimo", "Máximo"]
    for index, (name, sub) in enumerate(zip(headers, subs, strict=True), start=1):
        for row, value in ((3, name), (4, sub)):
            if value is not None:
                target = sheet.cell(row, index, value)
                target.font = bold
                target.fill = fill
                target.alignment = Alignment(wrap_text=True, vertical="center")
    for offset, partida in enumerate(partidas):
        row = 5 + offset
        values: list[object] = [
            partida.number,
            partida.clave,
            partida.cucop,
            partida.description,
            None,
            partida.min_qty,
            partida.max_qty,
            partida.unit,
        ]
        for index, cell_value in enumerate(values, start=1):
            sheet.cell(row, index, neutralise_cell(cell_value))
        # The only formulas in the file are these two, ours: every other cell is neutralised.
        sheet.cell(row, 14, f"=M{row}*F{row}")
        sheet.cell(row, 15, f"=M{row}*G{row}")
    for letter, width in {
        "A": 9,
        "B": 17,
        "C": 11,
        "D": 60,
        "E": 18,
        "I": 18,
        "J": 28,
        "M": 14,
    }.items():
        sheet.column_dimensions[letter].width = width
    sheet.freeze_panes = "A5"
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


_MEMBERS = {
    "unit_price": PRICE,
    "quantity": QUANTITY,
    "presentation": PRESENTATION,
    "registro_sanitario": REGISTRO,
    "manufacturer": MANUFACTURER,
    "country": COUNTRY,
}
"""The column of each member of a bid line (``rules.BidLineInput``)."""


def _headers(header: Header) -> dict[str, str]:
    """Each member's column as this file names it («Precio unitario ofertado»), so a problem
    points at the header the supplier sees; a column the file lacks is not named here."""
    found = {}
    for member, column in _MEMBERS.items():
        index = header.index(column.key)
        if index is not None:
            found[member] = header.column_name(index)
    return found


def read_template(content: bytes, filename: str, claves: Mapping[int, str]) -> list[BidLineInput]:
    """The partidas the supplier priced; every problem at once, with its row and column.

    ``claves`` maps each partida number of the tender to its clave: a row whose clave differs
    from its partida's (an edited or shifted row) is refused rather than guessed.
    """
    sheets = read_sheets(content, filename)
    header: Header | None = None
    for sheet in sheets:
        header = find_header(sheet, COLUMNS)
        if header is not None:
            break
    if header is None:
        raise ValidationFailed(
            f"«{filename}» no tiene la fila de encabezados de la plantilla.", expected=EXPECTED
        )
    problems: list[Problem] = []
    lines: list[BidLineInput] = []
    sheet_name = header.sheet.name
    columns = _headers(header)
    for number, row in header.rows():
        price = header.value(row, PRICE.key)
        raw_partida = header.value(row, PARTIDA.key)
        if is_blank(price):
            continue
        where: dict[str, Any] = {"sheet": sheet_name, "row": number}
        try:
            partida = int(str(raw_partida).strip())
        except ValueError:
            problems.append(
                Problem(
                    "número de partida no válido",
                    column="No. Partida",
                    value=str(raw_partida),
                    expected="el número de partida de la plantilla",
                    **where,
                )
            )
            continue
        clave = text(header.value(row, CLAVE.key)) or ""
        expected_clave = claves.get(partida)
        if expected_clave is not None and clave != expected_clave:
            problems.append(
                Problem(
                    f"la clave de la partida {partida} no es la de la licitación",
                    column="Clave",
                    value=clave,
                    expected=expected_clave,
                    **where,
                )
            )
            continue
        lines.append(
            BidLineInput(
                partida=partida,
                unit_price=price,
                quantity=header.value(row, QUANTITY.key)
                if header.index(QUANTITY.key) is not None
                else None,
                presentation=text(header.value(row, PRESENTATION.key)),
                registro_sanitario=text(header.value(row, REGISTRO.key)),
                manufacturer=text(header.value(row, MANUFACTURER.key)),
                country=text(header.value(row, COUNTRY.key)),
                where={**where, "columns": columns},
            )
        )
    if problems:
        raise ValidationFailed(
            f"«{filename}»: "
            f"{count_of(len(problems), 'fila no corresponde', 'filas no corresponden')} "
            "a la licitación; no se recibió nada.",
            problems=problems,
        )
    if not lines:
        raise ValidationFailed(
            f"«{filename}» no tiene ningún precio unitario.",
            expected="al menos una partida con «Precio Unitario»",
        )
    return lines
