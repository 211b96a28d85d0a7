import io
import random
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import openpyxl
import pytest

from abasto.catalog.rules import CLAVE_EXPECTED
from abasto.core.errors import Problem, ValidationFailed
from abasto.core.spreadsheet import Cell
from abasto.demand.appendix import (
    IDENTIFIER_COLUMN_EXPECTED,
    IDENTIFIER_EXPECTED,
    INSTITUTIONS_EXPECTED,
    ORDER_EXPECTED,
    PAIR_EXPECTED,
    QUANTITY_EXPECTED,
    AppendixFile,
    AppendixSheet,
    ConsolidatedRow,
    ConsolidatedSheet,
    InstitutionColumns,
    PlannerRow,
    QuantityError,
    parse_quantity,
    read_appendix,
    read_institution_sheet,
    write_appendix,
    write_appendix_sheets,
    write_institution_sheet,
)
from tests.conftest import xlsx

DEMANDA = Path(__file__).resolve().parents[3] / "shared" / "data" / "demanda"
AGGREGATED, DETAIL = "1 Demanda Agregada", "1.1 Detalle CCINSHAE"

PARACETAMOL = "010.000.0104.00"
ASPIRINA = "010.000.0103.00"
GASA = "060.066.0021"

MIN_MAX = ["CANTIDAD MIN", "CANTIDAD MAX"]
IMSS_MIN, IMSS_MAX = "IMSS — CANTIDAD MIN (columna E)", "IMSS — CANTIDAD MAX (columna F)"
ISSSTE_MIN = "ISSSTE — CANTIDAD MIN (columna G)"
ISSSTE_MAX = "ISSSTE — CANTIDAD MAX (columna H)"


def appendix(*data: Sequence[Cell], institutions: Sequence[str] = ("IMSS", "ISSSTE")) -> bytes:
    """The 2023-2024 layout without a totals row: header in row 3, data from row 4.

    Columns: A #, B CLAVES, C DESCRIPCIÓN, D UM, then MIN/MAX per institution from E, then
    TOTAL GENERAL.
    """
    groups: list[Cell] = [None] * 4
    for name in (*institutions, "TOTAL GENERAL"):
        groups += [name, None]
    header = ["#", "CLAVES", "DESCRIPCIÓN", "UM", *MIN_MAX * (len(institutions) + 1)]
    title: list[Cell] = ["APÉNDICE 1 DEMANDA DE MEDICAMENTO 2027-2028"]
    rows: list[Sequence[Cell]] = [title, groups, header, *data]
    return xlsx({"Apéndice": rows})


def problems_of(content: bytes, filename: str = "apendice.xlsx") -> list[Problem]:
    with pytest.raises(ValidationFailed) as caught:
        read_appendix(content, filename)
    return list(caught.value.problems)


def at(row: int, column: str, message: str, value: str | None, expected: str) -> Problem:
    return Problem(
        message=message, sheet="Apéndice", row=row, column=column, value=value, expected=expected
    )


# ----- the real 2023-2024 appendix -----------------------------------------------------------


@pytest.fixture(scope="module")
def real() -> AppendixFile:
    return read_appendix((DEMANDA / "2023-2024.xlsx").read_bytes(), "2023-2024.xlsx")


def totals_row_of(sheet_name: str) -> dict[str, tuple[int, int]]:
    """The file's own ``Total`` row per group label, read with openpyxl alone."""
    workbook = openpyxl.load_workbook(DEMANDA / "2023-2024.xlsx", read_only=True, data_only=True)
    try:
        rows = list(workbook[sheet_name].iter_rows(values_only=True))
    finally:
        workbook.close()
    header_at = next(i for i, row in enumerate(rows) if "CLAVES" in row)
    groups = rows[header_at - 1]
    total = next(row for row in rows[header_at + 1 :] if row[1] == "Total")
    return {
        str(groups[i]): (total[i], total[i + 1])
        for i, label in enumerate(rows[header_at])
        if label == "CANTIDAD MIN"
    }


def row_sums(sheet: AppendixSheet) -> dict[str, tuple[int, int]]:
    return {
        columns.name: (
            sum(row.quantities.get(columns.name, (0, 0))[0] for row in sheet.rows),
            sum(row.quantities.get(columns.name, (0, 0))[1] for row in sheet.rows),
        )
        for columns in sheet.institutions
    }


