import contextvars
import io
import random
import zipfile
from pathlib import Path

import pytest

from abasto.core.errors import Problem, ValidationFailed
from abasto.core.spreadsheet import (
    EXPECTED_FILE,
    MAX_COLUMNS,
    MAX_CSV_BYTES,
    MAX_CSV_CELLS,
    MAX_CSV_ROWS,
    MAX_MEMBERS,
    MAX_RATIO,
    MAX_ROWS,
    MAX_UNPACKED_BYTES,
    Cell,
    Column,
    Sheet,
    TooLarge,
    fill_forward,
    find_header,
    find_headers,
    header_key,
    is_blank,
    is_total_label,
    keep_read,
    read_ahead,
    read_sheets,
    text,
)
from tests.conftest import bomb_xlsx, row_bomb, xlsx

DEMANDA = Path(__file__).resolve().parents[3] / "shared" / "data" / "demanda"

CLAVE = Column("clave", ("Clave", "Claves"))
DESCRIPTION = Column("description", ("Descripción",))
CUCOP = Column("cucop", ("CUCoP",), required=False)
MINIMUM = Column("minimum", ("Mínimo", "Cantidad mín"), required=False, many=True)


def only_sheet(content: bytes, filename: str) -> Sheet:
    (sheet,) = read_sheets(content, filename)
    return sheet


# ----- reading -------------------------------------------------------------------------------


def test_xlsx_gives_every_sheet_with_its_row_numbers() -> None:
    content = xlsx(
        {
            "Catálogo": [["título"], [], ["Clave", "Descripción", None, None]],
            "Notas": [[None, "nota"]],
        }
    )

    sheets = read_sheets(content, "catalogo.xlsx")

    assert [sheet.name for sheet in sheets] == ["Catálogo", "Notas"]
    assert sheets[0].rows == (("título",), (), ("Clave", "Descripción"))
    assert sheets[0].row(3) == ("Clave", "Descripción")
    assert sheets[0].row(4) == ()
    assert sheets[1].row(1) == (None, "nota")


def test_csv_in_cp1252_keeps_accents_and_is_named_after_the_file() -> None:
    content = "Clave,Descripción\r\n010.000.0103.00,Ácido acetilsalicílico. Niño\r\n".encode(
        "cp1252"
    )

    sheet = only_sheet(content, "catálogo 2025.csv")

    assert sheet.name == "catálogo 2025"
    assert sheet.rows == (
        ("Clave", "Descripción"),
        ("010.000.0103.00", "Ácido acetilsalicílico. Niño"),
    )


def test_csv_with_semicolons_keeps_commas_inside_values() -> None:
    content = (
        "Clave;Descripción;UM\n010.000.0104.00;Paracetamol, tableta, 500 mg;Pieza\n;;\n"
    ).encode()

    sheet = only_sheet(content, "c.csv")

    assert sheet.rows == (
        ("Clave", "Descripción", "UM"),
        ("010.000.0104.00", "Paracetamol, tableta, 500 mg", "Pieza"),
        (),
    )


@pytest.mark.parametrize("delimiter", [",", ";", "\t", "|"])
def test_csv_delimiter_is_sniffed(delimiter: str) -> None:
    lines = [["Clave", "Descripción", "UM"], ["060.066.0021", "Gasa", "Paquete"]]
    content = "\n".join(delimiter.join(line) for line in lines).encode()

    assert only_sheet(content, "c.csv").rows == tuple(tuple(line) for line in lines)


def test_csv_quoted_values_keep_their_delimiters() -> None:
    content = b'Clave,Descripci\xc3\xb3n\n010.000.0104.00,"Paracetamol; tableta, 500 mg"\n'

    assert only_sheet(content, "c.csv").row(2) == (
        "010.000.0104.00",
        "Paracetamol; tableta, 500 mg",
    )


@pytest.mark.parametrize("encoding", ["utf-8-sig", "utf-16"])
def test_csv_with_a_byte_order_mark(encoding: str) -> None:
    content = "Clave,Descripción\n010.000.0104.00,Paracetamol\n".encode(encoding)

    assert only_sheet(content, "c.csv").row(1) == ("Clave", "Descripción")


