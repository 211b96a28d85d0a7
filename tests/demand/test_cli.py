"""``abasto demand``, run as a real process against its own committed database."""

from __future__ import annotations

import io
from pathlib import Path

import openpyxl
import polars as pl
from sqlalchemy import func, select

from abasto.catalog import service as catalog
from abasto.core import ledger
from abasto.core.context import Context, operator
from abasto.core.db import make_engine, session_factory, transaction
from abasto.core.text import fold
from abasto.demand import service
from abasto.demand.models import DemandLine
from abasto.demand.rules import Pair
from abasto.identity import service as identity
from abasto.scenario.build import build_scenario
from abasto.scenario.load import DEMO_ROUND, load_scenario
from tests.conftest import T0, invoke_abasto, run_abasto
from tests.demand.test_service import (
    ASPIRINA,
    PARACETAMOL,
    REAL,
    ROUND,
    appendix_file,
    build_world,
    consumption_csv,
    entries,
    history,
    period_sheet,
)


def prepare(url: str, *, real: bool) -> None:
    """Commit the institutions and claves a round needs: the small scenario and the real
    appendix's claves, or the small test sector."""
    engine = make_engine(url)
    try:
        with transaction(session_factory(engine)) as db:
            ctx = Context(db=db, actor=operator("pruebas"), now=T0)
            if real:
                load_scenario(ctx, build_scenario(1, "small"), forecast=False)
                catalog.import_catalog(ctx, content=REAL.read_bytes(), filename=REAL.name)
            else:
                build_world(ctx)
    finally:
        engine.dispose()


def state(url: str) -> tuple[int, int]:
    """Demand lines and ledger entries committed in the database at ``url``."""
    engine = make_engine(url)
    try:
        with transaction(session_factory(engine)) as db:
            lines = db.scalar(select(func.count()).select_from(DemandLine)) or 0
            return lines, ledger.head(db)[0]
    finally:
        engine.dispose()


def demo_lines(url: str) -> int:
    engine = make_engine(url)
    try:
        with transaction(session_factory(engine)) as db:
            return service.round_progress(db, name=DEMO_ROUND).lines
    finally:
        engine.dispose()


def test_open_import_consolidate_and_export_the_real_appendix(
    fresh_database_url: str, tmp_path: Path
) -> None:
    prepare(fresh_database_url, real=True)
    url = fresh_database_url

    opened = run_abasto(url, tmp_path, "demand", "open", "2023-2024", "--periods", "2023,2024")
    imported = run_abasto(url, tmp_path, "demand", "import", str(REAL), "--round", "2023-2024")
    status = run_abasto(url, tmp_path, "demand", "status", "2023-2024")
    out = tmp_path / "salida"
    exported = run_abasto(
        url, tmp_path, "demand", "consolidate", "2023-2024",
        "--xlsx", f"{out}.xlsx", "--csv", f"{out}.csv", "--parquet", f"{out}.parquet",
    )  # fmt: skip

    assert opened.returncode == 0, opened.stderr
    assert "Ronda «2023-2024» abierta: periodos 2023, 2024" in opened.stdout
    assert "mínimo 40 % del máximo" in opened.stdout
    assert imported.returncode == 0, imported.stderr
    assert "35 instituciones, 10,566 líneas (10,566 nuevas" in imported.stdout
    assert status.returncode == 0, status.stderr
    assert "35 enviadas" in status.stdout
    assert exported.returncode == 0, exported.stderr
    assert "618 claves" in exported.stdout
    assert "total mínimo 832,607,777, máximo 2,081,481,629" in exported.stdout
    workbook = openpyxl.load_workbook(f"{out}.xlsx", read_only=True)
    assert workbook.sheetnames == ["Demanda consolidada", "Detalle CCINSHAE"]
    workbook.close()
    assert pl.read_csv(f"{out}.csv").height == pl.read_parquet(f"{out}.parquet").height == 10566
    # The scenario's own demo round holds the other lines.
    assert state(url)[0] == 10566 + demo_lines(url)


