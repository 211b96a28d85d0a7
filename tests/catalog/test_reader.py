from collections import Counter
from decimal import Decimal
from pathlib import Path

import pytest

from abasto.catalog.reader import CATALOG_COLUMNS, CUCOP_EXPECTED, CatalogFile, read_catalog
from abasto.catalog.rules import CLAVE_EXPECTED, Category, Clave, parse_clave
from abasto.core.errors import Problem, ValidationFailed
from abasto.core.spreadsheet import Cell, find_header, is_total_label, read_sheets
from tests.conftest import xlsx

DEMANDA = Path(__file__).resolve().parents[3] / "shared" / "data" / "demanda"


def problems_of(content: bytes, filename: str = "catalogo.xlsx") -> list[Problem]:
    with pytest.raises(ValidationFailed) as caught:
        read_catalog(content, filename)
    return list(caught.value.problems)


# ----- the real files ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def catalog_2025() -> CatalogFile:
    return read_catalog((DEMANDA / "2025-2026.xlsx").read_bytes(), "2025-2026.xlsx")


@pytest.fixture(scope="module")
def catalog_2023() -> CatalogFile:
    return read_catalog((DEMANDA / "2023-2024.xlsx").read_bytes(), "2023-2024.xlsx")


def test_2025_2026_template_gives_3900_claves(catalog_2025: CatalogFile) -> None:
    assert (len(catalog_2025.rows), catalog_2025.rows_read) == (3900, 3900)
    assert catalog_2025.sheets == ("MED_MAT",)
    first = catalog_2025.rows[0]
    assert (first.clave, first.cucop, first.sheet, first.row) == (
        Clave("010.000.0080.00"),
        25301574,
        "MED_MAT",
        5,
    )
    assert first.description.startswith("Nicotina. Tableta masticable")
    # The template leaves unit and presentation for the supplier to fill.
    assert (first.unit, first.presentation) == (None, None)
    assert all(isinstance(row.cucop, int) for row in catalog_2025.rows)


def test_2025_2026_categories_and_iva(catalog_2025: CatalogFile) -> None:
    by_category = Counter(row.category for row in catalog_2025.rows)

    assert by_category == {
        Category.MEDICAL_SUPPLY: 1732,
        Category.MEDICINE: 1359,
        Category.LABORATORY: 746,
        Category.RADIOLOGY: 44,
        Category.OTHER: 18,
        Category.VACCINE: 1,
    }
    assert {row.iva_rate for row in catalog_2025.rows if row.category is Category.MEDICINE} == {
        Decimal("0")
    }
    assert {row.iva_rate for row in catalog_2025.rows if row.group == "060"} == {Decimal("0.16")}


def test_2025_2026_description_that_is_a_number_is_a_warning(catalog_2025: CatalogFile) -> None:
    assert list(catalog_2025.warnings) == [
        Problem(
            message="la descripción es solo un número",
            sheet="MED_MAT",
            row=539,
            column="Descripción del bien ofertado",
            value="5",
            expected="la descripción del insumo",
        )
    ]


def test_2023_2024_union_of_both_sheets_is_618_claves(catalog_2023: CatalogFile) -> None:
    assert len(catalog_2023.rows) == 618
    assert catalog_2023.rows_read == 618 + 608
    assert catalog_2023.sheets == ("1 Demanda Agregada", "1.1 Detalle CCINSHAE")
    assert catalog_2023.warnings == ()
    assert {row.iva_rate for row in catalog_2023.rows} == {Decimal("0")}
    assert Counter(row.unit for row in catalog_2023.rows)["Pieza"] == 527
    assert catalog_2023.rows[0].row == 5  # row 4 is the "Total" row


def test_2023_2024_detail_claves_are_among_the_aggregate(catalog_2023: CatalogFile) -> None:
    sheets = read_sheets((DEMANDA / "2023-2024.xlsx").read_bytes(), "2023-2024.xlsx")
    header = find_header(sheets[1], CATALOG_COLUMNS)
    assert header is not None

    detail = {
        parse_clave(header.value(row, "clave"))
        for _, row in header.rows()
        if not is_total_label(header.value(row, "clave"))
    }

    assert len(detail) == 608
    assert detail <= {row.clave for row in catalog_2023.rows}


# ----- bad input -----------------------------------------------------------------------------


