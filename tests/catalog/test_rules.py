from decimal import Decimal

import pytest

from abasto.catalog.rules import (
    CLAVE_EXPECTED,
    GROUPS,
    IVA_GENERAL,
    Category,
    Clave,
    ClaveError,
    group_of,
    parse_clave,
    suggest_clave,
)
from abasto.core.errors import Problem


def test_a_medicine_clave_and_its_parts() -> None:
    clave = parse_clave("010.000.0104.00")

    assert clave == Clave("010.000.0104.00")
    assert str(clave) == "010.000.0104.00"
    assert (clave.group, clave.generic, clave.variant) == ("010", "010.000.0104", "00")
    assert clave.category is Category.MEDICINE
    assert clave.iva_rate == Decimal("0")


def test_a_supply_clave_has_no_variant() -> None:
    clave = parse_clave("060.066.0021")

    assert (clave.group, clave.generic, clave.variant) == ("060", "060.066.0021", None)
    assert clave.category is Category.MEDICAL_SUPPLY
    assert clave.iva_rate == Decimal("0.16")


@pytest.mark.parametrize(
    "raw", [" 010.000.0104.00 ", "010.000. 0104.00", "010.000.0104.00\u00a0", "\t010.000.0104.00\n"]
)
def test_spaces_are_removed(raw: str) -> None:
    assert parse_clave(raw).code == "010.000.0104.00"


@pytest.mark.parametrize(
    ("code", "category", "rate", "label"),
    [
        ("010.000.0104.00", Category.MEDICINE, "0", "Medicamentos"),
        ("020.000.3835.00", Category.VACCINE, "0", "Vacunas y biológicos"),
        ("030.000.0011.00", Category.MEDICINE, "0", "Nutriología"),
        ("040.000.0132.00", Category.MEDICINE, "0", "Psicotrópicos y estupefacientes"),
        ("060.004.0109", Category.MEDICAL_SUPPLY, "0.16", "Material de curación"),
        ("070.707.0041", Category.RADIOLOGY, "0.16", "Material de radiología"),
        ("080.004.0040", Category.LABORATORY, "0.16", "Auxiliares de diagnóstico (laboratorio)"),
        ("531.095.0016", Category.OTHER, "0.16", "Otros insumos (grupo 531)"),
        ("130.258.0434", Category.OTHER, "0.16", "Otros insumos (grupo 130)"),
    ],
)
def test_group_category_and_iva(code: str, category: Category, rate: str, label: str) -> None:
    clave = parse_clave(code)

    assert clave.category is category
    assert clave.iva_rate == Decimal(rate)
    assert isinstance(clave.iva_rate, Decimal)
    assert clave.group_info.label == label


def test_unknown_groups_take_the_general_rate() -> None:
    group = group_of("999")

    assert (group.category, group.iva_rate) == (Category.OTHER, IVA_GENERAL)
    assert not group.is_medicine


def test_every_category_has_a_spanish_label() -> None:
    assert Category.MEDICAL_SUPPLY.label == "Material de curación"
    assert {category.label for category in Category} == {
        "Medicamentos",
        "Vacunas y biológicos",
        "Material de curación",
        "Material de radiología",
        "Auxiliares de diagnóstico (laboratorio)",
        "Otros insumos",
    }


def test_medicine_groups_are_zero_rated_and_the_rest_pay_sixteen_percent() -> None:
    rates = {code: group.iva_rate for code, group in GROUPS.items()}

    assert rates == {
        "010": Decimal("0"),
        "020": Decimal("0"),
        "030": Decimal("0"),
        "040": Decimal("0"),
        "060": Decimal("0.16"),
        "070": Decimal("0.16"),
        "080": Decimal("0.16"),
    }


@pytest.mark.parametrize(
    ("value", "message", "shown"),
    [
        ("010.000.0104", "le falta la variante", "010.000.0104"),
        ("040.000.0132", "grupo 040 (Psicotrópicos y estupefacientes)", "040.000.0132"),
        ("10.000.0104.00", "no tiene la forma del Compendio", "10.000.0104.00"),
        ("010-000-0104-00", "no tiene la forma del Compendio", "010-000-0104-00"),
        ("010.000.0104.0", "no tiene la forma del Compendio", "010.000.0104.0"),
        ("010.000.0104.00.1", "no tiene la forma del Compendio", "010.000.0104.00.1"),
        ("0100000010400", "no tiene la forma del Compendio", "0100000010400"),
        ("Paracetamol", "no tiene la forma del Compendio", "Paracetamol"),
        (10000010400, "capturada como número", "10000010400"),
        (10000010400.0, "capturada como número", "10000010400"),
        (60.066, "capturada como número", "60.066"),
        (Decimal("60.066"), "capturada como número", "60.066"),
        ("  ", "falta la clave", "  "),
        (None, "falta la clave", None),
    ],
)
def test_what_is_not_a_clave_says_why_and_what_was_expected(
    value: object, message: str, shown: str | None
) -> None:
    with pytest.raises(ClaveError) as caught:
        parse_clave(value)

    assert message in caught.value.message
    assert caught.value.value == shown
    assert caught.value.expected == CLAVE_EXPECTED
    assert "GGG.GGG.EEEE.VV" in CLAVE_EXPECTED
    assert "GGG.GGG.EEEE " in CLAVE_EXPECTED


def test_the_value_object_refuses_a_malformed_code() -> None:
    with pytest.raises(ClaveError):
        Clave("junk")


def test_a_clave_error_is_located_as_a_problem() -> None:
    with pytest.raises(ClaveError) as caught:
        parse_clave(10000010400)

    problem = caught.value.problem(sheet="MED_MAT", row=7, column="Clave")

    assert problem == Problem(
        message=caught.value.message,
        sheet="MED_MAT",
        row=7,
        column="Clave",
        value="10000010400",
        expected=CLAVE_EXPECTED,
    )


def test_claves_sort_and_hash_by_their_code() -> None:
    claves = [parse_clave("060.066.0021"), parse_clave("010.000.0104.00"), Clave("010.000.0104.00")]

    assert sorted(set(claves)) == [Clave("010.000.0104.00"), Clave("060.066.0021")]


KNOWN = ["010.000.0104.00", "010.000.0105.00", "060.066.0021", "080.004.0040"]


@pytest.mark.parametrize(
    ("unknown", "suggestion"),
    [
        ("010.000.0104.0", "010.000.0104.00"),
        ("010.000.104.00", "010.000.0104.00"),
        ("010000010400", "010.000.0104.00"),
        ("060.066.0012", "060.066.0021"),
        ("060.066.021", "060.066.0021"),
        ("531.095.0016", None),
        ("Paracetamol", None),
    ],
)
def test_suggest_the_closest_clave(unknown: str, suggestion: str | None) -> None:
    assert suggest_clave(unknown, KNOWN) == suggestion


def test_suggest_accepts_clave_objects() -> None:
    assert suggest_clave("080.004.004", [Clave(code) for code in KNOWN]) == "080.004.0040"