def test_freeze_refuses_imports_and_reopen_needs_a_reason(
    fresh_database_url: str, tmp_path: Path
) -> None:
    prepare(fresh_database_url, real=False)
    url = fresh_database_url
    file = tmp_path / "apendice.xlsx"
    file.write_bytes(appendix_file(["IMSS"], [(PARACETAMOL, 40, 100)]))

    frozen = run_abasto(url, tmp_path, "demand", "freeze", "2027-2028")
    before = state(url)
    refused = run_abasto(url, tmp_path, "demand", "import", str(file), "--round", "2027-2028")
    after_refusal = state(url)
    no_reason = run_abasto(url, tmp_path, "demand", "reopen", "2027-2028")
    reopened = run_abasto(
        url, tmp_path, "demand", "reopen", "2027-2028", "--reason", "IMSS corrige su demanda"
    )
    imported = run_abasto(url, tmp_path, "demand", "import", str(file), "--round", "2027-2028")

    assert frozen.returncode == 0, frozen.stderr
    assert "Ronda «2027-2028» congelada." in frozen.stdout
    assert refused.returncode == 1
    assert "La ronda «2027-2028» está congelada" in refused.stderr
    assert "No se escribió nada." in refused.stderr
    assert after_refusal == before
    assert no_reason.returncode == 2
    assert reopened.returncode == 0, reopened.stderr
    assert imported.returncode == 0, imported.stderr
    assert "1 instituciones, 1 líneas" in imported.stdout


def test_a_bad_appendix_prints_every_problem_and_an_unknown_name_can_be_mapped(
    fresh_database_url: str, tmp_path: Path
) -> None:
    prepare(fresh_database_url, real=False)
    url = fresh_database_url
    file = tmp_path / "apendice.xlsx"
    file.write_bytes(
        appendix_file(
            ["IMSS", "SERVICIOS MÉDICOS ISSSTE"],
            [(PARACETAMOL, 40, 100, 4, 10), ("010.000.0140.00", 4, 10, 4, 10)],
        )
    )
    before = state(url)

    refused = run_abasto(url, tmp_path, "demand", "import", str(file), "--round", "2027-2028")
    after_refusal = state(url)
    mapped = run_abasto(
        url, tmp_path, "demand", "map-name", "SERVICIOS MÉDICOS ISSSTE", "--institution", "ISSSTE"
    )
    still = run_abasto(url, tmp_path, "demand", "import", str(file), "--round", "2027-2028")

    assert refused.returncode == 1
    assert "tiene 2 problemas; no se importó ninguna cantidad" in refused.stderr
    column = "columna «SERVICIOS MÉDICOS ISSSTE — CANTIDAD MIN (columna G)»"
    assert f"{column}: la institución no está registrada" in refused.stderr
    assert 'abasto demand map-name "SERVICIOS MÉDICOS ISSSTE" --institution CLAVE' in refused.stderr
    assert (
        "hoja «Apéndice», fila 5, columna «CLAVES (columna B)»: la clave no existe"
        in refused.stderr
    )
    assert "¿quiso decir 010.000.0104.00?" in refused.stderr
    assert after_refusal == before
    assert mapped.returncode == 0, mapped.stderr
    assert "«SERVICIOS MÉDICOS ISSSTE» identifica ahora a ISSSTE." in mapped.stdout
    assert still.returncode == 1
    assert "tiene 1 problema;" in still.stderr


def test_open_with_some_institutions_and_a_wrong_name(
    fresh_database_url: str, tmp_path: Path
) -> None:
    prepare(fresh_database_url, real=False)
    url = fresh_database_url

    opened = run_abasto(
        url, tmp_path, "demand", "open", "Oncológicos 2029", "--periods", "2029",
        "--institutions", "IMSS,ISSSTE", "--min-share", "50%",
    )  # fmt: skip
    refused = run_abasto(url, tmp_path, "demand", "open", "2030", "--periods", "treinta")
    missing = run_abasto(url, tmp_path, "demand", "status", "2031")

    assert opened.returncode == 0, opened.stderr
    assert "2 instituciones, mínimo 50 % del máximo" in opened.stdout
    assert refused.returncode == 1
    assert "«treinta» no es un año" in refused.stderr
    assert missing.returncode == 1
    assert "No existe la ronda de demanda «2031»" in missing.stderr


