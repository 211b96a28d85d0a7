"""The shipped registry of institutions and units, and syncing it into the database."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import openpyxl
import pytest
from sqlalchemy import func, select

from abasto.core import ledger
from abasto.core.context import Context
from abasto.core.errors import Conflict, ValidationFailed
from abasto.core.ledger import LedgerEntry
from abasto.core.spreadsheet import is_total_label
from abasto.core.text import fold
from abasto.identity import registry, service
from abasto.identity.models import Institution, InstitutionAlias, Unit
from abasto.scenario.institutions import BUYER, IMSS_BIENESTAR_STATES, INSTITUTIONS
from tests.conftest import SHARED, invoke_abasto

APPENDIX = SHARED / "data" / "demanda" / "2023-2024.xlsx"
ADHERED = {
    "Baja California Sur", "Campeche", "Colima", "Ciudad de México", "Guerrero", "Hidalgo",
    "Michoacán", "Morelos", "Nayarit", "Oaxaca", "Puebla", "Quintana Roo", "San Luis Potosí",
    "Sinaloa", "Sonora", "Tabasco", "Tamaulipas", "Tlaxcala", "Veracruz", "Zacatecas",
    "Baja California", "Chiapas", "Durango",
}  # fmt: skip


def appendix_institution_names() -> list[str]:
    """Every institution name of the appendix's header rows (both sheets), totals left out."""
    workbook = openpyxl.load_workbook(APPENDIX, read_only=True)
    try:
        names = [
            value
            for sheet in workbook.worksheets
            for row in sheet.iter_rows(min_row=2, max_row=2, values_only=True)
            for value in row
            if isinstance(value, str) and value.strip() and not is_total_label(value)
        ]
    finally:
        workbook.close()
    return names


def institution(db: object, code: str) -> Institution:
    return service.get_institution(db, code)  # type: ignore[arg-type]


def entries(ctx: Context, action: str) -> list[LedgerEntry]:
    return list(ctx.db.scalars(select(LedgerEntry).where(LedgerEntry.action == action)))


# ----- the data itself -----------------------------------------------------------------------


def test_the_shipped_registry_is_versioned_and_covers_the_sector() -> None:
    shipped = registry.shipped_registry()
    by_code = {i.code: i for i in shipped.institutions}
    assert shipped.version
    imss = by_code["IMSS"]
    assert sum(u.kind == "OOAD" for u in imss.units) == 35
    assert sum(u.kind == "UMAE" for u in imss.units) == 25
    entities = [u for u in by_code["IMSS-BIENESTAR"].units if u.kind == "entidad"]
    assert len(entities) == 32
    prefix = "Coordinación Estatal IMSS-Bienestar "
    assert {u.name.removeprefix(prefix) for u in entities if not u.retired} == ADHERED
    for code in (
        "ISSSTE", "PEMEX", "SEDENA", "SEMAR", "GN", "CCINSHAE", "INCAN", "INCMNSZ", "INER",
        "INNN", "INP", "INPER", "INCICH", "INGER", "INMEGEN", "INR", "INSP", "INPRF", "HGM",
        "HJM", "HGMGG", "HRAEB", "HRAEO", "HRAEPY", "HRAEV", "HRAEI", "HRAECS", "CENSIDA",
        "CENAPRECE", "CNEGSR", "CONASAMA", "CENSIA", "CNTS", "SESA-14", "SESA-19",
    ):  # fmt: skip
        assert code in by_code, code
    assert by_code["INCAN"].parent == "CCINSHAE"
    assert sum(i.kind == "servicios estatales de salud" for i in shipped.institutions) == 32


def test_every_institution_column_of_the_real_appendix_names_a_registry_entry() -> None:
    shipped = registry.shipped_registry()
    known = {fold(name) for i in shipped.institutions for name in registry.names_of(i)}
    names = appendix_institution_names()
    assert len(names) == 12 + 23
    assert [name for name in names if fold(name) not in known] == []


def test_the_demo_uses_the_registry_codes_and_names() -> None:
    by_code = {i.code: i for i in registry.shipped_registry().institutions}
    for spec in (BUYER, *INSTITUTIONS):
        entry = by_code[spec.code]
        assert (entry.name, entry.kind, entry.parent) == (spec.name, spec.kind, spec.coordinator)
        units = {u.code: u for u in entry.units}
        for unit in spec.units:
            assert (units[unit.code].name, units[unit.code].kind) == (unit.name, unit.kind)