def test_every_problem_of_a_file_is_reported_at_once_with_where_and_what() -> None:
    content = xlsx(
        {
            "Catálogo": [
                ["#", "Clave", "Descripción", "UM", "CUCoP"],
                [1, "010.000.0104.00", "Paracetamol. Tableta 500 mg", "Pieza", 25301574],
                [2, "010.000.0104", "Paracetamol sin variante", "Pieza", None],
                [3, 10000010400, "Clave capturada como número", "Pieza", None],
                [4, "060.066.0021", "   ", "Paquete", None],
                [5, "010.000.0104.00", "Paracetamol otra vez", "Pieza", None],
                [6, "080.004.0040", "Aceite", "Frasco", "ver nota"],
                [7, None, "Sin clave", "Pieza", None],
            ]
        }
    )

    assert problems_of(content) == [
        Problem(
            message="a la clave del grupo 010 (Medicamentos) le falta la variante:"
            " los dos dígitos finales .VV",
            sheet="Catálogo",
            row=3,
            column="Clave",
            value="010.000.0104",
            expected=CLAVE_EXPECTED,
        ),
        Problem(
            message="la clave está capturada como número y Excel le quitó los ceros a la"
            " izquierda o los puntos; captúrela como texto",
            sheet="Catálogo",
            row=4,
            column="Clave",
            value="10000010400",
            expected=CLAVE_EXPECTED,
        ),
        Problem(
            message="falta la descripción",
            sheet="Catálogo",
            row=5,
            column="Descripción",
            value="   ",
            expected="la descripción del insumo",
        ),
        Problem(
            message="la clave está repetida en esta hoja (ya aparece en la fila 2)",
            sheet="Catálogo",
            row=6,
            column="Clave",
            value="010.000.0104.00",
            expected="cada clave una sola vez por hoja",
        ),
        Problem(
            message="el CUCoP no es un número entero",
            sheet="Catálogo",
            row=7,
            column="CUCoP",
            value="ver nota",
            expected=CUCOP_EXPECTED,
        ),
        Problem(
            message="falta la clave",
            sheet="Catálogo",
            row=8,
            column="Clave",
            value=None,
            expected=CLAVE_EXPECTED,
        ),
    ]


def test_the_error_says_how_many_problems_and_that_nothing_was_imported() -> None:
    content = xlsx({"H": [["Clave", "Descripción"], ["010.000.0104", "x"], ["abc", "y"]]})

    with pytest.raises(ValidationFailed) as caught:
        read_catalog(content, "catalogo.xlsx")

    assert caught.value.detail == (
        "El catálogo «catalogo.xlsx» tiene 2 problemas; no se importó ninguna clave."
    )
    assert "hoja «H», fila 2, columna «Clave»" in str(caught.value)


def test_the_same_clave_with_another_description_in_another_sheet_is_a_problem() -> None:
    content = xlsx(
        {
            "Agregada": [["Clave", "Descripción"], ["010.000.0104.00", "Paracetamol 500 mg"]],
            "Detalle": [
                ["CLAVES", "DESCRIPCIÓN"],
                ["010.000.0104.00", "Paracetamol 750 mg"],
            ],
        }
    )

    assert problems_of(content) == [
        Problem(
            message="la descripción de la clave 010.000.0104.00 no coincide con la de la hoja"
            " «Agregada», fila 2",
            sheet="Detalle",
            row=2,
            column="DESCRIPCIÓN",
            value="Paracetamol 750 mg",
            expected="la misma descripción: «Paracetamol 500 mg»",
        )
    ]


def test_descriptions_that_differ_only_in_case_and_spacing_agree() -> None:
    content = xlsx(
        {
            "Agregada": [
                ["Clave", "Descripción", "CUCoP"],
                ["010.000.0103.00", "Ácido acetilsalicílico.  Tableta", None],
            ],
            "Detalle": [
                ["Clave", "Descripción", "UM", "CUCoP"],
                ["010.000.0103.00", " ÁCIDO ACETILSALICÍLICO. tableta ", "Pieza", 25300041],
            ],
        }
    )

    catalog = read_catalog(content, "catalogo.xlsx")

    (row,) = catalog.rows
    # The first sheet's text stands; the second fills only what the first lacked.
    assert (row.description, row.unit, row.cucop, row.sheet) == (
        "Ácido acetilsalicílico. Tableta",
        "Pieza",
        25300041,
        "Agregada",
    )
    assert catalog.rows_read == 2


def test_no_sheet_with_a_catalog_header_names_the_columns_accepted() -> None:
    content = xlsx({"Hoja1": [["Código", "Nombre"], ["010.000.0104.00", "Paracetamol"]]})

    problems = problems_of(content)

    assert [(p.sheet, p.row, p.message) for p in problems] == [
        ("Hoja1", None, "falta la columna «Clave»"),
        ("Hoja1", None, "falta la columna «Descripción»"),
    ]
    assert problems[0].expected == (
        "un encabezado «Clave», «Claves», «Clave CNIS», «Clave del insumo», «Clave del Compendio»"
        " o «Clave del cuadro básico» en alguna de las primeras 30 filas"
    )


