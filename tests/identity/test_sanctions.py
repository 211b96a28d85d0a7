"""Reading the SFP list of sanctioned suppliers and matching suppliers against it."""

from __future__ import annotations

import csv
import datetime
import io
from decimal import Decimal
from pathlib import Path

import openpyxl
import pytest

from abasto.core.errors import ValidationFailed
from abasto.identity.sanctions import (
    SanctionRecord,
    find_sanctioned,
    parse_sanctions,
    parse_term_months,
)

REAL_FILE = (
    Path(__file__).resolve().parents[3]
    / "shared"
    / "data"
    / "sancionados"
    / "ProveedoresyContratistasSancionados.csv"
)

# The real file's header, padding and trailing unnamed columns included.
HEADER = [
    "Proveedor",
    "Dependencia",
    "Número de Expediente         ",
    "Hechos",
    "Objeto Social       ",
    "Sentido de Resolución ",
    "Fecha de Notificación",
    "FechadeResolucion",
    "Plazo años - meses               ",
    "Monto",
    "Nombre del Responsable de la información",
    "",
    "",
]
GOOD = [
    "FARMACÉUTICA ÑANDÚ, S.A. DE C.V.",
    "INSTITUTO MEXICANO DEL SEGURO SOCIAL",
    "0007/2015",
    "NO FORMALIZÓ EL CONTRATO.",
    "DISTRIBUCIÓN DE MEDICAMENTOS",
    "SANCIONATORIA CON MULTA E INHABILITACIÓN",
    "2015-03-02",
    "2015-02-20",
    "1 AÑO 6 MESES",
    "$1,234,567.50",
    "LIC. ANA PÉREZ",
    "",
    "",
]


def _csv(rows: list[list[str]], *, encoding: str = "utf-8", delimiter: str = ",") -> bytes:
    out = io.StringIO()
    csv.writer(out, delimiter=delimiter, lineterminator="\n").writerows(rows)
    return out.getvalue().encode(encoding)


def _with(**cells: str) -> list[str]:
    """GOOD with some cells replaced, named by the start of their folded header."""
    row = list(GOOD)
    positions = {"supplier": 0, "facts": 3, "notified": 6, "resolved": 7, "term": 8, "amount": 9}
    for name, value in cells.items():
        row[positions[name]] = value
    return row


def _rejected(data: bytes) -> ValidationFailed:
    with pytest.raises(ValidationFailed) as caught:
        parse_sanctions(data, "sancionados.csv")
    return caught.value


@pytest.fixture(scope="module")
def real_records() -> list[SanctionRecord]:
    return parse_sanctions(REAL_FILE.read_bytes(), REAL_FILE.name)


def test_real_file_parses_every_row(real_records: list[SanctionRecord]) -> None:
    assert len(real_records) == 1504
    assert [record.row for record in real_records] == list(range(2, 1506))


def test_real_file_first_row(real_records: list[SanctionRecord]) -> None:
    first = real_records[0]
    assert first.supplier == "3R INNOVACIÓN Y DISEÑO, S.A. DE  C.V."
    assert first.normalized_name == "3rinnovacionydiseno"
    assert first.agency == "INSTITUTO MEXICANO DEL SEGURO SOCIAL"
    assert first.file_number == "0041/2013"
    assert first.facts == "LA EMPRESA POR CAUSAS IMPUTABLES A ELLA NO FORMALIZO EL CONTRATO."
    assert first.resolution == "SANCIONATORIA CON MULTA"
    assert first.notification_date == datetime.date(2014, 8, 19)
    assert first.resolution_date == datetime.date(2014, 8, 6)
    assert first.term == ""
    assert first.term_months is None
    assert first.amount == Decimal("90664")
    assert first.notes == ()
    assert not first.acquitted


def test_real_rows_with_unquoted_commas_are_realigned(
    real_records: list[SanctionRecord],
) -> None:
    by_row = {record.row: record for record in real_records}
    slid = by_row[965]
    assert slid.supplier == "MARIA DOLORES ROMERO RODRIGUEZ"
    assert slid.facts.endswith(
        "CONTRATO RESPECTIVO, ASI COMO NEGATIVA A LA ENTREGA DE LA GARANTIA DE CUMPLIMIENTO."
    )
    assert slid.corporate_purpose == "COMERCIO AL POR MAYOR DE PINTURAS, ENTRE OTRAS"
    assert slid.resolution == "SANCIONATORIA CON MULTA"
    assert (slid.notification_date, slid.resolution_date) == (
        datetime.date(2014, 10, 29),
        datetime.date(2014, 10, 28),
    )
    assert slid.amount == Decimal("20075.6")
    assert "realineada" in slid.notes[0].message
    assert by_row[1130].amount == Decimal("86190")
    assert by_row[1130].corporate_purpose.count(",") == 2
    assert by_row[939].term_months == 15
    assert by_row[1456].term == "3 MESES"
    realigned = [r.row for r in real_records if any("realineada" in n.message for n in r.notes)]
    assert realigned == [939, 965, 1130, 1456]