def test_a_workbook_saved_as_csv_is_read_as_a_workbook() -> None:
    content = xlsx({"Hoja1": [["Clave"], ["010.000.0104.00"]]})

    assert only_sheet(content, "catalogo.csv").rows == (("Clave",), ("010.000.0104.00",))


def _workbook_with_a_truncated_sheet() -> bytes:
    source = zipfile.ZipFile(io.BytesIO(xlsx({"Hoja1": [["Clave"], ["010.000.0104.00"]]})))
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for item in source.infolist():
            data = source.read(item.filename)
            if item.filename.startswith("xl/worksheets/"):
                data = data[: len(data) // 2]
            archive.writestr(item, data)
    return buffer.getvalue()


def _zip_of_something_else() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("word/document.xml", "<w:document/>")
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("content", "filename", "detail"),
    [
        (b"%PDF-1.7\n1 0 obj\n<< /Type /Catalog >>\n", "catalogo.xlsx", "no es una hoja"),
        (b"%PDF-1.7\n1 0 obj\n<< /Type /Catalog >>\n", "catalogo.csv", "no es una hoja"),
        (b"%PDF-1.7\n1 0 obj\n<< /Type /Catalog >>\n", "catalogo.pdf", "no es una hoja"),
        (random.Random(7).randbytes(4096), "catalogo.xlsx", "no es una hoja"),
        (random.Random(7).randbytes(4096), "catalogo.csv", "no es un archivo de texto"),
        (b"PK\x03\x04" + random.Random(7).randbytes(512), "catalogo.xlsx", "dañado"),
        (_zip_of_something_else(), "catalogo.xlsx", "dañado"),
        (_workbook_with_a_truncated_sheet(), "catalogo.xlsx", "dañado"),
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(512), "catalogo.xls", "guárdelo como .xlsx"),
    ],
)
def test_what_is_not_a_spreadsheet_is_refused_saying_what_was_expected(
    content: bytes, filename: str, detail: str
) -> None:
    with pytest.raises(ValidationFailed) as caught:
        read_sheets(content, filename)

    assert f"«{filename}»" in caught.value.detail
    assert detail in caught.value.detail
    assert caught.value.expected == EXPECTED_FILE
    assert "un archivo .xlsx o .csv con una fila de encabezados" in str(caught.value)


@pytest.mark.parametrize(
    ("content", "filename", "detail"),
    [
        (b"", "catalogo.xlsx", "está vacío"),
        (b"", "catalogo.csv", "está vacío"),
        (b"\r\n \n;;\n", "catalogo.csv", "no tiene ninguna fila con datos"),
        (xlsx({"Hoja1": [], "Hoja2": [[None, "-"]]}), "catalogo.xlsx", "ninguna fila con datos"),
    ],
)
def test_a_file_without_rows_is_refused(content: bytes, filename: str, detail: str) -> None:
    with pytest.raises(ValidationFailed, match=detail) as caught:
        read_sheets(content, filename)

    assert caught.value.expected == EXPECTED_FILE


def test_progress_is_reported_up_to_the_rows_read() -> None:
    content = xlsx({"A": [[n] for n in range(1, 1201)], "B": [["x"]]})
    calls: list[tuple[int, int]] = []

    read_sheets(content, "big.xlsx", progress=lambda done, total: calls.append((done, total)))

    assert calls[-1] == (1201, 1201)
    assert [done for done, _ in calls] == sorted(done for done, _ in calls)
    assert all(done <= total for done, total in calls)


def test_an_error_in_the_progress_callback_is_not_taken_for_a_damaged_file() -> None:
    class Cancelled(Exception):
        pass

    def cancel(done: int, total: int) -> None:
        raise Cancelled

    with pytest.raises(Cancelled):
        read_sheets(xlsx({"A": [[n] for n in range(600)]}), "big.xlsx", progress=cancel)


# ----- cells ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "blank"),
    [(None, True), ("", True), ("  ", True), ("-", True), (".", True), ("0", False),
     (0, False), ("Total", False)],
)  # fmt: skip
def test_is_blank(value: Cell, blank: bool) -> None:
    assert is_blank(value) is blank


