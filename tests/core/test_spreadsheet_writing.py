"""The CSV writer neutralises formulas, and the readers undo it and drop bidi controls
(issue 14, item 9)."""

from __future__ import annotations

import csv
import io

import openpyxl

from abasto.core.spreadsheet import CsvWriter, read_sheets


def test_csv_writer_neutralises_and_reader_restores() -> None:
    out = io.StringIO()
    CsvWriter(out).writerows([["nombre", "monto"], ["=HYPERLINK(1)", -5], ["@SUM(1)", "-7.5"]])
    rows = list(csv.reader(io.StringIO(out.getvalue())))
    assert rows[1:] == [["'=HYPERLINK(1)", "-5"], ["'@SUM(1)", "-7.5"]]
    sheet = read_sheets(out.getvalue().encode(), "x.csv")[0]
    assert sheet.rows[1][0] == "=HYPERLINK(1)"


def test_readers_strip_bidi_controls_from_cells() -> None:
    workbook = openpyxl.Workbook()
    workbook.active.append(["Clave", "Fabricante"])
    workbook.active.append(["010.000.0104.00", "Labs \u202eXM\u202c"])
    buffer = io.BytesIO()
    workbook.save(buffer)
    (sheet,) = read_sheets(buffer.getvalue(), "x.xlsx")
    assert sheet.rows[1][1] == "Labs XM"
    (csv_sheet,) = read_sheets("Clave,Fabricante\n1,A\u2066B\u2069\n".encode(), "x.csv")
    assert csv_sheet.rows[1][1] == "AB"
