"""Reading prices for market research: price lists and OCDS data, with no database."""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from abasto.award import prices
from abasto.core.errors import ValidationFailed
from tests.conftest import SHARED, xlsx

PARACETAMOL, ASPIRINA = "010.000.0104.00", "010.000.0101.00"
FICTIONAL = SHARED / "ocds/examples/fictional-1.1"
OCID = "ocds-213czf-000-00001"
PACKAGE = FICTIONAL / f"{OCID}.json"
RECORD = FICTIONAL / "record" / f"{OCID}.json"
CPV = {("CPV", "45233130.0"): PARACETAMOL}
GBP = {"GBP": Decimal("23.05")}
# The fictional example's only priced item: 137,000 GBP, in its award and in its contract.
AMOUNT = Decimal(137000)
AWARD_REF = f"{OCID}/awards/{OCID}-award-01/1.0"
CONTRACT_REF = f"{OCID}/contracts/{OCID}-contract-01/1.0"


def csv(*rows: str, header: str = "Clave,Precio unitario,Moneda,Fecha,Fuente") -> bytes:
    return "\n".join((header, *rows)).encode()


def jsonl(*paths: Path) -> bytes:
    """Several OCDS files as one upload: each document compacted onto its own line."""
    return "\n".join(json.dumps(json.loads(p.read_bytes())) for p in paths).encode()


def problems_of(error: pytest.ExceptionInfo[ValidationFailed]) -> list[tuple[Any, ...]]:
    return [(p.message, p.row, p.column, p.field, p.value) for p in error.value.problems]


# ----- price lists ---------------------------------------------------------------------------


def test_a_price_list_is_read_in_pesos_with_where_each_price_came_from() -> None:
    read = prices.read_price_list(
        csv(
            f'{PARACETAMOL},"$1,234.50",,2025-03-01,IMSS 2025',
            f"{ASPIRINA},2.5,usd,,",
        ),
        "lista.csv",
        {"USD": Decimal("18.20")},
    )

    assert [(o.clave, o.unit_price, o.original_price, o.currency, o.rate) for o in read] == [
        (PARACETAMOL, Decimal("1234.50"), Decimal("1234.50"), "MXN", Decimal(1)),
        (ASPIRINA, Decimal("45.50"), Decimal("2.5"), "USD", Decimal("18.20")),
    ]
    assert [(o.source, o.observed_on) for o in read] == [
        ("IMSS 2025", date(2025, 3, 1)),
        ("lista.csv", None),
    ]
    assert read[0].source_ref != read[1].source_ref


def test_a_price_list_may_be_a_workbook_with_only_the_two_required_columns() -> None:
    content = xlsx({"Precios": [["Clave", "Precio unitario"], [PARACETAMOL, 7.25]]})

    read = prices.read_price_list(content, "lista.xlsx", {})

    assert [(o.clave, o.unit_price, o.source_ref) for o in read] == [
        (PARACETAMOL, Decimal("7.25"), "Precios!2")
    ]


def test_every_problem_of_a_price_list_is_reported_at_once() -> None:
    with pytest.raises(ValidationFailed) as error:
        prices.read_price_list(
            csv(
                "010.000.0104,10,,,",
                f"{PARACETAMOL},cero,,,",
                f"{PARACETAMOL},0,,,",
                f"{ASPIRINA},-3,,,",
                f"{ASPIRINA},4.10,EUR,,",
                f"{PARACETAMOL},4.10,EUR,,",
                f"{PARACETAMOL},4.10,,,",
            ),
            "lista.csv",
            {"USD": Decimal("18.20")},
        )

    assert "5 problemas; no se importó ningún precio" in str(error.value)
    found = problems_of(error)
    assert [p[1:3] for p in found[:4]] == [
        (2, "Clave"),
        (3, "Precio unitario"),
        (4, "Precio unitario"),
        (5, "Precio unitario"),
    ]
    assert found[4][0] == "Moneda EUR sin tipo de cambio (2 precios)"
    assert found[4][3:] == ("rates", "EUR")


def test_a_file_without_the_columns_of_a_price_list_is_refused() -> None:
    with pytest.raises(ValidationFailed, match="no tiene las columnas de una lista de precios"):
        prices.read_price_list(b"Producto,Costo\nParacetamol,3\n", "otra.csv", {})


def test_a_price_list_with_no_rows_is_refused() -> None:
    with pytest.raises(ValidationFailed, match="no tiene precios"):
        prices.read_price_list(csv(), "vacia.csv", {})


# ----- OCDS ----------------------------------------------------------------------------------