@pytest.mark.parametrize(
    ("value", "expected"),
    [(" Pieza\n de  10 ", "Pieza de 10"), (25301574, "25301574"), (25301574.0, "25301574"),
     (2.5, "2.5"), ("-", None), (None, None)],
)  # fmt: skip
def test_text(value: Cell, expected: str | None) -> None:
    assert text(value) == expected


def test_fill_forward_reads_merged_cells() -> None:
    assert fill_forward((None, "IMSS", None, "ISSSTE", "", None)) == (
        None,
        "IMSS",
        "IMSS",
        "ISSSTE",
        "ISSSTE",
        "ISSSTE",
    )


@pytest.mark.parametrize(
    ("value", "total"),
    [("Total", True), ("TOTAL GENERAL", True), (" totales:", True), ("Gran total", True),
     ("Subtotal IMSS", True), ("010.000.0104.00", False), ("Totalmente", False), (None, False),
     (618, False)],
)  # fmt: skip
def test_is_total_label(value: Cell, total: bool) -> None:
    assert is_total_label(value) is total


def test_header_key_ignores_case_accents_and_spacing_but_not_signs() -> None:
    assert header_key(" DESCRIPCIÓN ") == header_key("Descripcion") == "descripcion"
    assert header_key("No. Partida") == header_key("no partida")
    assert header_key("CUCoP +") != header_key("CUCoP")
    assert header_key(2025) == "2025"


# ----- headers -------------------------------------------------------------------------------


def test_header_is_found_by_name_anywhere_in_the_first_rows_in_any_order() -> None:
    rows: list[list[Cell]] = [
        ["Catálogo de insumos 2025"],
        [],
        ["Elaboró: Coordinación"],
        [None, None, None],
        ["DESCRIPCIÓN", "# ", "cucop", "CLAVES"],
        ["Paracetamol", 1, 25301574, "010.000.0104.00"],
        [],
        ["Gasa", 2, None, "060.066.0021"],
    ]
    sheet = only_sheet(xlsx({"Insumos": rows}), "c.xlsx")

    header = find_header(sheet, [CLAVE, DESCRIPTION, CUCOP])

    assert header is not None
    assert (header.row, header.data_start) == (5, 6)
    assert dict(header.columns) == {"clave": (3,), "description": (0,), "cucop": (2,)}
    assert header.column_name(3) == "CLAVES"
    assert [(number, header.value(row, "clave")) for number, row in header.rows()] == [
        (6, "010.000.0104.00"),
        (8, "060.066.0021"),
    ]
    assert header.above[0] == ("Catálogo de insumos 2025",)


def test_optional_columns_may_be_missing() -> None:
    sheet = Sheet("H", (("Clave", "Descripción"), ("010.000.0104.00", "Paracetamol")))

    header = find_header(sheet, [CLAVE, DESCRIPTION, CUCOP])

    assert header is not None
    assert header.index("cucop") is None
    assert header.value(sheet.row(2), "cucop") is None


def test_a_column_with_a_sign_is_not_taken_for_the_plain_one() -> None:
    sheet = Sheet("H", (("Clave", "Descripción", "CUCoP +", "CUCoP"),))

    header = find_header(sheet, [CLAVE, DESCRIPTION, CUCOP])

    assert header is not None
    assert header.index("cucop") == 3


def test_missing_columns_are_reported_with_the_names_accepted() -> None:
    sheets = (
        Sheet("Datos", (("Listado",), ("Claves", "Desc."), ("010.000.0104.00", "Paracetamol"))),
        Sheet("Notas", (("Estas son notas",),)),
    )

    with pytest.raises(ValidationFailed) as caught:
        find_headers(sheets, [CLAVE, DESCRIPTION, CUCOP])

    assert list(caught.value.problems) == [
        Problem(
            message="falta la columna «Descripción»",
            sheet="Datos",
            row=2,
            expected="un encabezado «Descripción» en la fila de encabezados",
        ),
        Problem(
            message="falta la columna «Clave»",
            sheet="Notas",
            expected="un encabezado «Clave» o «Claves» en alguna de las primeras 30 filas",
        ),
        Problem(
            message="falta la columna «Descripción»",
            sheet="Notas",
            expected="un encabezado «Descripción» en alguna de las primeras 30 filas",
        ),
    ]


