"""The bid template: written per tender, read back with prices; the official 2025–2026 file too."""

from __future__ import annotations

import io
from dataclasses import dataclass
from decimal import Decimal

import openpyxl
import pytest

from abasto.catalog import service as catalog
from abasto.core.errors import ValidationFailed
from abasto.tendering import rules, service, template
from abasto.tendering.template import TemplatePartida
from tests.conftest import SHARED, xlsx
from tests.tendering.conftest import (
    COL_CLAVE,
    COL_COUNTRY,
    COL_MANUFACTURER,
    COL_PARTIDA,
    COL_PRICE,
    COL_QUANTITY,
    COL_REGISTRO,
    World,
    fill_template,
    plan_for,
)

REAL = SHARED / "data/demanda/2025-2026.xlsx"
ROWS = [
    TemplatePartida(
        1, "010.000.0104.00", 25301574, "Paracetamol. Tableta 500 mg.", "Caja", 100, 250
    ),
    TemplatePartida(2, "010.000.0101.00", None, "Ácido acetilsalicílico. Tableta.", None, 40, 90),
    TemplatePartida(3, "010.000.0080.00", 25301570, "Nicotina. Tableta masticable.", "Caja", 0, 30),
]
CLAVES = {row.number: row.clave for row in ROWS}


def written() -> bytes:
    return template.write_template("AB-2026-0001", "Medicamentos del primer nivel", ROWS)


def test_the_written_template_has_one_row_per_partida_and_the_official_headers() -> None:
    sheet = openpyxl.load_workbook(io.BytesIO(written())).active
    assert sheet is not None
    assert sheet.title == "MED_MAT"
    assert sheet["A1"].value == "AB-2026-0001 — Medicamentos del primer nivel"
    headers = [c.value for c in sheet[3]]
    for name in ("No. Partida", "Clave", "Precio Unitario", "Cantidad ofertada", "País de origen"):
        assert name in headers
    assert [c.value for c in sheet[4]][5:7] == ["Mínimo", "Máximo"]
    body = [[c.value for c in row][:7] for row in sheet.iter_rows(min_row=5)]
    assert body == [
        [1, "010.000.0104.00", 25301574, "Paracetamol. Tableta 500 mg.", None, 100, 250],
        [2, "010.000.0101.00", None, "Ácido acetilsalicílico. Tableta.", None, 40, 90],
        [3, "010.000.0080.00", 25301570, "Nicotina. Tableta masticable.", None, 0, 30],
    ]
    assert sheet["N5"].value == "=M5*F5"
    assert sheet.freeze_panes == "A5"


def test_a_filled_template_reads_back_as_bid_lines() -> None:
    filled = fill_template(
        written(),
        {1: 7319.47, 3: "913.58"},
        quantities={1: 200},
        cells={(3, COL_COUNTRY): "  Países   Bajos "},
    )
    lines = template.read_template(filled, "proposicion.xlsx", CLAVES)
    assert [(ln.partida, ln.unit_price, ln.quantity) for ln in lines] == [
        (1, 7319.47, 200),
        (3, "913.58", None),
    ]
    first, second = lines
    assert (first.presentation, first.registro_sanitario) == (
        "Caja con 10 tabletas",
        "123M2015 SSA",
    )
    assert (first.manufacturer, first.country) == ("Fabricante de la Hoja", "México")
    assert second.country == "Países Bajos"
    assert (first.where["sheet"], first.where["row"], second.where["row"]) == ("MED_MAT", 5, 7)
    assert first.where["columns"]["unit_price"] == "Precio Unitario"


def test_a_row_without_price_is_a_partida_not_bid() -> None:
    lines = template.read_template(fill_template(written(), {2: 5}), "p.xlsx", CLAVES)
    assert [ln.partida for ln in lines] == [2]


def test_a_template_without_any_price_is_refused() -> None:
    with pytest.raises(ValidationFailed, match="ningún precio unitario"):
        template.read_template(written(), "vacia.xlsx", CLAVES)