def test_2023_2024_both_sheets_are_read(real: AppendixFile) -> None:
    assert [sheet.name for sheet in real.sheets] == [AGGREGATED, DETAIL]
    aggregated, detail = real.sheets
    assert [columns.name for columns in aggregated.institutions] == [
        "IMSS", "INSABI", "ISSSTE", "CCINSHAE", "SEDENA", "SEMAR", "GUARDIA NACIONAL", "OADPRS",
        "SPPS-CENAPRECE", "SPPS-CENSIDA", "SPPS-CNEGSR", "SPPS-SAP",
    ]  # fmt: skip
    assert aggregated.institutions[0] == InstitutionColumns("IMSS", IMSS_MIN, IMSS_MAX)
    assert len(detail.institutions) == 23
    assert "INSTITUTO NACIONAL DE CANCEROLOGÍA" in {c.name for c in detail.institutions}
    assert (len(aggregated.rows), len(detail.rows)) == (618, 608)
    first = aggregated.rows[0]
    assert (first.sheet, first.row, first.clave, first.unit) == (
        AGGREGATED,
        5,
        "010.000.0022.00",
        "Pieza",
    )
    assert first.description is not None
    assert first.description.startswith("Caseinato de calcio")
    # Blank pairs are institutions that do not ask for the clave.
    assert first.quantities == {
        "IMSS": (767536, 1918836),
        "INSABI": (38405, 95991),
        "ISSSTE": (68640, 171600),
        "CCINSHAE": (26320, 65792),
        "OADPRS": (352, 880),
        "SPPS-SAP": (151, 375),
    }
    assert aggregated.clave_column == "CLAVES (columna B)"


@pytest.mark.parametrize("sheet_name", [AGGREGATED, DETAIL])
def test_2023_2024_rows_add_up_to_the_files_own_total_row(
    real: AppendixFile, sheet_name: str
) -> None:
    sheet = real.sheet(sheet_name)
    in_file = totals_row_of(sheet_name)
    grand_total = in_file.pop("TOTAL GENERAL")

    sums = row_sums(sheet)

    assert sums == in_file
    assert sheet.totals == in_file
    assert sheet.sums() == sums
    all_rows = (sum(low for low, _ in sums.values()), sum(high for _, high in sums.values()))
    assert all_rows == grand_total


def test_2023_2024_detail_adds_up_to_the_ccinshae_column(real: AppendixFile) -> None:
    aggregated, detail = real.sheet(AGGREGATED), real.sheet(DETAIL)
    ccinshae = {
        row.clave: row.quantities["CCINSHAE"]
        for row in aggregated.rows
        if "CCINSHAE" in row.quantities
    }
    hospitals = {
        row.clave: (
            sum(low for low, _ in row.quantities.values()),
            sum(high for _, high in row.quantities.values()),
        )
        for row in detail.rows
    }

    assert hospitals == ccinshae
    totals = detail.totals.values()
    assert (sum(low for low, _ in totals), sum(high for _, high in totals)) == (
        aggregated.totals["CCINSHAE"]
    )


def test_2023_2024_total_general_is_not_an_institution(real: AppendixFile) -> None:
    for sheet in real.sheets:
        names = {columns.name for columns in sheet.institutions}
        assert "TOTAL GENERAL" not in names
        assert all("TOTAL GENERAL" not in row.quantities for row in sheet.rows)
        assert "TOTAL GENERAL" not in sheet.totals
        assert "Total" not in {row.clave for row in sheet.rows}


def test_2023_2024_minimum_is_at_least_40_percent_of_the_maximum_not_exactly(
    real: AppendixFile,
) -> None:
    """What a service checking the round's minimum share must allow: min ≥ 40 % of max."""
    pairs = [
        pair for sheet in real.sheets for row in sheet.rows for pair in row.quantities.values()
    ]

    assert all(5 * low >= 2 * high and low <= high for low, high in pairs)
    exact = sum(1 for low, high in pairs if 5 * low == 2 * high)
    assert 0 < exact < len(pairs) // 2


# ----- problems in a file, each with where and what was expected -----------------------------