def test_sheets_without_a_header_are_left_out_when_another_has_one() -> None:
    sheets = (
        Sheet("Instrucciones", (("Capture una clave por fila",),)),
        Sheet("Catálogo", (("Clave", "Descripción"),)),
    )

    headers = find_headers(sheets, [CLAVE, DESCRIPTION])

    assert [header.sheet.name for header in headers] == ["Catálogo"]


def test_a_header_below_the_rows_scanned_is_not_found() -> None:
    rows: tuple[tuple[Cell, ...], ...] = (*[("relleno",)] * 5, ("Clave", "Descripción"))

    assert find_header(Sheet("H", rows), [CLAVE, DESCRIPTION], scan=5) is None
    assert find_header(Sheet("H", rows), [CLAVE, DESCRIPTION], scan=6) is not None


def test_a_two_row_header_gives_names_from_the_row_below_and_their_groups() -> None:
    rows: list[list[Cell]] = [
        [None, None, 2025, None, 2026, None],
        ["Clave", "Descripción", "Cantidad solicitada", None, "Cantidad solicitada", None],
        [None, None, "Mínimo", "Máximo", "Mínimo", "Máximo"],
        ["010.000.0104.00", "Paracetamol", 40, 100, 44, 110],
    ]
    sheet = only_sheet(xlsx({"MED": rows}), "plantilla.xlsx")

    header = find_header(sheet, [CLAVE, DESCRIPTION, MINIMUM])

    assert header is not None
    assert (header.row, header.data_start) == (2, 4)
    assert header.indexes("minimum") == (2, 4)
    assert [header.column_name(i) for i in (0, 2, 3, 4)] == [
        "Clave",
        "Cantidad solicitada / Mínimo",
        "Cantidad solicitada / Máximo",
        "Cantidad solicitada / Mínimo",
    ]
    assert [header.group(i) for i in (2, 3, 4, 5)] == ["Cantidad solicitada"] * 4
    assert [header.group(i, up=2) for i in (2, 3, 4, 5)] == ["2025", "2025", "2026", "2026"]
    assert header.group(0) is None
    assert [number for number, _ in header.rows()] == [4]


def test_a_second_header_row_is_skipped_even_when_no_wanted_name_is_in_it() -> None:
    rows: list[list[Cell]] = [
        ["Clave", "Descripción", "Presentación", None],
        [None, None, "Unidad", "Cantidad"],
        ["010.000.0104.00", "Paracetamol", "Caja", 10],
    ]
    header = find_header(Sheet("H", tuple(tuple(row) for row in rows)), [CLAVE, DESCRIPTION])

    assert header is not None
    assert header.data_start == 3
    assert header.column_name(3) == "Presentación / Cantidad"


def test_a_totals_row_under_the_header_is_data_not_a_second_header() -> None:
    rows: tuple[tuple[Cell, ...], ...] = (
        ("#", "Claves", "Descripción"),
        ("-", "Total", 618),
        (1, "010.000.0022.00", "Caseinato de calcio"),
    )

    header = find_header(Sheet("H", rows), [CLAVE, DESCRIPTION])

    assert header is not None
    assert header.data_start == 2
    assert header.column_name(0) == "#"


def test_a_row_of_group_labels_is_not_taken_for_the_header() -> None:
    rows: tuple[tuple[Cell, ...], ...] = (
        (None, None, "IMSS", None),
        ("Clave", "Descripción", "Cantidad mín", "Cantidad máx"),
        ("010.000.0104.00", "Paracetamol", 40, 100),
    )

    header = find_header(Sheet("H", rows), [CLAVE, DESCRIPTION, MINIMUM])

    assert header is not None
    assert (header.row, header.data_start) == (2, 3)
    assert header.group(2) == "IMSS"
    assert header.column_name(1) == "Descripción"


# ----- the real appendices -------------------------------------------------------------------