def test_real_unreadable_notification_date_is_kept_as_published(
    real_records: list[SanctionRecord],
) -> None:
    [odd] = [record for record in real_records if record.row == 856]
    assert odd.notification_date is None
    assert odd.resolution_date == datetime.date(2016, 12, 30)
    assert odd.notification_text == "2006-Ju-30"
    [note] = odd.notes
    assert (note.row, note.column, note.value) == (856, "Fecha de Notificación", "2006-Ju-30")
    # A readable date needs no published text beside it.
    assert {r.notification_text for r in real_records if r.row != 856} == {""}
    tolerated = [record.row for record in real_records if record.notes]
    assert tolerated == [856, 939, 965, 1130, 1456]


def test_real_terms_read_as_months(real_records: list[SanctionRecord]) -> None:
    with_term = [record for record in real_records if record.term]
    assert with_term
    assert all(record.term_months for record in with_term)


def test_matching_finds_the_real_row_under_another_spelling(
    real_records: list[SanctionRecord],
) -> None:
    found = find_sanctioned(
        [
            (1, "3R INNOVACIÓN Y DISEÑO SA DE CV"),
            (2, "Grupo Integral en Recursos Energéticos, S.A. de C.V."),
            (3, "3R INNOVACIÓN, S.A. DE C.V."),
        ],
        real_records,
    )
    assert set(found) == {1, 2}
    assert [record.row for record in found[1]] == [2]
    assert found[2][0].supplier.startswith("GRUPO CONSTRUCTOR GLOBAL")


def test_matching_returns_every_record_of_a_supplier(
    real_records: list[SanctionRecord],
) -> None:
    found = find_sanctioned([("cyj", "C y J Construcciones SA de CV")], real_records)
    # Six rows spell it "C Y J CONSTRUCCIONES, S.A. DE C.V.", one "…, S.A DE C.V.".
    assert len(found["cyj"]) == 7
    assert len({record.supplier for record in found["cyj"]}) == 2


def test_acquittals_are_marked(real_records: list[SanctionRecord]) -> None:
    assert sum(record.acquitted for record in real_records) == 1


def test_reordered_and_extra_columns_still_parse() -> None:
    order = [9, 7, 0, 5, 2, 1, 3, 6, 8]
    header = ["Observaciones", *(HEADER[i] for i in order)]
    row = ["ninguna", *(GOOD[i] for i in order)]
    [record] = parse_sanctions(_csv([header, row]), "sancionados-2026.csv")
    assert record.supplier == GOOD[0]
    assert record.normalized_name == "farmaceuticanandu"
    assert record.resolution_date == datetime.date(2015, 2, 20)
    assert record.amount == Decimal("1234567.50")
    assert record.term_months == 18
    assert record.corporate_purpose == ""


def test_title_rows_above_the_header_are_skipped() -> None:
    data = _csv([["Proveedores y contratistas sancionados"], [], HEADER, GOOD])
    [record] = parse_sanctions(data, "sancionados.csv")
    assert record.row == 4


def test_bad_rows_reject_the_whole_file_with_row_and_column() -> None:
    data = _csv(
        [
            HEADER,
            GOOD,
            _with(resolved="2015-02-30"),
            _with(amount="MIL PESOS"),
            _with(supplier="  "),
        ]
    )
    error = _rejected(data)
    located = [(p.row, p.column, p.value) for p in error.problems]
    assert located == [
        (3, "FechadeResolucion", "2015-02-30"),
        (4, "Monto", "MIL PESOS"),
        (5, "Proveedor", None),
    ]
    assert all(problem.expected for problem in error.problems)
    assert "3 problemas; no se importó nada" in error.detail


def test_multi_line_cells_keep_spreadsheet_row_numbers() -> None:
    data = _csv([HEADER, _with(facts="PRIMERA LÍNEA\nSEGUNDA LÍNEA"), _with(resolved="ayer")])
    [problem] = _rejected(data).problems
    assert problem.row == 3