def test_the_fictional_release_package_gives_its_award_and_contract_prices_in_pesos() -> None:
    read = prices.read_ocds(PACKAGE.read_bytes(), PACKAGE.name, GBP, CPV)

    # Three of its releases repeat the award, two the contract, which repeats the award's
    # item: one price, dated when the contract was signed.
    assert read.releases == 6
    assert read.items == 5
    assert read.unmatched == 0
    assert [(o.source_ref, o.source) for o in read.observed] == [(CONTRACT_REF, OCID)]
    assert read.observed[0].observed_on == date(2010, 6, 10)
    for observed in read.observed:
        assert observed.clave == PARACETAMOL
        assert observed.unit_price == AMOUNT * GBP["GBP"]
        assert (observed.original_price, observed.currency, observed.rate) == (
            AMOUNT,
            "GBP",
            GBP["GBP"],
        )
        assert observed.observed_on is not None


def test_the_record_and_every_release_file_read_together_count_each_price_once() -> None:
    files = sorted(FICTIONAL.glob("*.json")) + sorted((FICTIONAL / "record").glob("*.json"))
    assert len(files) == 9

    read = prices.read_ocds(jsonl(*files), "todo.jsonl", GBP, CPV)

    assert read.items > 2
    assert [o.source_ref for o in read.observed] == [CONTRACT_REF]
    record = prices.read_ocds(RECORD.read_bytes(), RECORD.name, GBP, CPV)
    assert [o.source_ref for o in record.observed] == [CONTRACT_REF]


def test_a_single_release_is_read_too() -> None:
    release = json.loads(PACKAGE.read_bytes())["releases"][3]

    read = prices.read_ocds(json.dumps(release).encode(), "entrega.json", GBP, CPV)

    assert [o.source_ref for o in read.observed] == [AWARD_REF]


def test_a_json_list_of_records_is_read_as_records() -> None:
    record = json.loads(RECORD.read_bytes())["records"][0]

    read = prices.read_ocds(json.dumps([record, record]).encode(), "registros.json", GBP, CPV)

    assert [o.source_ref for o in read.observed] == [CONTRACT_REF]


def test_classification_ids_and_schemes_published_with_spaces_are_trimmed() -> None:
    release = json.loads(PACKAGE.read_bytes())["releases"][3]
    for award in release["awards"]:
        for item in award["items"]:
            item["classification"]["id"] = f"{item['classification']['id']}   "
            item["classification"]["scheme"] = f" {item['classification']['scheme']} "

    read = prices.read_ocds(json.dumps(release).encode(), "entrega.json", GBP, CPV)

    assert [(o.source_ref, o.clave) for o in read.observed] == [(AWARD_REF, PARACETAMOL)]


def test_items_whose_classification_is_no_clave_are_counted_not_imported() -> None:
    matched = {
        "ocid": "ocds-abasto-9",
        "awards": [{"id": "a", "items": [priced("m", ASPIRINA, scheme="CNIS")]}],
    }

    read = prices.read_ocds(
        jsonl(PACKAGE) + b"\n" + json.dumps(matched).encode(), "mixto.jsonl", GBP, {}
    )

    assert [o.clave for o in read.observed] == [ASPIRINA]
    assert read.unmatched == read.items - 1 == 5
    assert read.unmatched_ids == {"CPV:45233130.0": 5}


def priced(item_id: str, code: str, *, scheme: str = "UNSPSC") -> dict[str, Any]:
    return {
        "id": item_id,
        "classification": {"scheme": scheme, "id": code},
        "unit": {"value": {"amount": 10, "currency": "MXN"}},
    }


def test_a_file_with_no_items_is_refused_with_its_counts() -> None:
    releases = [
        {"ocid": "ocds-x", "tender": {}},
        {"ocid": "ocds-y", "awards": [{"id": "a1"}, {"id": "a2", "items": []}]},
    ]

    with pytest.raises(ValidationFailed) as error:
        prices.read_ocds(json.dumps({"releases": releases}).encode(), "vacio.json", GBP, CPV)

    assert str(error.value.detail) == (
        "«vacio.json»: ninguna adjudicación ni contrato tiene artículos (items): 2 entregas, "
        "2 adjudicaciones y 0 contratos leídos; no se importó ningún precio."
    )


def test_items_without_a_unit_price_are_refused_with_their_count() -> None:
    item = {"id": "i", "classification": {"scheme": "CNIS", "id": ASPIRINA}, "quantity": 4}
    release = {
        "ocid": "ocds-z",
        "awards": [{"id": "a", "items": [item, {**item, "unit": {"name": "pieza"}}]}],
        "contracts": [{"id": "c", "items": [item]}],
    }

    with pytest.raises(ValidationFailed) as error:
        prices.read_ocds(json.dumps(release).encode(), "sinprecio.json", GBP, CPV)

    assert str(error.value.detail).startswith(
        "«sinprecio.json»: 3 artículos en adjudicaciones y contratos, ninguno con precio "
        "unitario (unit.value.amount)"
    )