def test_a_clean_appendix_with_integral_floats_and_numbers_typed_as_text() -> None:
    content = appendix(
        [1, PARACETAMOL, "Paracetamol", "Pieza", 40.0, 100.0, None, None, 40, 100],
        [2, GASA, "Gasa", None, "1,200", " 3000 ", 0, 0, 1200, 3000],
    )

    (sheet,) = read_appendix(content, "apendice.xlsx").sheets

    assert [(row.row, row.clave, row.quantities) for row in sheet.rows] == [
        (4, PARACETAMOL, {"IMSS": (40, 100)}),
        (5, GASA, {"IMSS": (1200, 3000)}),  # ISSSTE's 0/0 asks for nothing
    ]
    assert sheet.totals == {}
    assert sheet.rows[1].unit is None


@pytest.mark.parametrize(
    ("row", "problem"),
    [
        pytest.param(
            [1, "10.000.0104.00", "Paracetamol", "Pieza", 40, 100],
            at(
                4,
                "CLAVES (columna B)",
                "la clave no tiene la forma del Compendio",
                "10.000.0104.00",
                CLAVE_EXPECTED,
            ),
            id="malformed clave",
        ),
        pytest.param(
            [1, None, "Paracetamol", "Pieza", 40, 100],
            at(4, "CLAVES (columna B)", "falta la clave", None, CLAVE_EXPECTED),
            id="quantities without a clave",
        ),
        pytest.param(
            [1, PARACETAMOL, "Paracetamol", "Pieza", "cuarenta", 100],
            at(4, IMSS_MIN, "la cantidad no es un número", "cuarenta", QUANTITY_EXPECTED),
            id="text",
        ),
        pytest.param(
            [1, PARACETAMOL, "Paracetamol", "Pieza", 40, 100, -5, 10],
            at(4, ISSSTE_MIN, "la cantidad es negativa", "-5", QUANTITY_EXPECTED),
            id="negative",
        ),
        pytest.param(
            [1, PARACETAMOL, "Paracetamol", "Pieza", 40, 100.5],
            at(4, IMSS_MAX, "la cantidad no es un número entero", "100.5", QUANTITY_EXPECTED),
            id="not an integer",
        ),
        pytest.param(
            [1, PARACETAMOL, "Paracetamol", "Pieza", 300, 200],
            at(
                4,
                IMSS_MIN,
                "la cantidad mínima (300) es mayor que la máxima (200)",
                "300",
                ORDER_EXPECTED,
            ),
            id="min above max",
        ),
        pytest.param(
            [1, PARACETAMOL, "Paracetamol", "Pieza", 1200, None],
            at(4, IMSS_MAX, "falta la cantidad máxima (la mínima es 1,200)", None, PAIR_EXPECTED),
            id="max missing",
        ),
        pytest.param(
            [1, PARACETAMOL, "Paracetamol", "Pieza", "-", 100],
            at(4, IMSS_MIN, "falta la cantidad mínima (la máxima es 100)", None, PAIR_EXPECTED),
            id="min missing",
        ),
    ],
)
def test_a_bad_cell_is_reported_where_it_is(row: list[Cell], problem: Problem) -> None:
    assert problems_of(appendix(row)) == [problem]


def test_a_clave_twice_in_a_sheet() -> None:
    content = appendix(
        [1, PARACETAMOL, "Paracetamol", "Pieza", 40, 100],
        [2, ASPIRINA, "Aspirina", "Pieza", 4, 10],
        [3, " 010.000.0104.00 ", "Paracetamol", "Pieza", 8, 20],
    )

    assert problems_of(content) == [
        at(
            6,
            "CLAVES (columna B)",
            "la clave está repetida en esta hoja (ya aparece en la fila 4)",
            PARACETAMOL,
            "cada clave una sola vez por hoja",
        )
    ]


@pytest.mark.parametrize(
    "above",
    [
        pytest.param([], id="nothing above the header"),
        pytest.param([["APÉNDICE 1 DEMANDA 2027-2028"]], id="only a title above"),
        pytest.param([[None, None, "TOTAL GENERAL"]], id="only totals"),
    ],
)
def test_no_institution_columns(above: list[list[Cell]]) -> None:
    rows: list[list[Cell]] = [
        *above,
        ["CLAVES", "DESCRIPCIÓN", *MIN_MAX, *MIN_MAX],
        [PARACETAMOL, "Paracetamol", 40, 100, 40, 100],
    ]

    assert problems_of(xlsx({"Apéndice": rows})) == [
        Problem(
            message="no se encontraron columnas de institución",
            sheet="Apéndice",
            row=len(above) + 1,
            expected=INSTITUTIONS_EXPECTED,
        )
    ]