def test_unrepairable_overflow_is_rejected() -> None:
    row = [*GOOD[:11], "SOBRA"]
    [problem] = _rejected(_csv([HEADER, row])).problems
    assert problem.row == 2
    assert problem.value == "SOBRA"
    assert "comillas" in (problem.expected or "")


def test_unquoted_comma_in_a_synthetic_row_is_rejoined() -> None:
    row = [*GOOD[:3], "NO ENTREGÓ", " NI PAGÓ", *GOOD[4:11]]
    [record] = parse_sanctions(_csv([HEADER, row]), "sancionados.csv")
    assert record.facts == "NO ENTREGÓ, NI PAGÓ"
    assert record.amount == Decimal("1234567.50")


def test_missing_required_columns_are_all_listed() -> None:
    header = [name for name in HEADER if name not in ("Proveedor", "FechadeResolucion")]
    error = _rejected(_csv([header, GOOD[:11]]))
    assert [problem.message for problem in error.problems] == [
        "Falta la columna «Proveedor».",
        "Falta la columna «Fecha de Resolución».",
    ]


def test_duplicated_column_is_rejected() -> None:
    error = _rejected(_csv([[*HEADER[:11], "Monto de la multa"], GOOD[:12]]))
    assert "«Monto»" in error.problems[0].message


@pytest.mark.parametrize(
    "data",
    [b"", b"  \n\n", b"PK\x03\x04\x14\x00\x06\x00", b"\xd0\xcf\x11\xe0\xa1\xb1", b"a\x00b"],
)
def test_empty_or_binary_files_are_rejected(data: bytes) -> None:
    error = _rejected(data)
    assert "sancionados.csv" in error.detail


def test_text_that_is_not_the_list_is_rejected() -> None:
    error = _rejected(b"clave,descripcion\n010.000.0104.00,PARACETAMOL\n")
    assert any("Proveedor" in problem.message for problem in error.problems)


def test_header_without_records_is_rejected() -> None:
    assert "ningún registro" in _rejected(_csv([HEADER])).detail


def test_windows_1252_and_semicolons_are_read() -> None:
    data = _csv([HEADER, GOOD], encoding="cp1252", delimiter=";")
    [record] = parse_sanctions(data, "sancionados.csv")
    assert record.supplier == "FARMACÉUTICA ÑANDÚ, S.A. DE C.V."


def test_a_windows_1252_line_in_a_utf8_file_keeps_both_readable() -> None:
    data = _csv([HEADER, GOOD]) + _csv([_with(supplier="ÓPTICA MÉDICA, S.A.")], encoding="cp1252")
    records = parse_sanctions(data, "sancionados.csv")
    assert [record.supplier for record in records] == [GOOD[0], "ÓPTICA MÉDICA, S.A."]


def test_utf8_bom_and_day_first_dates_are_read() -> None:
    data = b"\xef\xbb\xbf" + _csv([HEADER, _with(notified="02/03/2015", amount="")])
    [record] = parse_sanctions(data, "sancionados.csv")
    assert record.notification_date == datetime.date(2015, 3, 2)
    assert record.amount is None


@pytest.mark.parametrize(
    ("term", "months"),
    [
        ("3 MESES", 3),
        ("1 AÑO", 12),
        ("2 AÑOS 6 MESES", 30),
        ("1 AÑO Y 1 MES", 13),
        ("TRES MESES", 3),
        ("seis meses", 6),
        ("INDEFINIDO", None),
        ("2010-11-25", None),
        ("", None),
    ],
)
def test_term_months(term: str, months: int | None) -> None:
    assert parse_term_months(term) == months


def test_the_list_saved_as_a_workbook_reads_like_the_csv() -> None:
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    assert sheet is not None
    sheet.append(HEADER[:11])
    row: list[object] = list(GOOD[:11])
    row[6], row[7], row[9] = datetime.datetime(2015, 3, 2), datetime.date(2015, 2, 20), 90664.5
    sheet.append(row)
    buffer = io.BytesIO()
    workbook.save(buffer)

    [record] = parse_sanctions(buffer.getvalue(), "sancionados.xlsx")

    assert record.supplier == GOOD[0]
    assert record.notification_date == datetime.date(2015, 3, 2)
    assert record.resolution_date == datetime.date(2015, 2, 20)
    assert record.amount == Decimal("90664.5")


def test_a_cell_beyond_the_csv_limit_is_a_clear_refusal() -> None:
    error = _rejected(_csv([HEADER, _with(facts="X" * 200_000)]))
    assert "no se pudo leer como CSV" in error.detail