def test_open_with_a_deadline(fresh_database_url: str, tmp_path: Path) -> None:
    prepare(fresh_database_url, real=False)
    url = fresh_database_url

    opened = run_abasto(
        url, tmp_path, "demand", "open", "2099", "--periods", "2099",
        "--institutions", "IMSS", "--deadline", "2099-03-15",
    )  # fmt: skip
    refused = run_abasto(
        url, tmp_path, "demand", "open", "2098", "--periods", "2098", "--deadline", "15/03/2098"
    )

    assert opened.returncode == 0, opened.stderr
    assert "1 institución, mínimo 40 % del máximo, fecha límite 15/03/2099 23:59" in opened.stdout
    assert refused.returncode == 2
    assert "«15/03/2098» no es una fecha" in refused.stderr


def test_consumption_forecast_and_backtest(fresh_database_url: str, tmp_path: Path) -> None:
    prepare(fresh_database_url, real=False)
    url = fresh_database_url
    engine = make_engine(url)
    with transaction(session_factory(engine)) as db:
        ctx = Context(db=db, actor=operator("pruebas"), now=T0)
        service.set_line(
            ctx, round_name="2027-2028", institution_code="IMSS", clave=PARACETAMOL,
            min_qty=40, max_qty=100, version=None,
        )  # fmt: skip
    engine.dispose()
    file = tmp_path / "consumo.csv"
    rows = []
    for n, unit in enumerate(("IMSS-ALM", "IMSS-OOAD-01", "ISSSTE-ALM")):
        rows += history(unit, PARACETAMOL, 100 + 10 * n, months=30)
    file.write_bytes(consumption_csv(rows))

    imported = run_abasto(url, tmp_path, "demand", "import-consumption", str(file))
    forecast = run_abasto(url, tmp_path, "demand", "forecast", "2027-2028", "--jobs", "1")
    backtest = run_abasto(
        url, tmp_path, "demand", "forecast-backtest", "--holdout", "6", "--jobs", "1"
    )

    assert imported.returncode == 0, imported.stderr
    assert "90 renglones (90 nuevos" in imported.stdout
    assert "de 2024-01 a 2026-06" in imported.stdout
    assert forecast.returncode == 0, forecast.stderr
    assert "2 sugerencias para 2 instituciones (3 series" in forecast.stdout
    assert "Líneas con alerta: 1." in forecast.stdout
    assert backtest.returncode == 0, backtest.stderr
    assert "MASE" in backtest.stdout
    assert "AutoETS" in backtest.stdout
    assert "por patrón" in backtest.stdout


def test_a_missing_file_is_a_spanish_error(fresh_database_url: str, tmp_path: Path) -> None:
    prepare(fresh_database_url, real=False)
    result = run_abasto(
        fresh_database_url, tmp_path, "demand", "import", str(tmp_path / "no.xlsx"),
        "--round", "2027-2028",
    )  # fmt: skip

    assert result.returncode == 1
    assert "No existe el archivo" in result.stderr