def test_the_demo_has_the_entities_of_the_states_the_registry_marks_adhered() -> None:
    by_code = {i.code: i for i in registry.shipped_registry().institutions}
    adhered = {
        u.state_code
        for u in by_code["IMSS-BIENESTAR"].units
        if u.kind == "entidad" and not u.retired
    }
    assert adhered == set(IMSS_BIENESTAR_STATES)


def test_a_registry_with_a_name_given_twice_is_refused_whole() -> None:
    document = json.loads(
        (Path(registry.__file__).parent / registry.SHIPPED).read_text(encoding="utf-8")
    )
    document["institutions"][1]["aliases"].append("ISSSTE")
    document["institutions"][2]["parent"] = "NO-EXISTE"
    with pytest.raises(ValidationFailed) as refused:
        registry.parse_registry(json.dumps(document), "malo.json")
    messages = [str(p) for p in refused.value.problems]
    assert len(messages) == 2
    assert any("ISSSTE" in m and "dos instituciones" in m for m in messages)
    assert any("NO-EXISTE" in m for m in messages)


# ----- syncing -------------------------------------------------------------------------------


def test_sync_from_empty_registers_everything_and_a_second_sync_changes_nothing(
    ctx: Context,
) -> None:
    shipped = registry.shipped_registry()
    plan = service.sync_registry(ctx, shipped)

    assert plan.counts()["institutions_added"] == len(shipped.institutions)
    assert ctx.db.scalar(select(func.count()).select_from(Institution)) == len(shipped.institutions)
    units = sum(len(i.units) for i in shipped.institutions)
    assert ctx.db.scalar(select(func.count()).select_from(Unit)) == units
    jalisco = service.get_unit(ctx.db, institution_code="IMSS-BIENESTAR", code="IMSSB-CE-14")
    durango = service.get_unit(ctx.db, institution_code="IMSS-BIENESTAR", code="IMSSB-CE-10")
    assert jalisco.retired_at is not None
    assert durango.retired_at is None
    assert len(entries(ctx, "institution.register")) == len(shipped.institutions)
    assert len(entries(ctx, "unit.retire")) == 32 - len(ADHERED)
    [summary] = entries(ctx, "registry.sync")
    assert json.loads(summary.payload)["version"] == shipped.version

    seq = ledger.head(ctx.db)[0]
    again = service.sync_registry(ctx, shipped)
    assert again.empty
    assert again.lines() == []
    assert ledger.head(ctx.db)[0] == seq


def test_every_appendix_column_resolves_in_the_database_after_a_sync(ctx: Context) -> None:
    service.sync_registry(ctx, registry.shipped_registry())
    stored = set(ctx.db.scalars(select(InstitutionAlias.folded)))
    assert [n for n in appendix_institution_names() if fold(n) not in stored] == []


def test_a_changed_registry_shows_the_rename_before_applying_it(ctx: Context) -> None:
    shipped = registry.shipped_registry()
    service.sync_registry(ctx, shipped)
    changed = replace(
        shipped,
        version="2027.1",
        institutions=tuple(
            replace(
                i,
                name="Instituto Nacional de Cancerología de México",
                aliases=(*i.aliases, "INCan México"),
                units=tuple(
                    replace(u, name="Almacén General INCan") if u.kind == "almacen" else u
                    for u in i.units
                ),
            )
            if i.code == "INCAN"
            else replace(i, retired=True)
            if i.code == "CIJ"
            else i
            for i in shipped.institutions
        ),
    )

    plan = service.plan_registry_sync(ctx.db, changed)
    assert plan.lines() == [
        "~ nombre de INCAN: «Instituto Nacional de Cancerología» → «Instituto Nacional de"
        " Cancerología de México»",
        "+ otro nombre de INCAN: «Instituto Nacional de Cancerología de México»",
        "+ otro nombre de INCAN: «INCan México»",
        "- institución CIJ retirada",
        "~ nombre de INCAN/INCAN-ALM: «Almacén General Instituto Nacional de Cancerología» →"
        " «Almacén General INCan»",
    ]
    assert institution(ctx.db, "INCAN").name == "Instituto Nacional de Cancerología"

    service.sync_registry(ctx, changed)
    incan = institution(ctx.db, "INCAN")
    assert incan.name == "Instituto Nacional de Cancerología de México"
    # The old name still matches the files that use it.
    assert {fold("Instituto Nacional de Cancerología"), fold("INCan México")} <= {
        a.folded for a in incan.aliases
    }
    assert institution(ctx.db, "CIJ").retired_at is not None
    assert [json.loads(e.payload)["to"] for e in entries(ctx, "institution.rename")] == [
        "Instituto Nacional de Cancerología de México"
    ]
    assert service.plan_registry_sync(ctx.db, changed).empty