# ----- shapes of real files ------------------------------------------------------------------


def test_totals_rows_and_empty_rows_are_skipped() -> None:
    content = xlsx(
        {
            "Apéndice": [
                ["APÉNDICE 1 DEMANDA DE MEDICAMENTO"],
                [None, None, None, None, "IMSS", None],
                ["#", "CLAVES", "DESCRIPCIÓN", "UM", "CANTIDAD MIN", "CANTIDAD MAX"],
                ["-", "Total", 2, "-", 50, 125],
                [1, "010.000.0022.00", "Caseinato de calcio", "Pieza", 10, 25],
                [],
                [None, None, None, None, None, None],
                [2, "010.000.0103.00", "Ácido acetilsalicílico", "Pieza", 40, 100],
                ["-", "TOTAL GENERAL", None, None, 50, 125],
                [None, None, "Total de claves", None, 50, 125],
                ["."],
                ["Fuente: Secretaría de Salud"],
            ]
        }
    )

    catalog = read_catalog(content, "apendice.xlsx")

    assert [(str(row.clave), row.row) for row in catalog.rows] == [
        ("010.000.0022.00", 5),
        ("010.000.0103.00", 8),
    ]
    assert catalog.rows_read == 2


def test_header_elsewhere_with_columns_in_another_order() -> None:
    content = xlsx(
        {
            "Léeme": [["Instrucciones: una clave por fila"]],
            "Insumos": [
                ["Catálogo de insumos"],
                [],
                [],
                ["Presentación", "CUCoP +", "CUCoP", "Unidad de medida", "Descripción", "Clave"],
                ["Caja con 10", "25301-1574", "25301574", "Caja", "Paracetamol", "010.000.0104.00"],
                [None, "25401-1360", None, None, "Gasa", "060.066.0021"],
            ],
        }
    )

    catalog = read_catalog(content, "insumos.xlsx")

    assert catalog.sheets == ("Insumos",)
    paracetamol, gasa = catalog.rows
    assert (paracetamol.presentation, paracetamol.cucop, paracetamol.unit, paracetamol.row) == (
        "Caja con 10",
        25301574,
        "Caja",
        5,
    )
    assert (gasa.cucop, gasa.unit, gasa.presentation, gasa.iva_rate) == (
        None,
        None,
        None,
        Decimal("0.16"),
    )


def test_csv_in_cp1252_with_semicolons() -> None:
    content = (
        "Clave CNIS;Descripción;Unidad de medida\r\n"
        "010.000.0103.00;Ácido acetilsalicílico, tableta 500 mg;Pieza\r\n"
        " 060.066.0021 ;Gasa seca, estéril;Paquete\r\n"
    ).encode("cp1252")

    catalog = read_catalog(content, "catálogo.csv")

    assert [(str(r.clave), r.description, r.unit, r.sheet) for r in catalog.rows] == [
        ("010.000.0103.00", "Ácido acetilsalicílico, tableta 500 mg", "Pieza", "catálogo"),
        ("060.066.0021", "Gasa seca, estéril", "Paquete", "catálogo"),
    ]


def test_csv_problems_name_the_file_as_the_sheet() -> None:
    content = b"Clave,Descripcion,CUCoP\n010.000.0104.00,Paracetamol,25.30.15.74\n"

    assert problems_of(content, "insumos.csv") == [
        Problem(
            message="el CUCoP no es un número entero",
            sheet="insumos",
            row=2,
            column="CUCoP",
            value="25.30.15.74",
            expected=CUCOP_EXPECTED,
        )
    ]


def test_not_a_spreadsheet_is_refused() -> None:
    with pytest.raises(ValidationFailed, match="no es una hoja de cálculo"):
        read_catalog(b"%PDF-1.7\n", "catalogo.xlsx")


def test_progress_reaches_the_rows_read() -> None:
    rows: list[list[Cell]] = [["Clave", "Descripción"]]
    rows += [[f"060.066.{n:04d}", f"Insumo {n}"] for n in range(1, 1200)]
    calls: list[tuple[int, int]] = []

    catalog = read_catalog(
        xlsx({"H": rows}), "grande.xlsx", progress=lambda done, total: calls.append((done, total))
    )

    assert len(catalog.rows) == 1199
    assert len(calls) >= 3
    assert calls[-1] == (1200, 1200)