def test_an_institution_over_two_pairs_or_missing_half_of_one() -> None:
    rows: list[list[Cell]] = [
        [None, None, "IMSS", None, None, None, "ISSSTE"],
        ["CLAVES", "DESCRIPCIÓN", *MIN_MAX, *MIN_MAX, "CANTIDAD MIN"],
        [PARACETAMOL, "Paracetamol", 40, 100, 40, 100, 4],
    ]

    assert problems_of(xlsx({"Apéndice": rows})) == [
        Problem(
            message="la institución «IMSS» está encima de más de un par de columnas"
            " (columnas C, D, E y F)",
            sheet="Apéndice",
            row=1,
            value="IMSS",
            expected=INSTITUTIONS_EXPECTED + ", una sola vez",
        ),
        Problem(
            message="a la institución «ISSSTE» le falta la columna de cantidad máxima",
            sheet="Apéndice",
            row=2,
            column="ISSSTE — CANTIDAD MIN (columna G)",
            value="ISSSTE",
            expected=INSTITUTIONS_EXPECTED,
        ),
    ]


def test_a_pair_without_an_institution_name_above_it() -> None:
    rows: list[list[Cell]] = [
        ["Apéndice 2027", None, None, None, "IMSS"],
        ["CLAVES", "DESCRIPCIÓN", *MIN_MAX, *MIN_MAX],
        [PARACETAMOL, "Paracetamol", 40, 100, 40, 100],
    ]

    assert [(p.row, p.column, p.message) for p in problems_of(xlsx({"Apéndice": rows}))] == [
        (2, "CANTIDAD MIN (columna C)", "la columna no tiene encima el nombre de una institución"),
        (2, "CANTIDAD MAX (columna D)", "la columna no tiene encima el nombre de una institución"),
    ]


def test_every_problem_of_the_file_at_once_in_file_order() -> None:
    good = appendix([1, PARACETAMOL, "Paracetamol", "Pieza", 40, 100])
    workbook = openpyxl.load_workbook(io.BytesIO(good))
    sheet = workbook["Apéndice"]
    sheet.append([2, "060.66.21", "Gasa", "Pieza", "diez", 10, 5, None])
    sheet.append([3, ASPIRINA, "Aspirina", "Pieza", 2.5, 10, 30, 20])
    second = workbook.create_sheet("Otra")
    second.append(["CLAVES", "DESCRIPCIÓN", *MIN_MAX])
    second.append([PARACETAMOL, "Paracetamol", 40, 100])
    buffer = io.BytesIO()
    workbook.save(buffer)

    with pytest.raises(ValidationFailed) as caught:
        read_appendix(buffer.getvalue(), "apendice.xlsx")

    assert caught.value.detail == (
        "El apéndice «apendice.xlsx» tiene 6 problemas; no se importó ninguna cantidad."
    )
    assert [(p.sheet, p.row, p.column, p.message) for p in caught.value.problems] == [
        ("Apéndice", 5, "CLAVES (columna B)", "la clave no tiene la forma del Compendio"),
        ("Apéndice", 5, IMSS_MIN, "la cantidad no es un número"),
        ("Apéndice", 5, ISSSTE_MAX, "falta la cantidad máxima (la mínima es 5)"),
        ("Apéndice", 6, IMSS_MIN, "la cantidad no es un número entero"),
        ("Apéndice", 6, ISSSTE_MIN, "la cantidad mínima (30) es mayor que la máxima (20)"),
        ("Otra", 1, None, "no se encontraron columnas de institución"),
    ]  # fmt: skip
    assert "hoja «Apéndice», fila 5, columna «IMSS — CANTIDAD MIN (columna E)»" in str(caught.value)


