"""``abasto catalog``, run as a real process against its own committed database."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import func, select

from abasto.catalog.models import Clave, Homologation
from abasto.core import ledger
from abasto.core.context import Context, operator
from abasto.core.db import make_engine, session_factory, transaction
from abasto.identity import service as identity
from tests.catalog.test_service import (
    CATALOG_HEADER,
    SMALL_CATALOG,
    catalog_csv,
    homologation_csv,
    table_csv_bytes,
)
from tests.conftest import T0, invoke_abasto, run_abasto

DEMANDA = Path(__file__).resolve().parents[3] / "shared" / "data" / "demanda"


def counts(url: str) -> tuple[int, int, int]:
    """Claves, homologations and ledger entries committed in the database at ``url``."""
    engine = make_engine(url)
    try:
        with transaction(session_factory(engine)) as db:
            claves = db.scalar(select(func.count()).select_from(Clave)) or 0
            homologations = db.scalar(select(func.count()).select_from(Homologation)) or 0
            return claves, homologations, ledger.head(db)[0]
    finally:
        engine.dispose()


def test_import_the_2023_2024_appendix_twice(fresh_database_url: str, tmp_path: Path) -> None:
    file = str(DEMANDA / "2023-2024.xlsx")

    first = run_abasto(fresh_database_url, tmp_path, "catalog", "import", file)
    again = run_abasto(fresh_database_url, tmp_path, "catalog", "import", file)

    assert first.returncode == 0, first.stderr
    assert "618 nuevas, 0 actualizadas, 0 sin cambios" in first.stdout
    assert again.returncode == 0, again.stderr
    assert "0 nuevas, 0 actualizadas, 618 sin cambios" in again.stdout
    assert counts(fresh_database_url) == (618, 0, 618 + 2)


def test_a_bad_file_prints_every_problem_and_writes_nothing(
    fresh_database_url: str, tmp_path: Path
) -> None:
    good = tmp_path / "catalogo.csv"
    good.write_bytes(catalog_csv())
    bad = tmp_path / "malo.csv"
    bad.write_bytes(
        catalog_csv(
            [
                ("010.000.0104", "Paracetamol sin variante", "Envase", ""),
                ("010.000.0106.00", "", "Envase", ""),
                ("010.000.0107.00", "Con CUCoP de texto", "Envase", "ver nota"),
                ("010.000.9999.00", "Una clave nueva y correcta", "Envase", ""),
            ]
        )
    )
    assert run_abasto(fresh_database_url, tmp_path, "catalog", "import", str(good)).returncode == 0
    before = counts(fresh_database_url)

    result = run_abasto(fresh_database_url, tmp_path, "catalog", "import", str(bad))

    assert result.returncode == 1
    assert "tiene 3 problemas; no se importó ninguna clave" in result.stderr
    assert "fila 2, columna «Clave»" in result.stderr
    assert "fila 3, columna «Descripción»: falta la descripción" in result.stderr
    assert "fila 4, columna «CUCoP»" in result.stderr
    assert "No se escribió nada." in result.stderr
    assert counts(fresh_database_url) == before == (5, 0, 6)


def test_a_missing_file_is_a_spanish_error(fresh_database_url: str, tmp_path: Path) -> None:
    result = run_abasto(
        fresh_database_url, tmp_path, "catalog", "import", str(tmp_path / "no.xlsx")
    )

    assert result.returncode == 1
    assert "No existe el archivo" in result.stderr


def test_homologate_maps_an_institutions_codes(fresh_database_url: str, tmp_path: Path) -> None:
    catalog = tmp_path / "catalogo.csv"
    catalog.write_bytes(catalog_csv())
    table = tmp_path / "imss.csv"
    table.write_bytes(homologation_csv([("1040", "010.000.0104.00"), ("1041", "010.000.0104.01")]))
    assert (
        run_abasto(fresh_database_url, tmp_path, "catalog", "import", str(catalog)).returncode == 0
    )

    unknown = run_abasto(
        fresh_database_url, tmp_path, "catalog", "homologate", str(table), "--institution", "IMSS"
    )
    engine = make_engine(fresh_database_url)
    with transaction(session_factory(engine)) as db:
        identity.register_institution(
            Context(db=db, actor=operator("pruebas"), now=T0),
            code="IMSS",
            name="Instituto Mexicano del Seguro Social",
            kind="seguridad_social",
        )
    engine.dispose()
    result = run_abasto(
        fresh_database_url, tmp_path, "catalog", "homologate", str(table), "--institution", "imss"
    )

    assert unknown.returncode == 1
    assert "No existe la institución «IMSS»" in unknown.stderr
    assert result.returncode == 0, result.stderr
    assert "Homologación de IMSS «imss.csv» importada: 2 nuevas" in result.stdout
    assert counts(fresh_database_url)[:2] == (5, 2)


def test_commands_have_spanish_help(fresh_database_url: str, tmp_path: Path) -> None:
    result = run_abasto(fresh_database_url, tmp_path, "catalog", "--help")

    assert result.returncode == 0
    assert "Importa las claves de un archivo del catálogo" in result.stdout
    assert "Importa la tabla de códigos propios de una institución" in result.stdout


def test_a_csv_in_an_unrecognised_encoding_needs_encoding(
    fresh_database_url: str, tmp_path: Path
) -> None:
    file = tmp_path / "catalogo-dos.csv"
    file.write_bytes(table_csv_bytes(CATALOG_HEADER, SMALL_CATALOG, "cp850"))
    before = counts(fresh_database_url)

    refused = invoke_abasto(fresh_database_url, tmp_path, "catalog", "import", str(file))
    after_refusal = counts(fresh_database_url)
    named = invoke_abasto(
        fresh_database_url, tmp_path, "catalog", "import", str(file), "--encoding", "cp850"
    )

    assert refused[0] == 1
    assert "No se reconoce la codificación del archivo «catalogo-dos.csv»" in refused[2]
    assert "--encoding" in refused[2]
    assert after_refusal == before
    assert named[0] == 0, named[2]
    assert "5 nuevas, 0 actualizadas, 0 sin cambios" in named[1]