def test_an_import_that_would_remove_lines_says_how_many_and_needs_replace(
    fresh_database_url: str, tmp_path: Path
) -> None:
    prepare(fresh_database_url, real=False)
    url = fresh_database_url
    first, smaller, empty = (tmp_path / name for name in ("a.xlsx", "b.xlsx", "vacio.xlsx"))
    first.write_bytes(appendix_file(["IMSS"], [(PARACETAMOL, 40, 100), (ASPIRINA, 2, 5)]))
    smaller.write_bytes(appendix_file(["IMSS"], [(PARACETAMOL, 40, 100)]))
    empty.write_bytes(appendix_file(["IMSS"], []))
    round_args = ("--round", "2027-2028")
    assert invoke_abasto(url, tmp_path, "demand", "import", str(first), *round_args)[0] == 0
    before = state(url)

    header_only = invoke_abasto(
        url, tmp_path, "demand", "import", str(empty), *round_args, "--replace"
    )
    refused = invoke_abasto(url, tmp_path, "demand", "import", str(smaller), *round_args)
    after_refusals = state(url)
    replaced = invoke_abasto(
        url, tmp_path, "demand", "import", str(smaller), *round_args, "--replace"
    )

    assert header_only[0] == 1
    assert "«vacio.xlsx» no tiene ninguna cantidad; no se importó nada" in header_only[2]
    assert refused[0] == 1
    assert "quitaría 1 línea ya capturada; no se importó nada" in refused[2]
    assert "se quitarían 1 línea de IMSS" in refused[2]
    assert "--replace" in refused[2]
    assert after_refusals == before
    assert replaced[0] == 0, replaced[2]
    assert "1 líneas (0 nuevas, 0 modificadas, 1 quitadas, 1 sin cambios)" in replaced[1]
    assert state(url)[0] == before[0] - 1


def test_import_sheet_reads_each_year_and_says_what_it_skipped(
    fresh_database_url: str, tmp_path: Path
) -> None:
    prepare(fresh_database_url, real=False)
    url = fresh_database_url
    sheet, header_only = tmp_path / "anual.xlsx", tmp_path / "encabezado.xlsx"
    sheet.write_bytes(period_sheet([(PARACETAMOL, 40, 100, 44, 110)]))
    header_only.write_bytes(
        openpyxl_bytes([["Clave", "Descripción", "Cantidad mínima", "Cantidad máxima"]])
    )
    args = ("--round", "2027-2028", "--institution", "IMSS")

    empty = invoke_abasto(url, tmp_path, "demand", "import-sheet", str(header_only), *args)
    imported = invoke_abasto(url, tmp_path, "demand", "import-sheet", str(sheet), *args)

    assert empty[0] == 1
    assert "«encabezado.xlsx» no tiene ninguna cantidad" in empty[2]
    assert "Traceback" not in empty[1] + empty[2]
    assert imported[0] == 0, imported[2]
    assert "periodos 2027, 2028: 2 líneas (2 nuevas" in imported[1]
    assert "No se leyó (2):" in imported[1]
    assert "«Importe total — Mínimo (columna H)»" in imported[1]
    assert state(url)[0] == 2


def openpyxl_bytes(rows: list[list[object]]) -> bytes:
    workbook = openpyxl.Workbook()
    for row in rows:
        workbook.active.append(row)
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


# ----- any year's appendix in one pass: names the registry lacks -----------------------------


def _file_by_clave(path: Path) -> dict[str, dict[str, dict[str, tuple[int, int]]]]:
    """Per sheet, per clave, each column's (min, max) as the file has them, «TOTAL GENERAL»
    (the file's own totals column) included; read with openpyxl, apart from Abasto's reader."""
    workbook = openpyxl.load_workbook(path, read_only=True, data_only=True)
    found: dict[str, dict[str, dict[str, tuple[int, int]]]] = {}
    for sheet in workbook.worksheets:
        rows = list(sheet.iter_rows(min_row=2, values_only=True))
        names, data = rows[0], rows[3:]
        found[sheet.title] = {
            str(row[1]): {
                str(names[j]): (int(row[j] or 0), int(row[j + 1] or 0))
                for j in range(4, len(names), 2)
                if names[j] is not None and (row[j] or row[j + 1])
            }
            for row in data
            if row[1]
        }
    workbook.close()
    return found


def _register_a_handful(url: str) -> None:
    """Four institutions, one under a name the file does not use («S.E.D.E.N.A.»)."""
    engine = make_engine(url)
    try:
        with transaction(session_factory(engine)) as db:
            ctx = Context(db=db, actor=operator("pruebas"), now=T0)
            for code, name in (
                ("IMSS", "Instituto Mexicano del Seguro Social"),
                ("ISSSTE", "Instituto de Seguridad y Servicios Sociales de los Trabajadores"),
                ("CCINSHAE", "Comisión Coordinadora de Institutos Nacionales de Salud"),
                ("DEFENSA", "S.E.D.E.N.A."),
            ):
                identity.register_institution(ctx, code=code, name=name, kind="prueba")
    finally:
        engine.dispose()


