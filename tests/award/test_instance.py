"""The award instance as JSON: round trips, every problem of a bad file named, the generator."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings

from abasto.award import instance as instance_json
from abasto.award import model, rules
from abasto.award.rules import Instance, Mode, Parameters
from abasto.core.errors import ValidationFailed
from tests.award.test_model import small_instances
from tests.award.test_rules import bid, instance, partida


def sample() -> dict[str, Any]:
    inst = instance(
        [partida(1, budget="105.00", critical=True), partida(2, max_qty=40)],
        [
            bid("B1", "A", [(1, "95.00", 100), (2, "10.50", 40)]),
            bid("B2", "B", [(1, "99.00", 80)], minute=3, compliant=False),
        ],
        capacities={"A": 120, "B": None},
        parameters=Parameters(max_supplier_share=Decimal("0.15")),
    )
    data: dict[str, Any] = json.loads(instance_json.dumps(inst))
    return data


def problems(data: Any) -> list[tuple[str | None, str]]:
    with pytest.raises(ValidationFailed) as caught:
        instance_json.loads(json.dumps(data))
    return [(p.field, p.message) for p in caught.value.problems]


@settings(max_examples=60, deadline=None, derandomize=True)
@given(small_instances())
def test_an_instance_survives_a_round_trip(inst: Instance) -> None:
    assert instance_json.loads(instance_json.dumps(inst)) == inst


def test_the_documented_shape_reads_with_defaults_and_numbers() -> None:
    text = """{
      "partidas": [{"number": 1, "clave": "010.000.0104.00", "max_qty": 12000,
                    "reference_price": 45.1}],
      "suppliers": [{"id": "PR-0001"}],
      "bids": [{"id": "B-1", "supplier": "PR-0001", "received_at": "2026-11-02T10:15:00-06:00",
                "lines": [{"partida": 1, "unit_price": "44.80", "offered_qty": 12000}]}]
    }"""
    inst = instance_json.loads(text)
    assert inst.parameters == Parameters()
    assert inst.partidas[0].reference_price == Decimal("45.10")
    assert inst.partidas[0].budget_price is None
    assert inst.suppliers[0].capacity is None
    assert inst.bids[0].lines[0].compliant is True


def test_every_problem_of_a_file_is_named_with_its_place() -> None:
    data = sample()
    data["parameters"]["split_shares"] = ["60", "30"]
    data["parameters"]["split_margin"] = "0.15"
    data["partidas"][0]["reference_price"] = "12.345"
    data["partidas"][1]["max_qty"] = 2.5
    data["suppliers"][0]["capacity"] = 0
    data["bids"][0]["received_at"] = "2026-11-02 10:00"
    data["bids"][1]["lines"][0]["unit_price"] = "caro"
    data["bids"][1]["supplier"] = "C"
    found = problems(data)
    assert found == [
        ("partidas[0].reference_price", "tiene más de 2 decimales"),
        ("partidas[1].max_qty", "no es un número entero"),
        ("bids[1].lines[0].unit_price", "no es un número"),
    ]
    # Values that read well are then judged by the rules, every one at once.
    data["partidas"][0]["reference_price"] = "12.34"
    data["partidas"][1]["max_qty"] = 2
    data["bids"][1]["lines"][0]["unit_price"] = "9.99"
    assert problems(data) == [
        (
            "parameters.split_margin",
            "el margen del abastecimiento simultáneo no puede exceder 10 %",
        ),
        (
            "parameters.split_shares",
            "los porcentajes del abastecimiento simultáneo suman 90 %, no 100 %",
        ),
        ("suppliers[0].capacity", "la capacidad debe ser positiva o no declararse"),
        ("bids[0].received_at", "la hora de recepción no indica su zona horaria"),
        ("bids[1].supplier", "el proveedor no está en la lista de proveedores"),
    ]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "El archivo no es JSON válido: línea 1, columna 1"),
        ("{", "El archivo no es JSON válido"),
        ("[1, 2]", "El archivo no contiene un objeto JSON"),
        (b"\xff\xfe{", "El archivo no"),
    ],
)
def test_a_file_that_is_not_an_instance_says_so(text: str | bytes, message: str) -> None:
    with pytest.raises(ValidationFailed) as caught:
        instance_json.loads(text)
    assert str(caught.value).startswith(message)
    assert "archivo JSON de instancia" in str(caught.value)


def test_missing_lists_and_wrong_types_are_named() -> None:
    assert problems({"partidas": {}, "bids": [1]}) == [
        ("partidas", "no es una lista"),
        ("suppliers", "falta la lista"),
        ("bids[0]", "no es un objeto"),
    ]


def test_the_result_as_json_has_winners_and_reasons() -> None:
    data = sample()
    data["parameters"]["max_supplier_share"] = None
    inst = instance_json.loads(json.dumps(data))
    result = model.solve_optimal(inst)
    data = instance_json.result_as_dict(result)
    assert data["mode"] == "optimal"
    # A can deliver 120 of the 140 units it offers: the dearer partida goes short.
    assert Decimal(data["objective"]) == result.objective
    first, second = data["partidas"]
    assert first["winners"] == [
        {"bid": "B1", "supplier": "A", "quantity": 80, "unit_price": "95.00", "total": "7600.00"}
    ]
    assert (first["status"], first["uncovered"], first["reason"]) == (
        "parcial",
        20,
        "capacidad_insuficiente",
    )
    assert first["suppliers_short"] == 0  # B is not compliant: only A can count
    assert second["status"] == "adjudicada"
    json.dumps(data)  # plain JSON throughout


# ----- the generator -------------------------------------------------------------------------


def test_the_generator_is_deterministic_for_a_seed() -> None:
    one = instance_json.generate(partidas=120, bids_per_partida=5, suppliers=30, seed=3)
    again = instance_json.generate(partidas=120, bids_per_partida=5, suppliers=30, seed=3)
    other = instance_json.generate(partidas=120, bids_per_partida=5, suppliers=30, seed=4)
    assert instance_json.dumps(one) == instance_json.dumps(again)
    assert instance_json.dumps(one) != instance_json.dumps(other)
    assert len({p.clave for p in one.partidas}) == 120


def test_a_generated_instance_is_realistic_and_has_a_feasible_award() -> None:
    inst = instance_json.generate(partidas=400, bids_per_partida=8, suppliers=60, seed=11)
    rules.validated(inst)
    evaluation = rules.evaluate(inst)
    found = {f.outcome for lines in evaluation.lines.values() for x in lines for f in x.findings}
    assert found == set(rules.Outcome)  # every kind of insolvency occurs
    assert any(s.capacity for s in inst.suppliers)
    lowest = rules.award_by_rule(inst, Mode.LOWEST)
    broken = {v.rule for v in rules.check(inst, lowest, tender_wide=True)}
    assert {"capacidad", "participacion"} <= broken  # both constraints bind
    # One thread: the suite's other worker has the other core (two took longer on two cores).
    optimal = model.solve_optimal(inst, threads=1)
    assert rules.check(inst, optimal) == []
    # Nothing is left uncovered that the lowest prices would cover: a feasible award exists.
    assert [a.uncovered for a in optimal.partidas] == [a.uncovered for a in lowest.partidas]


def test_more_bids_per_partida_than_suppliers_is_refused() -> None:
    with pytest.raises(ValidationFailed, match="No puede haber 5 proposiciones"):
        instance_json.generate(partidas=3, bids_per_partida=5, suppliers=4, seed=1)