def test_no_sheet_with_the_layout_says_which_columns_are_missing() -> None:
    content = xlsx({"Hoja1": [["Clave", "Descripción"], [PARACETAMOL, "Paracetamol"]]})

    problems = problems_of(content)

    assert [(p.sheet, p.row, p.message) for p in problems] == [
        ("Hoja1", 1, "falta la columna «CANTIDAD MIN»"),
        ("Hoja1", 1, "falta la columna «CANTIDAD MAX»"),
    ]


# ----- other files of the same kind ----------------------------------------------------------


def test_header_lower_down_institutions_in_another_order_and_other_names() -> None:
    rows: list[list[Cell]] = [
        ["Secretaría de Salud"],
        [],
        ["Apéndice de demanda 2029-2030"],
        [],
        [None, None, "  IMSS-Bienestar   Oaxaca ", None, "ISSSTE", None, "IMSS", None, "TOTALES"],
        ["Clave CNIS", "Descripción", "Mínimo", "Máximo", "Mínimo", "Máximo", "MIN", "MAX", "MIN"],
        [PARACETAMOL, "Paracetamol", 4, 10, None, None, 40, 100, 44],
        ["TOTAL GENERAL", None, 4, 10, 0, 0, 40, 100, 44],
    ]

    (sheet,) = read_appendix(xlsx({"Demanda": rows}), "otra.xlsx").sheets

    assert [columns.name for columns in sheet.institutions] == [
        "IMSS-Bienestar Oaxaca",
        "ISSSTE",
        "IMSS",
    ]
    assert sheet.institutions[0].max_column == "IMSS-Bienestar Oaxaca — Máximo (columna D)"
    assert [(row.row, row.quantities, row.unit) for row in sheet.rows] == [
        (7, {"IMSS-Bienestar Oaxaca": (4, 10), "IMSS": (40, 100)}, None)
    ]
    assert sheet.totals == {"IMSS-Bienestar Oaxaca": (4, 10), "ISSSTE": (0, 0), "IMSS": (40, 100)}


def test_institutions_in_the_header_row_above_a_row_of_min_and_max() -> None:
    rows: list[list[Cell]] = [
        ["Clave", "Descripción", "IMSS", None, "SEDENA", None],
        [None, None, "Mínimo", "Máximo", "Mínimo", "Máximo"],
        [PARACETAMOL, "Paracetamol", 40, 100, 4, "x"],
    ]

    with pytest.raises(ValidationFailed) as caught:
        read_appendix(xlsx({"H": rows}), "dos-filas.xlsx")

    assert [(p.row, p.column) for p in caught.value.problems] == [
        (3, "SEDENA — Máximo (columna F)")
    ]


def test_a_csv_appendix() -> None:
    content = (
        ",,IMSS,,ISSSTE,\nClave,Descripción,CANTIDAD MIN,CANTIDAD MAX,CANTIDAD MIN,CANTIDAD MAX\n"
        f'{PARACETAMOL},Paracetamol,40,100,,\n{GASA},Gasa,"1,200",3000,2,5\n'
    ).encode()

    (sheet,) = read_appendix(content, "apendice.csv").sheets

    assert [row.quantities for row in sheet.rows] == [
        {"IMSS": (40, 100)},
        {"IMSS": (1200, 3000), "ISSSTE": (2, 5)},
    ]


def test_sheets_without_the_layout_and_notes_below_the_data_are_left_out() -> None:
    good = appendix([1, PARACETAMOL, "Paracetamol", "Pieza", 40, 100], [None, None, "Nota: …"])
    workbook = openpyxl.load_workbook(io.BytesIO(good))
    workbook.create_sheet("Instrucciones", 0).append(["Llene las cantidades"])
    buffer = io.BytesIO()
    workbook.save(buffer)

    read = read_appendix(buffer.getvalue(), "apendice.xlsx")

    assert [sheet.name for sheet in read.sheets] == ["Apéndice"]
    assert [row.clave for row in read.sheets[0].rows] == [PARACETAMOL]


@pytest.mark.parametrize(
    ("value", "quantity"),
    [(None, None), ("-", None), (7, 7), (7.0, 7), ("7", 7), ("12,345", 12345), ("3.0", 3)],
)
def test_parse_quantity(value: Cell, quantity: int | None) -> None:
    assert parse_quantity(value) == quantity


# ----- writing the consolidated appendix -----------------------------------------------------


