"""`abasto contracts` in-process against a committed database: create, list, fill rate."""

from __future__ import annotations

from pathlib import Path

from abasto.contracts import service
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