def test_no_clave_matched_is_refused_naming_the_most_frequent_classifications() -> None:
    counts = {"42": 7, "43": 6, "44": 5, " 45 ": 4, "45": 1, "46": 3, "47": 2}
    items = [
        priced(f"{code}-{n}", code) for code, times in counts.items() for n in range(times)
    ] + [{"id": "sin", "unit": {"value": {"amount": 1, "currency": "MXN"}}}]
    release = {"ocid": "ocds-w", "awards": [{"id": "a", "items": items}]}

    with pytest.raises(ValidationFailed) as error:
        prices.read_ocds(json.dumps(release).encode(), "otros.json", GBP, CPV)

    assert "29 artículos con precio unitario, ninguno con una clave" in str(error.value.detail)
    assert "7 clasificaciones distintas" in str(error.value.detail)
    assert [(p.message, p.value, p.expected) for p in error.value.problems] == [
        ("Clasificación sin clave (7 artículos)", "UNSPSC:42", "«--map UNSPSC:42=CLAVE»"),
        ("Clasificación sin clave (6 artículos)", "UNSPSC:43", "«--map UNSPSC:43=CLAVE»"),
        ("Clasificación sin clave (5 artículos)", "UNSPSC:44", "«--map UNSPSC:44=CLAVE»"),
        ("Clasificación sin clave (5 artículos)", "UNSPSC:45", "«--map UNSPSC:45=CLAVE»"),
        ("Clasificación sin clave (3 artículos)", "UNSPSC:46", "«--map UNSPSC:46=CLAVE»"),
    ]


def test_an_item_classified_by_its_clave_needs_no_mapping() -> None:
    release = {
        "ocid": "ocds-abasto-1",
        "date": "2025-01-15T10:00:00Z",
        "awards": [
            {
                "id": "a1",
                "items": [
                    {
                        "id": "i1",
                        "classification": {"scheme": "CNIS", "id": ASPIRINA},
                        "unit": {"value": {"amount": 3.1, "currency": "MXN"}},
                    }
                ],
            }
        ],
    }

    read = prices.read_ocds(json.dumps(release).encode(), "entrega.json", {}, {})

    assert [(o.clave, o.unit_price, o.observed_on) for o in read.observed] == [
        (ASPIRINA, Decimal("3.10"), date(2025, 1, 15))
    ]


def test_a_currency_without_a_rate_refuses_the_whole_file() -> None:
    with pytest.raises(ValidationFailed) as error:
        prices.read_ocds(PACKAGE.read_bytes(), PACKAGE.name, {"USD": Decimal(18)}, CPV)

    assert problems_of(error) == [
        ("Moneda GBP sin tipo de cambio (2 precios)", None, None, "rates", "GBP")
    ]
    assert error.value.problems[0].expected == (
        "un tipo de cambio a pesos, p. ej. «--rate GBP=20.15»"
    )


def test_a_file_that_is_not_json_is_refused() -> None:
    with pytest.raises(ValidationFailed, match="no es JSON válido") as error:
        prices.read_ocds(b'{"releases": [\n{"ocid": ', "roto.json", GBP, CPV)

    assert error.value.expected is None
    assert error.value.problems[0].expected == prices.OCDS_EXPECTED


@pytest.mark.parametrize(
    "document",
    [{"hola": "mundo"}, [1, 2, 3], {"releases": "ninguna"}, {"records": [{"ocid": "x"}]}],
)
def test_json_that_is_not_ocds_is_refused(document: object) -> None:
    with pytest.raises(ValidationFailed, match="es JSON pero no OCDS"):
        prices.read_ocds(json.dumps(document).encode(), "otro.json", GBP, CPV)


def test_text_that_is_not_utf8_is_refused() -> None:
    with pytest.raises(ValidationFailed, match="no es texto UTF-8"):
        prices.read_ocds("{'precio': 'año'}".encode("latin-1"), "latin.json", GBP, CPV)


def test_malformed_items_are_skipped_or_reported_never_a_crash() -> None:
    release = {
        "ocid": "ocds-abasto-2",
        "contracts": [{"id": "c1", "items": 7}, "contrato"],
        "awards": [
            {
                "id": "a1",
                "items": [
                    "no es un objeto",
                    {"id": "i1", "unit": "tampoco"},
                    {"id": "i2", "unit": {"value": 12}},
                    {
                        "id": "i2b",
                        "classification": "CPV",
                        "additionalClassifications": 5,
                        "unit": {"value": {"amount": 3, "currency": "MXN"}},
                    },
                    {
                        "id": "i3",
                        "classification": {"scheme": "CNIS", "id": ASPIRINA},
                        "unit": {"value": {"amount": "mucho", "currency": "MXN"}},
                    },
                ],
            }
        ],
    }

    with pytest.raises(ValidationFailed) as error:
        prices.read_ocds(json.dumps(release).encode(), "raro.json", {}, {})

    assert problems_of(error) == [
        ("Importe unitario no válido", None, None, "release.awards[0].items[4]", "mucho")
    ]
