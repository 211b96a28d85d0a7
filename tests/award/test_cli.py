"""``abasto award``: writing a benchmark instance, solving a file in each mode, bad files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from abasto.award import cli as award_cli
from abasto.award import instance as instance_json
from abasto.award import rules

runner = CliRunner(env={"COLUMNS": "200"})


def run(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(award_cli.app, list(args))
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture(scope="module")
def instance_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("award") / "instancia.json"
    code, stdout, _ = run(
        "bench-instance",
        "--partidas",
        "200",
        "--bids-per-partida",
        "6",
        "--suppliers",
        "30",
        "--seed",
        "5",
        "--out",
        str(out),
    )
    assert code == 0
    assert f"Instancia escrita en {out}: 200 partidas" in stdout
    return out


@pytest.fixture(scope="module")
def solvable_file(instance_file: Path) -> Path:
    """The instance without a minimum lot, for the tests of what ``solve`` prints and writes:
    with the lot of one delivery, proving this instance optimal to the 1e-4 gap takes HiGHS
    about 80 s instead of 0.4 s (the lot itself is tested in tests/award/test_model.py)."""
    raw = json.loads(instance_file.read_text())
    raw["parameters"]["lot_deliveries"] = None
    out = instance_file.with_name("instancia-sin-lote.json")
    out.write_text(json.dumps(raw))
    return out


def test_bench_instance_writes_the_same_instance_for_the_same_seed(
    instance_file: Path, tmp_path: Path
) -> None:
    again = tmp_path / "otra.json"
    args = ["--partidas", "200", "--bids-per-partida", "6", "--suppliers", "30", "--seed", "5"]
    assert run("bench-instance", *args, "--out", str(again))[0] == 0
    assert again.read_bytes() == instance_file.read_bytes()
    inst = instance_json.loads(instance_file.read_bytes())
    assert len(inst.partidas) == 200
    assert inst.parameters.max_supplier_share is not None


@pytest.mark.parametrize(
    ("mode", "label"),
    [
        ("optimal", "óptimo de toda la licitación (HiGHS)"),
        ("lowest", "precio más bajo por partida"),
        ("split", "abastecimiento simultáneo"),
    ],
)
def test_solve_prints_cost_status_gap_and_times(solvable_file: Path, mode: str, label: str) -> None:
    code, stdout, stderr = run("solve", str(solvable_file), "--mode", mode)
    assert code == 0, stderr
    for text in (
        label,
        "Costo total",
        "Brecha de optimalidad",
        "Construcción del modelo",
        "Solución",
        "Partidas adjudicadas",
        "Verificación de restricciones",
        "sin violaciones",
    ):
        assert text in stdout
    assert ("óptimo" if mode == "optimal" else "por regla") in stdout


def test_solve_is_the_optimal_mode_by_default_and_writes_the_award(
    solvable_file: Path, tmp_path: Path
) -> None:
    out = tmp_path / "fallo.json"
    code, stdout, _ = run("solve", str(solvable_file), "--out", str(out))
    assert code == 0
    assert "óptimo de toda la licitación" in stdout
    award = json.loads(out.read_text())
    assert award["mode"] == "optimal"
    assert award["status"] == "optimal"
    inst = instance_json.loads(solvable_file.read_bytes())
    assert len(award["partidas"]) == len(inst.partidas)
    assert {p["status"] for p in award["partidas"]} <= {"adjudicada", "parcial", "desierta"}
    desiertas = [p for p in award["partidas"] if p["status"] != "adjudicada"]
    assert all(p["reason"] in {s.value for s in rules.Shortfall} for p in desiertas)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "No existe el archivo"),
        ("no es json", "El archivo no es JSON válido: línea 1, columna 1"),
        ('{"partidas": [], "bids": [], "suppliers": [{"id": "A", "capacity": 0}]}', "capacidad"),
        (
            '{"partidas": [], "bids": [], "suppliers": [], '
            '"parameters": {"split_shares": [60, 30]}}',
            "suman 90 %, no 100 %",
        ),
    ],
)
def test_a_bad_file_is_a_spanish_error_and_exit_1(
    tmp_path: Path, content: str | None, message: str
) -> None:
    path = tmp_path / "mala.json"
    if content is not None:
        path.write_text(content)
    code, stdout, stderr = run("solve", str(path))
    assert code == 1
    assert stdout == ""
    assert stderr.startswith("Error: ")
    assert message in stderr


def test_an_impossible_generation_is_refused(tmp_path: Path) -> None:
    out = tmp_path / "x.json"
    code, _, stderr = run(
        "bench-instance", "--suppliers", "3", "--bids-per-partida", "5", "--out", str(out)
    )
    assert code == 1
    assert "No puede haber 5 proposiciones por partida con 3 proveedores" in stderr
    assert not out.exists()