def test_the_real_appendix_imports_in_one_pass_from_a_fresh_database(
    fresh_database_url: str, tmp_path: Path
) -> None:
    url = fresh_database_url

    def abasto(*args: str) -> str:
        code, out, err = invoke_abasto(url, tmp_path, *args)
        assert code == 0, (args, out, err)
        return out

    abasto("db", "upgrade")
    _register_a_handful(url)
    abasto("catalog", "import", str(REAL))
    abasto("demand", "open", "R", "--periods", "2023,2024")
    code, _, refused = invoke_abasto(url, tmp_path, "demand", "import", str(REAL), "--round", "R")
    imported = abasto(
        "demand", "import", str(REAL), "--round", "R", "--map-suggested", "--register-unknown"
    )
    consolidated = abasto("demand", "consolidate", "R")

    # Without the options: refused, each unknown name with the registry's closest ones.
    assert code == 1
    assert "«SEDENA»" in refused
    assert "los más parecidos: DEFENSA («S.E.D.E.N.A.», 100%)" in refused
    assert "«SEDENA» se asoció a DEFENSA (nombres 100% iguales)." in imported
    assert "«INSABI» se registró como la institución INSABI." in imported
    assert "«SPPS-CENAPRECE» se registró como la institución SPPS-CENAPRECE." in imported
    assert (
        "«INSTITUTO NACIONAL DE CIENCIAS MÉDICAS Y NUTRICIÓN SALVADOR ZUBIRÁN» se registró como"
        " la institución INCMNSZ, coordinada por CCINSHAE." in imported
    )
    assert "35 instituciones, 10,566 líneas (10,566 nuevas" in imported
    assert "total mínimo 832,607,777, máximo 2,081,481,629" in consolidated
    file = _file_by_clave(REAL)
    main, detail = file
    engine = make_engine(url)
    try:
        with transaction(session_factory(engine)) as db:
            consolidation = service.consolidate_round(db, round_name="R")
            codes = {name: i.code for name, i in service.institution_names(db).items()}
            settled = [e.data()["names"] for e in entries(db, "demand.import")]
    finally:
        engine.dispose()
    lines = {line.clave: line for line in consolidation.lines}
    assert lines.keys() == file[main].keys()
    for clave, columns in file[main].items():
        total = columns.pop("TOTAL GENERAL")
        # Clave by clave: the file's own totals column, and the sum of its columns.
        assert lines[clave].total == Pair(*total), clave
        assert lines[clave].total == sum((Pair(*p) for p in columns.values()), Pair(0, 0))
        stated = lines[clave].counted | lines[clave].members.get("CCINSHAE", {})
        assert {codes[fold(name)]: Pair(*p) for name, p in columns.items()}.items() <= (
            stated.items()
        ), clave
    for clave, columns in file[detail].items():
        total = columns.pop("TOTAL GENERAL", (0, 0))
        members = lines[clave].members.get("CCINSHAE", {})
        assert {codes[fold(name)]: Pair(*p) for name, p in columns.items()} == members, clave
        assert sum(members.values(), Pair(0, 0)) == Pair(*total), clave
    # What the options did is on the ledger, with the registrations themselves.
    (names,) = settled
    assert {n["action"] for n in names} == {"mapped", "institution"}
    assert len(names) == 1 + 8 + 23


