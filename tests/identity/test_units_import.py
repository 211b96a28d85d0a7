"""Units from a file in the layout of the CLUES catalogue: `abasto units import`."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from pathlib import Path

import pytest
from sqlalchemy import func, select

from abasto.core import ledger
from abasto.core.context import Context
from abasto.core.errors import ValidationFailed
from abasto.core.ledger import LedgerEntry
from abasto.identity import registry, service
from abasto.identity.models import Unit
from abasto.identity.rules import STATES
from tests.conftest import invoke_abasto, xlsx

# The headers as the DGIS catalogue writes them (accents and case vary between editions).
HEADER = (
    "CLUES",
    "CLAVE DE LA ENTIDAD",
    "ENTIDAD",
    "MUNICIPIO",
    "CLAVE DE LA INSTITUCION",
    "NOMBRE DE LA INSTITUCIÓN",
    "NOMBRE TIPOLOGIA",
    "NOMBRE DE LA UNIDAD",
    "LATITUD",
    "LONGITUD",
)
INSTITUTIONS = (
    ("IMS", "INSTITUTO MEXICANO DEL SEGURO SOCIAL", "UNIDAD DE MEDICINA FAMILIAR"),
    ("IST", "ISSSTE", "CLINICA HOSPITAL"),
    ("SSA", "SECRETARIA DE SALUD", "CENTRO DE SALUD RURAL"),
    ("IMB", "IMSS-BIENESTAR", "HOSPITAL GENERAL"),
)


def clues_rows(count: int) -> list[tuple[object, ...]]:
    """``count`` establishments spread over the states and four institutions."""
    rows: list[tuple[object, ...]] = []
    for n in range(count):
        state = STATES[n % len(STATES)]
        key, institution, typology = INSTITUTIONS[n % len(INSTITUTIONS)]
        rows.append(
            (
                f"{state.short_name[:2].upper()}{key}{n:06d}",
                state.code,
                state.name.upper(),
                f"MUNICIPIO {n % 17}",
                key,
                institution,
                typology,
                f"{typology} {n}",
                f"{19 + (n % 100) / 100:.6f}",
                f"{-99 - (n % 100) / 100:.6f}",
            )
        )
    return rows


def clues_csv(rows: Sequence[tuple[object, ...]], header: tuple[str, ...] = HEADER) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue().encode("utf-8")


@pytest.fixture
def synced(ctx: Context) -> Context:
    service.sync_registry(ctx, registry.shipped_registry())
    return ctx


def units(ctx: Context) -> int:
    return ctx.db.scalar(select(func.count()).select_from(Unit)) or 0


def entries(ctx: Context, action: str) -> list[LedgerEntry]:
    return list(ctx.db.scalars(select(LedgerEntry).where(LedgerEntry.action == action)))


def test_a_thousand_units_import_and_a_second_import_changes_nothing(synced: Context) -> None:
    ctx = synced
    before = units(ctx)
    rows = clues_rows(1000)

    summary = service.import_units(ctx, content=clues_csv(rows), filename="clues.csv")

    assert (summary.rows, summary.added, summary.updated, summary.unchanged) == (1000, 1000, 0, 0)
    assert units(ctx) == before + 1000
    assert summary.by_institution["IMSS"] == 250
    # "SECRETARIA DE SALUD" is each state's own health services.
    assert sum(n for code, n in summary.by_institution.items() if code.startswith("SESA-")) == 250
    unit = service.get_unit(ctx.db, institution_code="SESA-03", code=rows[2][0])  # type: ignore[arg-type]
    assert unit.kind == "unidad"
    assert unit.typology == "CENTRO DE SALUD RURAL"
    assert unit.municipality == "MUNICIPIO 2"
    assert str(unit.latitude) == "19.020000"
    hospital = service.get_unit(ctx.db, institution_code="IMSS-BIENESTAR", code=str(rows[3][0]))
    assert hospital.kind == "hospital"
    assert len(entries(ctx, "unit.register")) == 1000

    seq = ledger.head(ctx.db)[0]
    again = service.import_units(ctx, content=clues_csv(rows), filename="clues.csv")
    assert (again.added, again.updated, again.unchanged) == (0, 0, 1000)
    assert units(ctx) == before + 1000
    assert ledger.head(ctx.db)[0] == seq + 1  # only the units.import summary

    renamed = [
        (r[0], *r[1:7], f"{r[7]} (renombrada)", *r[8:]) if i < 5 else r for i, r in enumerate(rows)
    ]
    third = service.import_units(ctx, content=clues_csv(renamed), filename="clues.csv")
    assert (third.added, third.updated, third.unchanged) == (0, 5, 995)
    [first, *_] = entries(ctx, "unit.update")
    assert json.loads(first.payload)["to"]["name"].endswith("(renombrada)")


def test_an_xlsx_with_other_spellings_of_the_headers_reads_the_same(synced: Context) -> None:
    header = ("Clues", "Entidad", "Municipio", "Nombre de la Institucion", "Nombre Tipología",
              "Nombre de la Unidad", "Latitud", "Longitud")  # fmt: skip
    rows = [(r[0], r[2], r[3], r[5], r[6], r[7], r[8], r[9]) for r in clues_rows(8)]
    content = xlsx({"CLUES": [("Catálogo de establecimientos de salud",), header, *rows]})

    summary = service.import_units(synced, content=content, filename="clues.xlsx")

    assert summary.added == 8


def test_a_bad_file_is_refused_naming_row_and_column_and_nothing_is_written(
    synced: Context,
) -> None:
    ctx = synced
    rows = clues_rows(20)
    rows[3] = ("X1", *rows[3][1:])
    rows[5] = (*rows[5][:8], "91.5", rows[5][9])
    rows[7] = (*rows[7][:5], "CLINICA PRIVADA DEL SOL", *rows[7][6:])
    rows[9] = (rows[9][0], "99", "ATLANTIDA", *rows[9][3:])
    rows[11] = (rows[10][0], *rows[11][1:])
    before, seq = units(ctx), ledger.head(ctx.db)[0]

    with pytest.raises(ValidationFailed) as refused:
        service.import_units(ctx, content=clues_csv(rows), filename="malo.csv")

    found = {(p.row, p.column) for p in refused.value.problems}
    assert {
        (5, "CLUES"),
        (7, "LATITUD"),
        (11, "ENTIDAD"),
        (13, "CLUES"),
    } <= found
    assert units(ctx) == before
    assert ledger.head(ctx.db)[0] == seq

    # Every problem at once: the unknown institution too.
    [unknown] = [p for p in refused.value.problems if p.row == 9]
    assert (unknown.column, unknown.value) == (
        "NOMBRE DE LA INSTITUCION",
        "CLINICA PRIVADA DEL SOL",
    )
    assert units(ctx) == before


def test_a_unit_out_of_operation_is_imported_retired_once(synced: Context) -> None:
    ctx = synced
    header = (*HEADER, "ESTATUS DE OPERACION")
    rows = [(*r, "EN OPERACION") for r in clues_rows(6)]
    service.import_units(ctx, content=clues_csv(rows, header), filename="clues.csv")
    rows[1] = (*rows[1][:-1], "FUERA DE OPERACIÓN")
    rows.append((*clues_rows(7)[6], "Fuera de operacion"))

    summary = service.import_units(ctx, content=clues_csv(rows, header), filename="clues.csv")

    assert (summary.added, summary.updated, summary.unchanged, summary.retired) == (1, 0, 6, 2)
    closed = service.get_unit(ctx.db, institution_code="ISSSTE", code=str(rows[1][0]))
    assert closed.retired_at is not None
    opened_closed = service.get_unit(ctx.db, institution_code="SESA-07", code=str(rows[6][0]))
    assert opened_closed.retired_at is not None
    assert [json.loads(e.payload)["code"] for e in entries(ctx, "unit.retire")][-2:] == [
        rows[1][0],
        rows[6][0],
    ]
    again = service.import_units(ctx, content=clues_csv(rows, header), filename="clues.csv")
    assert again.retired == 0


def test_a_file_without_the_clues_headers_says_which_are_missing(synced: Context) -> None:
    content = clues_csv(clues_rows(3), header=("CLAVE", *HEADER[1:]))
    with pytest.raises(ValidationFailed) as refused:
        service.import_units(synced, content=content, filename="otro.csv")
    assert any("CLUES" in str(p) for p in refused.value.problems)


def test_the_units_import_command(fresh_database_url: str, tmp_path: Path) -> None:
    assert invoke_abasto(fresh_database_url, tmp_path, "institutions", "sync")[0] == 0
    good = tmp_path / "clues.csv"
    good.write_bytes(clues_csv(clues_rows(40)))
    code, out, err = invoke_abasto(fresh_database_url, tmp_path, "units", "import", str(good))
    assert code == 0, err
    assert "40 unidades leídas; 40 nuevas, 0 actualizadas, 0 sin cambios" in out
    assert "  - IMSS: 10 unidades" in out

    code, out, _ = invoke_abasto(fresh_database_url, tmp_path, "units", "import", str(good))
    assert "0 nuevas, 0 actualizadas, 40 sin cambios" in out

    bad = tmp_path / "malo.csv"
    rows = clues_rows(41)
    rows[40] = ("X", *rows[40][1:])
    bad.write_bytes(clues_csv(rows))
    code, out, err = invoke_abasto(fresh_database_url, tmp_path, "units", "import", str(bad))
    assert code == 1
    assert "fila 42" in err
    assert "No se escribió nada." in err
