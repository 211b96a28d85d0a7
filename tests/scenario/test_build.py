"""The generated scenario: deterministic, national in size, real institutions, valid identities."""

from __future__ import annotations

import csv
import re
import time
from collections import Counter
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

import openpyxl
import pytest

from abasto.core.text import fold
from abasto.identity.rules import (
    STATES_BY_CODE,
    normalize_company_name,
    razon_social_problems,
    rfc_problems,
)
from abasto.scenario.build import Scenario, build_scenario
from abasto.scenario.catalog import _LABORATORY, _MATERIAL, _RADIOLOGY, _family_items, _package_of
from abasto.scenario.suppliers import SANCTIONED_LOOKALIKES

SHARED = Path(__file__).resolve().parents[3] / "shared"
DEMANDA_2023 = SHARED / "data" / "demanda" / "2023-2024.xlsx"
SANCIONADOS = SHARED / "data" / "sancionados" / "ProveedoresyContratistasSancionados.csv"

CLAVE_FORMATS = {
    "010": re.compile(r"010\.000\.\d{4}\.\d{2}"),
    "040": re.compile(r"040\.000\.\d{4}\.\d{2}"),
    "020": re.compile(r"020\.000\.\d{4}\.\d{2}"),
    "060": re.compile(r"060\.\d{3}\.\d{4}"),
    "070": re.compile(r"070\.\d{3}\.\d{4}"),
    "080": re.compile(r"080\.\d{3}\.\d{4}"),
}


@pytest.fixture(scope="module")
def national() -> Scenario:
    return build_scenario(2025, "national")


@pytest.fixture(scope="module")
def small() -> Scenario:
    return build_scenario(2025, "small")


def _header_names(sheet_name: str) -> list[str]:
    workbook = openpyxl.load_workbook(DEMANDA_2023, read_only=True)
    try:
        row = next(workbook[sheet_name].iter_rows(min_row=2, max_row=2, values_only=True))
    finally:
        workbook.close()
    return [str(v).strip() for v in row if v is not None and str(v).strip() != "TOTAL GENERAL"]


def test_same_seed_gives_the_same_scenario(national: Scenario) -> None:
    assert build_scenario(2025, "national") == national
    assert build_scenario(7, "small") == build_scenario(7, "small")


def test_another_seed_gives_another_scenario(national: Scenario) -> None:
    other = build_scenario(2026, "national")
    assert other.claves != national.claves
    assert other.suppliers != national.suppliers
    # The institutions are real, so they do not depend on the seed.
    assert other.institutions == national.institutions


def test_national_catalog_has_the_size_of_the_2025_2026_purchase(national: Scenario) -> None:
    counts = national.counts()
    assert counts["claves"] == 4498
    assert counts["claves.010"] + counts["claves.040"] == 1907
    assert counts["claves.060"] == 1750
    assert counts["claves.020"] == 37
    assert counts["claves.070"] + counts["claves.080"] == 804


@pytest.mark.parametrize("scale", ["national", "small"])
def test_claves_are_unique_and_well_formed(scale: str) -> None:
    scenario = build_scenario(11, "national" if scale == "national" else "small")
    claves = [c.clave for c in scenario.claves]
    assert len(claves) == len(set(claves))
    for clave in scenario.claves:
        assert CLAVE_FORMATS[clave.group].fullmatch(clave.clave), clave.clave
        assert clave.presentation.removesuffix(".") in clave.description
        assert clave.name
        assert clave.unit
        assert clave.cucop is None or 10_000_000 <= clave.cucop <= 99_999_999
        assert isinstance(clave.reference_price, Decimal)
        assert clave.reference_price > 0
        assert clave.reference_price.as_tuple().exponent == -2
    assert sum(c.cucop is not None for c in scenario.claves) > 0.9 * len(claves)


def test_every_material_item_names_its_package() -> None:
    for family in (*_MATERIAL, *_LABORATORY, *_RADIOLOGY):
        for text, _ in _family_items(family):
            _package_of(text)


def test_imss_has_its_35_ooad_and_25_umae(national: Scenario) -> None:
    imss = national.institution("IMSS")
    ooad = imss.units_of_kind("OOAD")
    assert len(ooad) == 35
    names = {u.name for u in ooad}
    for split in ("Estado de México Oriente", "Estado de México Poniente", "Veracruz Norte",
                  "Veracruz Sur", "Ciudad de México Norte", "Ciudad de México Sur"):  # fmt: skip
        assert f"OOAD {split}" in names
    assert {u.state_code for u in ooad} == set(STATES_BY_CODE)
    umae = imss.units_of_kind("UMAE")
    assert len(umae) == 25
    assert "UMAE Hospital de Especialidades CMN Siglo XXI" in {u.name for u in umae}
    assert imss.units_of_kind("almacen")