def test_2023_2024_headers_and_institutions() -> None:
    content = (DEMANDA / "2023-2024.xlsx").read_bytes()
    sheets = read_sheets(content, "2023-2024.xlsx")
    minimum = Column("minimum", ("CANTIDAD MIN",), many=True)
    maximum = Column("maximum", ("CANTIDAD MAX",), many=True)

    aggregated, detail = find_headers(sheets, [CLAVE, DESCRIPTION, minimum, maximum])

    assert (aggregated.sheet.name, detail.sheet.name) == (
        "1 Demanda Agregada",
        "1.1 Detalle CCINSHAE",
    )
    assert (aggregated.row, aggregated.data_start) == (3, 4)
    assert aggregated.column_name(aggregated.indexes("clave")[0]) == "CLAVES"
    assert [aggregated.group(i) for i in aggregated.indexes("minimum")] == [
        "IMSS", "INSABI", "ISSSTE", "CCINSHAE", "SEDENA", "SEMAR", "GUARDIA NACIONAL", "OADPRS",
        "SPPS-CENAPRECE", "SPPS-CENSIDA", "SPPS-CNEGSR", "SPPS-SAP", "TOTAL GENERAL",
    ]  # fmt: skip
    # A merged group covers its MAX column too, up to the last column of the sheet.
    assert [aggregated.group(i) for i in aggregated.indexes("maximum")][-1] == "TOTAL GENERAL"
    first_number, first = next(aggregated.rows())
    assert (first_number, aggregated.value(first, "clave")) == (4, "Total")
    groups = [detail.group(i) for i in detail.indexes("minimum")]
    assert len(groups) == 24
    assert groups[-1] == "TOTAL GENERAL"
    assert "INSTITUTO NACIONAL DE CANCEROLOGÍA" in groups


def test_2025_2026_header_spans_two_rows_under_a_row_of_years() -> None:
    content = (DEMANDA / "2025-2026.xlsx").read_bytes()
    (sheet,) = read_sheets(content, "2025-2026.xlsx")
    description = Column("description", ("Descripción del bien ofertado",))

    header = find_header(sheet, [CLAVE, description, CUCOP, MINIMUM])

    assert header is not None
    assert (sheet.name, header.row, header.data_start) == ("MED_MAT", 3, 5)
    assert header.index("cucop") == 2
    requested = [i for i in header.indexes("minimum") if header.group(i) == "Cantidad Solicitada"]
    assert [header.group(i, up=2) for i in requested] == ["2025", "2026"]
    assert header.column_name(requested[0]) == "Cantidad Solicitada / Mínimo"
    last = len(sheet.row(4)) - 1
    assert (header.column_name(last), header.group(last, up=2)) == (
        "Importe total / Máximo",
        "2026",
    )
    numbers = [number for number, _ in header.rows()]
    # The last row holds only a "." in column A: blank, so not a data row.
    assert sheet.row(3905) == (".",)
    assert (numbers[0], numbers[-1], len(numbers)) == (5, 3904, 3900)


def test_a_csv_the_csv_module_cannot_parse_is_a_clear_error() -> None:
    huge_cell = 'Clave,Descripción\n010.000.0104.00,"' + "x" * 200_000 + '"\n'
    with pytest.raises(ValidationFailed, match="no se pudo leer como CSV"):
        read_sheets(huge_cell.encode(), "catalogo.csv")


# ----- limits --------------------------------------------------------------------------------


def _refused(content: bytes, filename: str = "bomba.xlsx") -> TooLarge:
    with pytest.raises(TooLarge) as caught:
        read_sheets(content, filename)
    return caught.value


def test_the_row_bomb_of_issue_14_is_refused_before_it_is_read() -> None:
    bomb = row_bomb()
    assert len(bomb) < 100_000
    refusal = _refused(bomb)
    assert refusal.status == 413
    assert refusal.limit == "tasa de compresión"
    assert refusal.maximum == MAX_RATIO
    assert "excede el límite de tasa de compresión" in refusal.detail
    assert f"el máximo es {MAX_RATIO}" in refusal.detail


def _numbered_rows(first: int, last: int) -> bytes:
    """Rows that pack like real ones (distinct numbers), so only the row count gives them away."""
    return b"".join(
        b'<row r="%d"><c r="A%d"><v>%d</v></c></row>' % (n, n, n * 7919)
        for n in range(first, last + 1)
    )