def test_consolidated_appendix_layout_and_round_trip() -> None:
    institutions = ["IMSS", "ISSSTE", "SEMAR"]
    rows = [
        ConsolidatedRow(PARACETAMOL, "Paracetamol 500 mg", "Pieza", {"IMSS": (40, 100)}),
        ConsolidatedRow(
            GASA, "Gasa estéril", None, {"IMSS": (4, 10), "ISSSTE": (0, 0), "SEMAR": (2, 5)}
        ),
        ConsolidatedRow(ASPIRINA, "Ácido acetilsalicílico", "Envase", {}),
    ]

    content = write_appendix(
        title="Apéndice consolidado 2027-2028", institutions=institutions, rows=rows
    )

    workbook = openpyxl.load_workbook(io.BytesIO(content))
    cells = [list(row) for row in workbook.active.iter_rows(max_row=5, values_only=True)]
    assert cells[0][0] == "Apéndice consolidado 2027-2028"
    assert cells[1] == [None] * 4 + ["IMSS", None, "ISSSTE", None, "SEMAR", None, "TOTALES", None]
    assert cells[2] == ["#", "CLAVES", "DESCRIPCIÓN", "UM", *MIN_MAX * 4]
    assert cells[3] == ["-", "Total", 3, "-", 44, 110, 0, 0, 2, 5, 46, 115]
    assert cells[4] == [
        1,
        PARACETAMOL,
        "Paracetamol 500 mg",
        "Pieza",
        40,
        100,
        *[None] * 4,
        40,
        100,
    ]

    (sheet,) = read_appendix(content, "consolidado.xlsx").sheets
    assert [columns.name for columns in sheet.institutions] == institutions
    assert [(row.clave, row.description, row.unit, row.quantities) for row in sheet.rows] == [
        # ISSSTE's 0/0 is written, and read back as no line.
        (row.clave, row.description, row.unit, {k: v for k, v in row.quantities.items() if v[1]})
        for row in rows
    ]
    assert sheet.totals == {"IMSS": (44, 110), "ISSSTE": (0, 0), "SEMAR": (2, 5)}


def test_the_writer_refuses_what_would_not_read_back() -> None:
    row = ConsolidatedRow(PARACETAMOL, "Paracetamol", "Pieza", {"PEMEX": (1, 2)})
    with pytest.raises(ValueError, match="not listed"):
        write_appendix(title="t", institutions=["IMSS"], rows=[row])
    with pytest.raises(ValueError, match="distinct"):
        write_appendix(title="t", institutions=["IMSS", "imss"], rows=[])
    with pytest.raises(ValueError, match="totals"):
        write_appendix(title="t", institutions=["Total IMSS"], rows=[])
    with pytest.raises(ValueError, match="spaces"):
        write_appendix(title="t", institutions=["IMSS "], rows=[])
    inverted = ConsolidatedRow(PARACETAMOL, "Paracetamol", "Pieza", {"IMSS": (5, 2)})
    with pytest.raises(ValueError, match="min ≤ max"):
        write_appendix(title="t", institutions=["IMSS"], rows=[inverted])


def test_a_consolidated_workbook_with_a_detail_sheet() -> None:
    paracetamol = ConsolidatedRow(PARACETAMOL, "Paracetamol", "Pieza", {"CCINSHAE": (6, 15)})
    detail = ConsolidatedRow(
        PARACETAMOL,
        "Paracetamol",
        "Pieza",
        {"INSTITUTO NACIONAL DE PEDIATRÍA": (4, 10), "HOSPITAL JUÁREZ DE MÉXICO": (2, 5)},
    )
    hospitals = ["INSTITUTO NACIONAL DE PEDIATRÍA", "HOSPITAL JUÁREZ DE MÉXICO"]

    content = write_appendix_sheets(
        [
            ConsolidatedSheet("1 Demanda Agregada", "Apéndice", ["CCINSHAE"], [paracetamol]),
            ConsolidatedSheet("1.1 Detalle CCINSHAE", "Apéndice (CCINSHAE)", hospitals, [detail]),
        ]
    )

    aggregated, by_hospital = read_appendix(content, "consolidado.xlsx").sheets
    assert (aggregated.name, aggregated.totals) == ("1 Demanda Agregada", {"CCINSHAE": (6, 15)})
    assert (by_hospital.name, by_hospital.rows[0].quantities) == (
        "1.1 Detalle CCINSHAE",
        detail.quantities,
    )
    with pytest.raises(ValueError, match="distinct"):
        write_appendix_sheets(
            [ConsolidatedSheet("A", "t", [], []), ConsolidatedSheet("a", "t", [], [])]
        )
    with pytest.raises(ValueError, match="sheet names"):
        write_appendix_sheets([ConsolidatedSheet("Detalle: CCINSHAE", "t", [], [])])