def test_imss_bienestar_has_at_least_23_state_entities(national: Scenario) -> None:
    entities = national.institution("IMSS-BIENESTAR").units_of_kind("entidad")
    assert len(entities) >= 23
    assert len({u.state_code for u in entities}) == len(entities)


def test_every_ccinshae_hospital_of_the_2023_2024_appendix_is_an_institution(
    national: Scenario,
) -> None:
    hospitals = _header_names("1.1 Detalle CCINSHAE")
    assert len(hospitals) == 23
    spelled = {
        name: i for i in national.institutions for name in (i.name, *i.aliases)
    }  # fmt: skip
    for hospital in hospitals:
        assert hospital in spelled, hospital
        assert spelled[hospital].kind == "CCINSHAE"


def test_every_institution_of_the_2023_2024_appendix_is_named(national: Scenario) -> None:
    spelled = {name for i in national.institutions for name in (i.name, *i.aliases)}
    for header in _header_names("1 Demanda Agregada"):
        assert header in spelled, header


def test_institution_names_and_unit_codes_identify_one_thing(national: Scenario) -> None:
    owners: dict[str, str] = {}
    for institution in (*national.institutions, national.buyer):
        for name in institution.names:
            assert owners.setdefault(fold(name), institution.code) == institution.code, name
    codes = [u.code for _, u in national.units()]
    assert len(codes) == len(set(codes))


def test_every_unit_is_in_a_real_state(national: Scenario) -> None:
    for _, unit in national.units():
        assert unit.state_code in STATES_BY_CODE, unit
    assert len(STATES_BY_CODE) == 32


def test_suppliers_have_unique_valid_rfcs_and_names(national: Scenario) -> None:
    suppliers = national.suppliers
    assert 550 <= len(suppliers) <= 650
    assert len({s.rfc for s in suppliers}) == len(suppliers)
    assert len({normalize_company_name(s.razon_social) for s in suppliers}) == len(suppliers)
    for supplier in suppliers:
        assert rfc_problems(supplier.rfc) == [], supplier.rfc
        assert len(supplier.rfc) == 12
        assert supplier.rfc[3:9] == supplier.incorporated_on.strftime("%y%m%d")
        assert razon_social_problems(supplier.razon_social) == []
        assert supplier.state_code in STATES_BY_CODE
        assert supplier.incorporated_on < supplier.registered_on <= national.as_of
        assert supplier.categories
    recent = [s for s in suppliers if (national.as_of - s.registered_on).days < 365]
    assert 0 < len(recent) < len(suppliers) / 2


def test_every_category_has_several_suppliers(small: Scenario, national: Scenario) -> None:
    for scenario in (small, national):
        supplied = Counter(c for s in scenario.suppliers for c in s.categories)
        for category in ("medicamento", "vacuna", "material_curacion", "radiologia", "laboratorio"):
            assert supplied[category] >= 2, (scenario.scale, category)


def test_the_demo_sanctions_name_invented_companies_spelled_two_ways(
    national: Scenario, small: Scenario
) -> None:
    with SANCIONADOS.open(encoding="utf-8") as handle:
        real = {normalize_company_name(row["Proveedor"]) for row in csv.DictReader(handle)}
    for lookalike in SANCTIONED_LOOKALIKES:
        assert normalize_company_name(lookalike.listed_as) not in real
        assert lookalike.spelled_as != lookalike.listed_as
        assert normalize_company_name(lookalike.spelled_as) == normalize_company_name(
            lookalike.listed_as
        )
    listed = {normalize_company_name(lookalike.listed_as) for lookalike in SANCTIONED_LOOKALIKES}
    for scenario, expected in ((national, 3), (small, 2)):
        matches = [
            s for s in scenario.suppliers if normalize_company_name(s.razon_social) in listed
        ]
        assert len(matches) == expected
        assert all(s.sanctions_lookalike for s in matches)


def test_small_scale_is_small(small: Scenario) -> None:
    counts = small.counts()
    assert 250 <= counts["claves"] <= 350
    for group in ("010", "040", "020", "060", "070", "080"):
        assert counts[f"claves.{group}"] >= 3, group
    assert 30 <= counts["suppliers"] <= 50
    assert {i.code for i in small.institutions} == {
        i.code for i in build_scenario(2025, "national").institutions
    }
    for institution in small.institutions:
        assert 1 <= len(institution.units) <= 4
        assert institution.units_of_kind("almacen"), institution.code


def test_national_build_time_is_recorded(record_property: Callable[[str, object], None]) -> None:
    started = time.perf_counter()
    build_scenario(99, "national")
    record_property("national_build_seconds", round(time.perf_counter() - started, 3))