@pytest.mark.parametrize(
    ("content", "limit"),
    [
        # One cell at the sheet's last row: openpyxl yields a million empty rows before it.
        (bomb_xlsx(b'<row r="1048576"><c r="A1048576"><v>1</v></c></row>'), "filas"),
        (bomb_xlsx(_numbered_rows(1, MAX_ROWS + 1)), "filas"),
        (bomb_xlsx(b"<row><c><v>1</v></c></row>", dimension="A1:A1048576"), "filas"),
        (bomb_xlsx(b'<row r="1"><c r="XFD1"><v>1</v></c></row>', dimension="A1:XFD1"), "columnas"),
    ],
    ids=["last-row", "rows", "dimension-rows", "dimension-columns"],
)
def test_a_workbook_past_a_limit_is_refused_naming_it(content: bytes, limit: str) -> None:
    refusal = _refused(content)
    assert refusal.limit == limit
    assert refusal.value > refusal.maximum
    (problem,) = refusal.problems
    assert problem.expected == f"a lo más {refusal.maximum:,}"


def test_a_workbook_of_too_many_members_is_refused() -> None:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("[Content_Types].xml", b"<Types/>")
        for n in range(MAX_MEMBERS):
            archive.writestr(f"xl/media/image{n}.png", b"x")
    assert _refused(out.getvalue()).limit == "archivos dentro del libro"


def test_a_workbook_that_unpacks_too_large_is_refused() -> None:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("[Content_Types].xml", b"<Types/>")
        archive.writestr("xl/sharedStrings.xml", random.randbytes(MAX_UNPACKED_BYTES // 2))
        archive.writestr("xl/media/image1.png", random.randbytes(MAX_UNPACKED_BYTES // 2 + 1))
    refusal = _refused(out.getvalue())
    assert refusal.limit == "bytes descomprimidos"
    assert refusal.value == MAX_UNPACKED_BYTES + 1 + len(b"<Types/>")


def test_the_read_itself_stops_at_the_limit_when_the_scan_is_fooled(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("abasto.core.spreadsheet._inspect_xlsx", lambda content, filename: None)
    bomb = bomb_xlsx(b'<row r="1048576"><c r="A1048576"><v>1</v></c></row>')
    refusal = _refused(bomb)
    assert (refusal.limit, refusal.value) == ("filas", MAX_ROWS + 1)
    assert "tiene al menos 50,001 y el máximo es 50,000" in refusal.detail


@pytest.mark.parametrize(
    ("content", "limit"),
    [
        (b"Clave,Cantidad\n" * MAX_CSV_ROWS + b"Clave,Cantidad\n", "filas"),
        (b",".join([b"x"] * (MAX_COLUMNS + 1)) + b"\n", "columnas en una fila"),
        ((b",".join([b"1"] * 25) + b"\n") * (MAX_CSV_CELLS // 25 + 1), "celdas"),
        (b"Clave,Cantidad\n" + b"1," * (MAX_CSV_BYTES // 2), "bytes del CSV"),
    ],
    ids=["rows", "columns", "cells", "bytes"],
)
def test_a_csv_past_a_limit_is_refused_naming_it(content: bytes, limit: str) -> None:
    assert _refused(content, "bomba.csv").limit == limit


def test_a_file_read_ahead_is_not_read_again_in_the_same_context() -> None:
    content = xlsx({"Hoja": [["Clave"], ["010.000.0104.00"]]})
    ahead = read_ahead(content, "a.xlsx")
    refused = read_ahead(row_bomb(), "b.xlsx")
    assert isinstance(refused.error, TooLarge)

    def later() -> None:
        keep_read(ahead)
        keep_read(refused)
        assert read_sheets(content, "a.xlsx") is ahead.sheets
        with pytest.raises(TooLarge):
            read_sheets(row_bomb(), "b.xlsx")
        # Other bytes, or the same under another name, are read as usual.
        assert read_sheets(content, "c.xlsx") is not ahead.sheets

    contextvars.copy_context().run(later)
    # Outside that context nothing was kept.
    assert read_sheets(content, "a.xlsx") is not ahead.sheets
