"""The demand CSV neutralises formula text and keeps numbers (issue 14, item 9)."""

from __future__ import annotations

import csv
import io

import polars as pl
import pytest

from abasto.demand import service


def test_the_demand_csv_neutralises_formula_text(monkeypatch: pytest.MonkeyPatch) -> None:
    frame = pl.DataFrame(
        {"clave": ["010.000.0104.00"], "descripcion": ["=HYPERLINK(1)"], "maximo": [-5]}
    )
    # The writer is under test: the frame stands for a round whose catalog holds that text.
    monkeypatch.setattr(service, "consolidated_frame", lambda db, round_name: frame)
    content = service.export_csv(None, round_name="x")  # type: ignore[arg-type]
    rows = list(csv.DictReader(io.StringIO(content.decode("utf-8-sig"))))
    assert rows == [{"clave": "010.000.0104.00", "descripcion": "'=HYPERLINK(1)", "maximo": "-5"}]