def test_every_shifted_or_edited_row_is_reported_at_once() -> None:
    filled = fill_template(
        written(),
        {1: 10, 2: 11, 3: 12},
        cells={(1, COL_CLAVE): "010.000.0101.00", (3, COL_PARTIDA): "tres"},
    )
    with pytest.raises(ValidationFailed) as refused:
        template.read_template(filled, "proposicion.xlsx", CLAVES)
    found = [(p.row, p.column, p.value, p.expected) for p in refused.value.problems]
    assert found == [
        (5, "Clave", "010.000.0101.00", "010.000.0104.00"),
        (7, "No. Partida", "tres", "el número de partida de la plantilla"),
    ]
    assert "no se recibió nada" in refused.value.detail


def test_a_file_without_the_template_header_says_what_was_expected() -> None:
    other = xlsx({"Hoja1": [["Clave", "Descripción"], ["010.000.0104.00", "Paracetamol"]]})
    with pytest.raises(ValidationFailed) as refused:
        template.read_template(other, "otra.xlsx", CLAVES)
    assert refused.value.expected == template.EXPECTED


# ----- the official 2025–2026 file -----------------------------------------------------------

PRICED = {1: 7319.47, 2: "640.10", 4: 12.5, 3900: 88}
"""No. Partida → a price typed into the official file (the first, a middle one, the last)."""


@dataclass(frozen=True)
class RealFile:
    priced: bytes
    """Prices in every row of PRICED."""
    first_four: bytes
    """Prices only in the rows of partidas 1 to 4."""
    claves: dict[int, str]
    """Its own clave per No. Partida."""


@pytest.fixture(scope="module")
def real() -> RealFile:
    """The official file with prices typed in a few rows (loaded once: it has 3,900 rows)."""
    workbook = openpyxl.load_workbook(REAL)
    sheet = workbook.active
    assert sheet is not None
    header = [c.value for c in sheet[3]]
    partida_col = header.index("No. Partida") + 1
    clave_col = header.index("Clave") + 1
    price_col = header.index("Precio Unitario") + 1
    claves: dict[int, str] = {}
    for row in range(5, sheet.max_row + 1):
        number = sheet.cell(row, partida_col).value
        if isinstance(number, int):
            claves[number] = str(sheet.cell(row, clave_col).value)
            if number in PRICED:
                sheet.cell(row, price_col, PRICED[number])
            if number == max(PRICED):
                last_row = row
    priced = io.BytesIO()
    workbook.save(priced)
    sheet.cell(last_row, price_col).value = None
    first_four = io.BytesIO()
    workbook.save(first_four)
    return RealFile(priced.getvalue(), first_four.getvalue(), claves)


def test_the_official_file_with_prices_is_read(real: RealFile) -> None:
    assert len(real.claves) == 3900
    lines = template.read_template(real.priced, REAL.name, real.claves)
    assert [(ln.partida, ln.unit_price) for ln in lines] == sorted(PRICED.items())
    # The official layout has no «Cantidad ofertada»: the service offers the maximum.
    assert {ln.quantity for ln in lines} == {None}
    assert (lines[-1].where["sheet"], lines[-1].where["row"]) == ("MED_MAT", 3904)
    assert lines[-1].where["columns"]["unit_price"] == "Precio Unitario"


