"""`abasto contracts` in-process against a committed database: create, list, fill rate."""

from __future__ import annotations

from pathlib import Path

import openpyxl

from abasto.contracts import orders_file, service
from abasto.core.context import Context, operator
from abasto.core.db import transaction
from tests.conftest import invoke_abasto
from tests.contracts.factories import committed, signed
from tests.tendering.conftest import PARACETAMOL


def test_the_cli_formalises_a_fallo_and_reports_the_fill_rate(
    fresh_database_url: str, tmp_path: Path, cheap_passwords: None
) -> None:
    with committed(fresh_database_url, tmp_path) as built:
        world, number = built.world, built.tender_number
        code, out, err = invoke_abasto(fresh_database_url, tmp_path, "contracts", "create", number)
        assert code == 0, err
        assert "5 contratos en borrador" in out
        code, out, err = invoke_abasto(fresh_database_url, tmp_path, "contracts", "create", number)
        assert code == 1
        assert "ya se hicieron" in err
        code, out, _ = invoke_abasto(fresh_database_url, tmp_path, "contracts", "list")
        assert code == 0
        assert "5 contratos." in out
        assert "Borrador" in out

        with transaction(built.factory) as db:
            world.db = db
            contract = signed(world, "IMSS", "a")
            service.issue_order(
                Context(db, operator("pruebas"), world.now),
                contract_id=contract.id,
                clave=PARACETAMOL,
                quantity=10,
                unit_code="HGZ-1",
                due_on=world.now.date(),
            )
        code, out, err = invoke_abasto(
            fresh_database_url,
            tmp_path,
            "contracts",
            "fill-rate",
            "--by",
            "clave",
            "--as-of",
            "2030-01-01",
        )
        assert code == 0, err
        assert PARACETAMOL in out
        assert "0.0 %" in out
        code, _, err = invoke_abasto(
            fresh_database_url, tmp_path, "contracts", "fill-rate", "--by", "color"
        )
        assert code == 1
        assert "Dimensión no válida" in err


def test_the_cli_writes_the_orders_template_and_refuses_a_file_of_unknown_contracts(
    fresh_database_url: str, tmp_path: Path
) -> None:
    template = tmp_path / "plantilla.xlsx"
    orders = tmp_path / "ordenes.csv"
    orders.write_text(
        "Contrato,Orden,Clave,Unidad,Cantidad,Fecha de emisión,Fecha límite\n"
        "C-404,OS-1,010.000.0104.00,HGZ-1,10,2026-11-02,2026-11-22\n",
        encoding="utf-8",
    )

    written = invoke_abasto(
        fresh_database_url, tmp_path, "contracts", "import-orders", str(template), "--template"
    )
    refused = invoke_abasto(fresh_database_url, tmp_path, "contracts", "import-orders", str(orders))

    assert written[0] == 0, written[2]
    sheet = openpyxl.load_workbook(template).active
    assert sheet is not None
    assert next(sheet.iter_rows(values_only=True)) == orders_file.TEMPLATE_HEADERS
    assert refused[0] == 1
    assert "no existen" in refused[2]
    assert "fila 2" in refused[2]
    assert "No se escribió nada" in refused[2]