def generated(institutions: int, claves: int) -> tuple[list[str], list[ConsolidatedRow]]:
    """A big appendix: about one pair in five blank, maximums up to a million."""
    rng = random.Random(2027)
    names = [f"INSTITUCIÓN {number:02d}" for number in range(1, institutions + 1)]
    rows = []
    for number in range(claves):
        quantities = {}
        for name in names:
            if rng.random() < 0.8:
                high = rng.randint(1, 1_000_000)
                quantities[name] = (-(-2 * high // 5), high)
        clave = (
            f"010.000.{number:04d}.00" if number % 2 else f"060.{number % 1000:03d}.{number:04d}"
        )
        rows.append(ConsolidatedRow(clave, f"Insumo {number}", "Pieza", quantities))
    return names, rows


def test_a_big_consolidated_appendix_reads_back_the_same() -> None:
    names, rows = generated(62, 3900)

    content = write_appendix(title="Apéndice 2027-2028", institutions=names, rows=rows)
    (sheet,) = read_appendix(content, "grande.xlsx").sheets

    assert len(sheet.institutions) == 62
    assert [(row.clave, row.quantities) for row in sheet.rows] == [
        (row.clave, row.quantities) for row in rows
    ]
    assert sheet.totals == sheet.sums()


# ----- the institution planner's sheet -------------------------------------------------------


def test_planner_sheet_round_trip() -> None:
    lines = [
        PlannerRow("", 0, PARACETAMOL, "IMSS-0104", "", "Paracetamol", 40, 100),
        PlannerRow("", 0, PARACETAMOL, None, "UMAE-25", "Paracetamol", 8, 20),
        PlannerRow("", 0, GASA, None, "", "Gasa", None, None),
        PlannerRow("", 0, None, "00123", "", "Guantes de látex", 0, 5),
    ]

    content = write_institution_sheet(round_name="2027-2028", institution="IMSS", rows=lines)
    read = read_institution_sheet(content, "imss.xlsx")

    assert [(row.sheet, row.row) for row in read] == [("Demanda", n) for n in (4, 5, 6, 7)]
    assert [replace(row, sheet="", row=0) for row in read] == lines


PLANNER: list[Cell] = [
    "Clave",
    "Clave institucional",
    "Unidad",
    "Descripción",
    "Cantidad mínima",
    "Cantidad máxima",
]


def test_planner_sheet_problems_all_at_once() -> None:
    rows: list[list[Cell]] = [
        PLANNER,
        [PARACETAMOL, None, None, "Paracetamol", 40, 100],
        [PARACETAMOL, None, "UMAE-25", "Paracetamol", 4, 10],
        [PARACETAMOL, None, None, "Paracetamol", None, None],
        [None, None, "UMAE-25", "¿?", 1, 2],
        ["10.000.0104", None, None, None, "x", 2.5],
        [GASA, None, None, "Gasa", 10, 5],
        [ASPIRINA, None, None, "Aspirina", None, 7],
        [None, "A-1", None, None, 1, 2],
        [None, "A-1", None, None, 1, 2],
        [None, None, None, "Nota al pie", None, None],
    ]

    with pytest.raises(ValidationFailed) as caught:
        read_institution_sheet(xlsx({"Demanda": rows}), "imss.xlsx")

    clave = "Clave (columna A)"
    code = "Clave institucional (columna B)"
    low, high = "Cantidad mínima (columna E)", "Cantidad máxima (columna F)"
    assert list(caught.value.problems) == [
        Problem(
            "la clave está repetida para toda la institución (ya aparece en la fila 2)",
            "Demanda", 4, clave, value=PARACETAMOL, expected="cada clave una sola vez por unidad",
        ),
        Problem("falta la clave", "Demanda", 5, clave, expected=IDENTIFIER_EXPECTED),
        Problem(
            "la clave no tiene la forma del Compendio",
            "Demanda", 6, clave, value="10.000.0104", expected=CLAVE_EXPECTED,
        ),
        Problem(
            "la cantidad no es un número",
            "Demanda", 6, low, value="x", expected=QUANTITY_EXPECTED,
        ),
        Problem(
            "la cantidad no es un número entero",
            "Demanda", 6, high, value="2.5", expected=QUANTITY_EXPECTED,
        ),
        Problem(
            "la cantidad mínima (10) es mayor que la máxima (5)",
            "Demanda", 7, low, value="10", expected=ORDER_EXPECTED,
        ),
        Problem(
            "falta la cantidad mínima (la máxima es 7)",
            "Demanda", 8, low, value=None, expected=PAIR_EXPECTED,
        ),
        Problem(
            "la clave está repetida para toda la institución (ya aparece en la fila 9)",
            "Demanda", 10, code, value="A-1", expected="cada clave una sola vez por unidad",
        ),
    ]  # fmt: skip


def test_planner_sheet_with_institutional_codes_only() -> None:
    rows: list[list[Cell]] = [
        ["Clave institucional", "Cantidad mínima", "Cantidad máxima"],
        ["IMSS-0104", 40, 100],
        [104, None, None],
    ]

    read = read_institution_sheet(xlsx({"Hoja1": rows}), "imss.xlsx")

    assert [(r.clave, r.institution_code, r.unit_code, r.min_qty, r.max_qty) for r in read] == [
        (None, "IMSS-0104", "", 40, 100),
        (None, "104", "", None, None),
    ]


def test_planner_sheet_without_clave_columns() -> None:
    rows: list[list[Cell]] = [["Descripción", "Cantidad mínima", "Cantidad máxima"], ["x", 1, 2]]

    with pytest.raises(ValidationFailed) as caught:
        read_institution_sheet(xlsx({"Hoja1": rows}), "imss.xlsx")

    assert list(caught.value.problems) == [
        Problem(
            "falta la columna «Clave» o «Clave institucional»",
            sheet="Hoja1",
            row=1,
            expected=IDENTIFIER_COLUMN_EXPECTED,
        )
    ]


@pytest.mark.parametrize("value", ["9" * 200_000, "1" + "0" * 100_000 + ".0", 10**4000])
def test_a_quantity_too_long_is_refused_before_it_is_converted(value: Cell) -> None:
    """Issue 14: ``int(Decimal(text))`` is quadratic; 200,000 digits took seconds of CPU."""
    with pytest.raises(QuantityError):
        parse_quantity(value)


def test_written_sheets_neutralise_formula_text_and_read_back_the_same() -> None:
    """Issue 14, item 9: a description or name that starts like a formula is text in the file
    (a leading apostrophe), and the readers give back what was written."""
    evil = '=HYPERLINK("http://ataque.example","x")'
    rows = [ConsolidatedRow(PARACETAMOL, evil, "@SUM(1)", {"IMSS": (40, 100)})]
    content = write_appendix(title="+cmd|' /C calc'!A0", institutions=["IMSS"], rows=rows)
    sheet = openpyxl.load_workbook(io.BytesIO(content)).active
    cells = [c for row in sheet.iter_rows() for c in row if c.value is not None]
    assert not any(c.data_type == "f" for c in cells)
    assert not any(isinstance(c.value, str) and c.value[:1] in "=+@" for c in cells)
    assert sheet["C5"].value == "'" + evil
    assert sheet["A4"].value == "-"
    assert sheet["E5"].value == 40
    [read] = read_appendix(content, "apendice.xlsx").sheets
    assert read.rows[0].description == evil

    planner = write_institution_sheet(
        round_name="=1+1",
        institution="IMSS",
        rows=[PlannerRow("", 0, PARACETAMOL, "IMSS", "", evil, 40, 100)],
    )
    book = openpyxl.load_workbook(io.BytesIO(planner)).active
    values = [c for row in book.iter_rows() for c in row if c.value is not None]
    assert not any(c.data_type == "f" for c in values)
    assert read_institution_sheet(planner, "hoja.xlsx")[0].description == evil