def test_the_official_file_is_a_bid_offering_each_maximum(world: World, real: RealFile) -> None:
    claves = real.claves
    sheet = openpyxl.load_workbook(REAL, read_only=True).active
    assert sheet is not None
    rows = {r[0]: r for r in sheet.iter_rows(min_row=5, max_row=8, values_only=True)}
    # The catalog and a tender whose partidas 1–4 are the file's first four claves.
    catalog.import_catalog(
        world.buyer(),
        content=(
            "Clave,Descripción\n"
            + "".join(
                f'{claves[n]},"{str(rows[n][4]).replace(chr(34), "")}"\n' for n in range(1, 5)
            )
        ).encode(),
        filename="catalogo.csv",
    )
    tender = service.create_tender(
        world.buyer(),
        world.sealer,
        title="Claves de la compra consolidada 2025-2026",
        procedure="licitacion_nacional",
        partidas=[
            service.PartidaInput(claves[n], int(str(rows[n][8])), int(str(rows[n][9])))
            for n in range(1, 5)
        ],
        **plan_for("licitacion_nacional", world.now).as_kwargs(),
    )
    service.publish_tender(world.buyer(), tender_id=tender.id)
    # Partida 3900 is not in this tender: its priced row is refused, nothing is guessed.
    with pytest.raises(ValidationFailed) as refused:
        service.submit_bid_sheet(
            world.as_supplier("a"),
            world.sealer,
            tender_id=tender.id,
            content=real.priced,
            filename=REAL.name,
        )
    assert [p.value for p in refused.value.problems] == ["3900"]

    service.submit_bid_sheet(
        world.as_supplier("a"),
        world.sealer,
        tender_id=tender.id,
        content=real.first_four,
        filename=REAL.name,
    )
    [own] = service.my_bids(world.as_supplier("a"), world.sealer, tender_id=tender.id)
    assert [(ln["partida"], Decimal(ln["unit_price"]), ln["quantity"]) for ln in own.lines] == [
        (1, Decimal("7319.47"), rows[1][9]),
        (2, Decimal("640.10"), rows[2][9]),
        (4, Decimal("12.50"), rows[4][9]),
    ]


def test_quantity_is_read_where_the_column_exists() -> None:
    filled = fill_template(written(), {2: 3}, quantities={2: "1,000"})
    [only] = template.read_template(filled, "p.xlsx", CLAVES)
    assert only.quantity == "1,000"


def test_the_template_neutralises_formula_text_and_keeps_its_own_formulas() -> None:
    """Issue 14, item 9: a title or description cannot become a formula in the file; the two
    total columns are the only formulas, ours."""
    evil = TemplatePartida(1, "010.000.0104.00", None, '=WEBSERVICE("x")', "@SUM(1)", 1, 2)
    content = template.write_template("AB-2026-0001", "-2+3 medicamentos", [evil])
    sheet = openpyxl.load_workbook(io.BytesIO(content)).active
    assert sheet["D5"].value == '\'=WEBSERVICE("x")'
    assert sheet["H5"].value == "'@SUM(1)"
    formulas = {c.coordinate for row in sheet.iter_rows() for c in row if c.data_type == "f"}
    assert formulas == {"N5", "O5"}


def test_a_sheets_bad_value_names_the_column_as_the_file_heads_it() -> None:
    book = openpyxl.load_workbook(io.BytesIO(fill_template(written(), {1: "doce", 2: 5})))
    sheet = book.active
    assert sheet is not None
    sheet.cell(3, COL_PRICE, "Precio unitario ofertado")
    sheet.cell(6, COL_QUANTITY, 1_000)
    buffer = io.BytesIO()
    book.save(buffer)
    lines = template.read_template(buffer.getvalue(), "p.xlsx", CLAVES)

    _, problems = rules.check_bid_lines(lines, {row.number: row.max_qty for row in ROWS})

    assert [(p.row, p.column, p.field) for p in problems] == [
        (5, "Precio unitario ofertado", None),
        (6, "Cantidad ofertada", None),
    ]
    assert all("unit_price" not in str(p) and "quantity" not in str(p) for p in problems)


def test_lines_without_registro_manufacturer_or_country_are_warned_where_they_are() -> None:
    filled = fill_template(
        written(),
        {1: 10, 2: 11, 3: 12},
        cells={(1, COL_REGISTRO): "  ", (3, COL_MANUFACTURER): "", (3, COL_COUNTRY): ""},
    )
    lines = template.read_template(filled, "p.xlsx", CLAVES)

    warnings = rules.incomplete_lines(lines)

    assert [(w.row, w.column, w.message) for w in warnings] == [
        (5, "Registro Sanitario", "Partida 1: sin registro sanitario"),
        (
            7,
            "Fabricante del bien, País de origen",
            "Partida 3: sin fabricante del bien ni país de origen",
        ),
    ]
    json_line = rules.BidLineInput(1, "10", 5, country=None, where={"field": "lines[0]"})
    (warning,) = rules.incomplete_lines([json_line])
    assert warning.field == "lines[0].registro_sanitario, lines[0].manufacturer, lines[0].country"