def test_a_registry_name_held_by_another_institution_is_refused_and_nothing_applies(
    ctx: Context,
) -> None:
    service.register_institution(ctx, code="ISSSTE-X", name="Otro", kind="x", aliases=["INER"])
    seq = ledger.head(ctx.db)[0]
    with pytest.raises(Conflict) as refused:
        service.sync_registry(ctx, registry.shipped_registry())
    assert any("INER" in str(p) for p in refused.value.problems)
    assert ledger.head(ctx.db)[0] == seq
    assert ctx.db.scalar(select(func.count()).select_from(Institution)) == 1


def test_the_sync_command_shows_then_applies_and_is_idempotent(
    fresh_database_url: str, tmp_path: Path
) -> None:
    code, out, _ = invoke_abasto(fresh_database_url, tmp_path, "institutions", "sync", "--dry-run")
    assert code == 0
    assert "+ institución IMSS «Instituto Mexicano del Seguro Social» con 61 unidades" in out
    assert "--dry-run: no se aplicó nada." in out
    code, out, _ = invoke_abasto(fresh_database_url, tmp_path, "institutions", "sync", "--dry-run")
    assert "--dry-run" in out  # still all to do: the dry run wrote nothing

    code, out, _ = invoke_abasto(fresh_database_url, tmp_path, "institutions", "sync")
    assert code == 0
    assert "+ institución SESA-14" in out
    assert (
        "Aplicado (registro 2026.12.1): 81 instituciones nuevas, 249 unidades nuevas,"
        " 9 unidades retiradas." in out
    )

    code, out, _ = invoke_abasto(fresh_database_url, tmp_path, "institutions", "sync")
    assert code == 0
    assert "ya está al día: no hay cambios" in out


def test_a_fresh_database_synced_takes_the_real_appendix_with_every_institution(
    fresh_database_url: str, tmp_path: Path
) -> None:
    steps = (
        ("institutions", "sync"),
        ("catalog", "import", str(APPENDIX)),
        ("demand", "open", "2023-2024", "--periods", "2023,2024"),
        ("demand", "import", str(APPENDIX), "--round", "2023-2024"),
    )
    for step in steps:
        code, out, err = invoke_abasto(fresh_database_url, tmp_path, *step)
        assert code == 0, (step, err)
    assert "35 instituciones" in out


def test_the_sync_command_shows_a_rename_of_a_changed_registry_file_before_applying_it(
    fresh_database_url: str, tmp_path: Path
) -> None:
    assert invoke_abasto(fresh_database_url, tmp_path, "institutions", "sync")[0] == 0
    document = json.loads(
        (Path(registry.__file__).parent / registry.SHIPPED).read_text(encoding="utf-8")
    )
    document["version"] = "2027.1"
    for entry in document["institutions"]:
        if entry["code"] == "SEMAR":
            entry["name"] = "Secretaría de Marina-Armada de México"
    changed = tmp_path / "registro.json"
    changed.write_text(json.dumps(document, ensure_ascii=False), encoding="utf-8")
    rename = "~ nombre de SEMAR: «Secretaría de Marina» → «Secretaría de Marina-Armada de México»"

    code, shown, _ = invoke_abasto(
        fresh_database_url, tmp_path, "institutions", "sync", "--file", str(changed), "--dry-run"
    )
    assert code == 0
    assert "Cambios del registro 2027.1 (2):" in shown
    assert rename in shown
    code, applied, _ = invoke_abasto(
        fresh_database_url, tmp_path, "institutions", "sync", "--file", str(changed)
    )
    assert rename in applied
    assert "Aplicado (registro 2027.1): 1 institución renombrada, 1 otro nombre." in applied
    code, again, _ = invoke_abasto(
        fresh_database_url, tmp_path, "institutions", "sync", "--file", str(changed)
    )
    assert "El registro 2027.1 ya está al día" in again
    bad = tmp_path / "malo.json"
    bad.write_text('{"version": "x", "institutions": [{"code": "A"}]}', encoding="utf-8")
    code, _, err = invoke_abasto(
        fresh_database_url, tmp_path, "institutions", "sync", "--file", str(bad)
    )
    assert code == 1
    assert "Falta «name»" in err


def test_add_unit_refuses_text_longer_than_its_columns(ctx: Context) -> None:
    service.register_institution(ctx, code="IMSS", name="IMSS", kind="seguridad social")
    with pytest.raises(ValidationFailed) as refused:
        service.add_unit(
            ctx, institution_code="IMSS", unit=service.UnitSpec("U" * 61, "N" * 301, "unidad")
        )
    assert {p.field for p in refused.value.problems} == {"code", "name"}