def test_import_says_what_it_did_and_status_lists_the_observations_to_accept(
    fresh_database_url: str, tmp_path: Path
) -> None:
    url = fresh_database_url
    prepare(url, real=False)
    path = tmp_path / "apendice-2027.xlsx"
    path.write_bytes(
        appendix_file(
            ["IMSS", "ISSTE", "IMSS Zona Norte", "GUARDIA NACIONAL"],
            [(PARACETAMOL, 0, 100, 4, 10, 2, 5, 0, 0), (ASPIRINA, 0, 0, 0, 0, 0, 0, 1, 2)],
        )
    )

    bad = tmp_path / "con-clave-desconocida.xlsx"
    bad.write_bytes(
        appendix_file(["ISSTE", "IMSS Zona Norte"], [("010.000.0140.00", 4, 10, 4, 10)])
    )
    before = state(url)
    refused_file = invoke_abasto(
        url, tmp_path, "demand", "import", str(bad), "--round", ROUND,
        "--map-suggested", "--register-unknown",
    )  # fmt: skip
    after_refusal = state(url)
    imported = invoke_abasto(
        url, tmp_path, "demand", "import", str(path), "--round", ROUND,
        "--map-suggested", "--register-unknown",
    )  # fmt: skip
    status = invoke_abasto(url, tmp_path, "demand", "status", ROUND)
    refused = invoke_abasto(url, tmp_path, "demand", "freeze", ROUND)
    accepted = invoke_abasto(
        url, tmp_path, "demand", "accept", "1", "--round", ROUND, "--reason", "Así lo publicó IMSS"
    )
    frozen = invoke_abasto(url, tmp_path, "demand", "freeze", ROUND)

    # A file refused for another reason maps and registers nothing either: all or nothing.
    assert refused_file[0] == 1
    assert "la clave no existe en el catálogo" in refused_file[2]
    assert after_refusal == before
    assert imported[0] == 0, imported
    assert imported[1].splitlines()[:3] == [
        "«ISSTE» se asoció a ISSSTE (nombres 100% iguales).",
        "«IMSS Zona Norte» se registró como la unidad ZONA-NORTE de IMSS.",
        "«GUARDIA NACIONAL» se registró como la institución GUARDIA-NACIONAL.",
    ]
    assert "4 líneas (4 nuevas" in imported[1]
    assert "1 línea con mínimo menor que el de la ronda se importó" in imported[1]
    assert status[0] == 0, status
    assert "Observaciones: 1 (1 pendientes de corregir o aceptar" in status[1]
    assert "mínimo 0 menor que 40 (máximo 100)" in status[1]
    assert refused[0] == 1
    assert "1 observación pendiente; no se congeló" in refused[2]
    assert accepted[0] == 0, accepted
    assert "Observación 1 aceptada: IMSS, clave" in accepted[1]
    assert frozen[0] == 0, frozen
    assert state(url)[0] == 4


def test_the_real_appendix_imports_into_an_empty_registry(
    fresh_database_url: str, tmp_path: Path
) -> None:
    url = fresh_database_url
    for args in (
        ("catalog", "import", str(REAL)),
        ("demand", "open", "R", "--periods", "2023,2024"),
    ):
        assert invoke_abasto(url, tmp_path, *args)[0] == 0

    code, imported, err = invoke_abasto(
        url, tmp_path, "demand", "import", str(REAL), "--round", "R", "--register-unknown"
    )
    consolidated = invoke_abasto(url, tmp_path, "demand", "consolidate", "R")[1]

    assert code == 0, err
    # Sheet by sheet: CCINSHAE is registered from the first before its detail sheet's hospitals.
    assert "«CCINSHAE» se registró como la institución CCINSHAE." in imported
    assert imported.count(", coordinada por CCINSHAE.") == 23
    assert "35 instituciones, 10,566 líneas (10,566 nuevas" in imported
    assert "total mínimo 832,607,777, máximo 2,081,481,629" in consolidated
    main = next(iter(_file_by_clave(REAL).values()))
    engine = make_engine(url)
    try:
        with transaction(session_factory(engine)) as db:
            lines = {
                line.clave: line.total
                for line in service.consolidate_round(db, round_name="R").lines
            }
    finally:
        engine.dispose()
    assert lines == {clave: Pair(*columns["TOTAL GENERAL"]) for clave, columns in main.items()}
