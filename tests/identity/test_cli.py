"""``abasto suppliers``, run as a real process against its own committed database."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import func, select

from abasto.core import ledger
from abasto.core.db import make_engine, session_factory, transaction
from abasto.identity.models import Sanction, Supplier
from abasto.identity.sanctions import parse_sanctions
from tests.conftest import run_abasto
from tests.identity.test_sanctions import REAL_FILE
from tests.identity.test_service import (
    CLEAN_RFC,
    SANCTIONED_NAME,
    SANCTIONED_RFC,
    small_list,
)


def counts(url: str) -> tuple[int, int, int]:
    """Suppliers, stored sanction rows and ledger entries committed in the database at ``url``."""
    engine = make_engine(url)
    try:
        with transaction(session_factory(engine)) as db:
            suppliers = db.scalar(select(func.count()).select_from(Supplier)) or 0
            sanctions = db.scalar(select(func.count()).select_from(Sanction)) or 0
            return suppliers, sanctions, ledger.head(db)[0]
    finally:
        engine.dispose()


def test_import_sanctioned_names_the_registered_suppliers_it_bars(
    fresh_database_url: str, tmp_path: Path
) -> None:
    registered = run_abasto(
        fresh_database_url,
        tmp_path,
        "suppliers",
        "register",
        "--rfc",
        SANCTIONED_RFC,
        "--razon-social",
        SANCTIONED_NAME,
        "--state",
        "Ciudad de México",
    )
    assert registered.returncode == 0, registered.stderr
    assert "NO ELEGIBLE" not in registered.stdout

    imported = run_abasto(
        fresh_database_url, tmp_path, "suppliers", "import-sanctioned", str(REAL_FILE)
    )

    assert imported.returncode == 0, imported.stderr
    assert "1,504 registros leídos" in imported.stdout
    assert "En la lista aparecen 1 proveedor registrado:" in imported.stdout
    assert f"{SANCTIONED_RFC}  {SANCTIONED_NAME}: 1 sanción (nuevo)" in imported.stdout
    assert "5 advertencias" in imported.stdout
    stored = sum(len(r.name_keys) for r in parse_sanctions(REAL_FILE.read_bytes(), "s.csv"))
    assert counts(fresh_database_url)[:2] == (1, stored)
    assert f"({stored:,} nombres de empresa)" in imported.stdout


def test_a_bad_sanctions_file_exits_1_and_writes_nothing(
    fresh_database_url: str, tmp_path: Path
) -> None:
    good = tmp_path / "sancionados.csv"
    good.write_bytes(small_list("ÚNICA, S.A.", "OTRA, S.A."))
    first = run_abasto(fresh_database_url, tmp_path, "suppliers", "import-sanctioned", str(good))
    assert first.returncode == 0, first.stderr
    before = counts(fresh_database_url)
    bad = tmp_path / "malo.csv"
    bad.write_bytes(small_list("NUEVA, S.A.").replace(b"2015-02-20", b"2015-02-30") + b",,,\n")

    refused = run_abasto(fresh_database_url, tmp_path, "suppliers", "import-sanctioned", str(bad))
    missing = run_abasto(
        fresh_database_url, tmp_path, "suppliers", "import-sanctioned", str(tmp_path / "no.csv")
    )

    assert refused.returncode == 1
    assert "fila 2, columna «FechadeResolucion»" in refused.stderr
    assert "No se escribió nada." in refused.stderr
    assert missing.returncode == 1
    assert "No existe el archivo" in missing.stderr
    assert counts(fresh_database_url) == before
    assert before[1] == 2


def test_register_names_the_wrong_part_of_an_rfc(fresh_database_url: str, tmp_path: Path) -> None:
    wrong_digit = CLEAN_RFC[:-1] + ("0" if CLEAN_RFC[-1] != "0" else "1")

    refused = run_abasto(
        fresh_database_url,
        tmp_path,
        "suppliers",
        "register",
        "--rfc",
        wrong_digit,
        "--razon-social",
        "Farmacéutica de Prueba SA de CV",
    )
    registered = run_abasto(
        fresh_database_url,
        tmp_path,
        "suppliers",
        "register",
        "--rfc",
        CLEAN_RFC,
        "--razon-social",
        "Farmacéutica de Prueba SA de CV",
        "--state",
        "14",
    )

    assert refused.returncode == 1
    assert f"El dígito verificador «{wrong_digit[-1]}» no corresponde" in refused.stderr
    assert "No se escribió nada." in refused.stderr
    assert registered.returncode == 0, registered.stderr
    assert f"registrado con el RFC {CLEAN_RFC}" in registered.stdout
    assert counts(fresh_database_url)[0] == 1
