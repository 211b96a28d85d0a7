"""The whole-tender model: infeasible instances, the share rule, critical partidas, and its optimum
against an exhaustive enumeration of every integer allocation on many small random instances."""

from __future__ import annotations

import itertools
import math
from collections import defaultdict
from decimal import Decimal
from typing import Any

import pytest
from highspy import HighsStatus
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from abasto.award import instance as instance_json
from abasto.award import model, rules
from abasto.award.rules import AwardResult, Instance, Mode, Parameters, Shortfall
from abasto.core.highs import run as highs_run
from tests.award.test_rules import bid, instance, partida, quantities


def totals(result: AwardResult) -> tuple[int, int, Decimal]:
    return (
        sum(a.uncovered for a in result.partidas),
        sum(a.suppliers_short for a in result.partidas),
        result.objective,
    )


# ----- infeasible instances, shares, critical partidas ---------------------------------------


def test_capacity_short_leaves_the_partida_partly_desierta_instead_of_failing() -> None:
    # B is beyond the margin of A and A's line offers the whole demand: B may not take any.
    inst = instance(
        [partida(1, max_qty=100)],
        [bid("B1", "A", [(1, "90.00", 100)]), bid("B2", "B", [(1, "105.00", 100)], minute=1)],
        capacities={"A": 30},
    )
    result = model.solve_optimal(inst)
    assert result.status == "optimal"
    (award,) = result.partidas
    assert quantities(result) == {"B1": 30}
    assert (award.status, award.uncovered) == ("parcial", 70)
    assert award.reason is not None
    assert award.reason.code is Shortfall.CAPACITY
    assert "A" in award.reason.message
    assert rules.check(inst, result) == []


def test_a_maximum_share_no_award_can_meet_leaves_everything_desierta() -> None:
    # One supplier can never have at most half of a total that is all its own.
    inst = instance(
        [partida(1), partida(2)],
        [bid("B1", "A", [(1, "90.00", 100), (2, "90.00", 100)])],
        parameters=Parameters(max_supplier_share=Decimal("0.5")),
    )
    result = model.solve_optimal(inst)
    assert result.objective == 0
    assert [a.status for a in result.partidas] == ["desierta", "desierta"]
    assert {a.reason.code for a in result.partidas if a.reason} == {Shortfall.MAX_SHARE}
    assert rules.check(inst, result) == []


def test_the_maximum_share_is_of_the_total_awarded_value() -> None:
    inst = instance(
        [partida(1), partida(2)],
        [
            bid("B1", "A", [(1, "90.00", 100), (2, "90.00", 100)]),
            bid("B2", "B", [(1, "99.00", 100), (2, "99.00", 100)], minute=1),
        ],
        parameters=Parameters(max_supplier_share=Decimal("0.6")),
    )
    result = model.solve_optimal(inst, rel_gap=0.0)
    values = {s: v for s, (_, v) in rules.supplier_totals(result).items()}
    assert values["A"] <= Decimal("0.6") * result.objective
    # The cheapest split that keeps A at 60 %: 90·a ≤ 0.6 (90·a + 99·(200 − a)) → a ≤ 124.
    assert values["A"] == 124 * Decimal("90.00")
    assert rules.check(inst, result) == []


def test_a_critical_partida_gets_its_suppliers_each_with_the_counting_minimum() -> None:
    params = Parameters(min_suppliers_critical=2, critical_min_share=Decimal("0.3"))
    inst = instance(
        [partida(1, max_qty=10, critical=True)],
        [bid("B1", "A", [(1, "90.00", 10)]), bid("B2", "B", [(1, "95.00", 10)], minute=1)],
        parameters=params,
    )
    result = model.solve_optimal(inst, rel_gap=0.0)
    assert quantities(result) == {"B1": 7, "B2": 3}
    assert result.partidas[0].suppliers_required == 2
    assert rules.check(inst, result) == []
    lowest = rules.award_by_rule(inst, Mode.LOWEST)
    assert [v.rule for v in rules.check(inst, lowest, tender_wide=True)] == ["proveedores_criticos"]


def test_a_critical_partida_short_of_suppliers_says_so_and_why() -> None:
    params = Parameters(min_suppliers_critical=2, critical_min_share=Decimal("0.3"))
    inst = instance(
        [partida(1, max_qty=10, critical=True), partida(2, max_qty=5)],
        [
            bid("B1", "A", [(1, "90.00", 10)]),
            bid("B2", "B", [(1, "95.00", 10), (2, "90.00", 5)], minute=1),
        ],
        capacities={"B": 5},
        parameters=params,
    )
    result = model.solve_optimal(inst, rel_gap=0.0)
    critical = result.partidas[0]
    # Covering partida 2 (B is its only bidder) comes first; B has nothing left for partida 1.
    assert quantities(result, 2) == {"B2": 5}
    assert (critical.suppliers_required, critical.suppliers_short) == (2, 1)
    assert critical.shortfall_reason is not None
    assert critical.shortfall_reason.code is Shortfall.CAPACITY
    assert rules.check(inst, result) == []


def test_an_instance_without_bids_is_all_desierta() -> None:
    inst = instance([partida(1), partida(2)], [])
    for mode in Mode:
        result = model.award(inst, mode)
        assert result.objective == 0
        assert all(a.reason and a.reason.code is Shortfall.NO_BIDS for a in result.partidas)
        assert rules.check(inst, result) == []


def test_a_generated_tender_is_solved_to_the_gap_and_respects_every_constraint() -> None:
    inst = instance_json.generate(partidas=300, bids_per_partida=6, suppliers=40, seed=7)
    result = model.solve_optimal(inst)
    assert result.status == "optimal"
    assert result.gap is not None
    assert result.gap <= model.REL_GAP
    assert rules.check(inst, result) == []
    lowest = rules.award_by_rule(inst, Mode.LOWEST)
    assert totals(result)[:2] == totals(lowest)[:2]  # a feasible award exists
    assert lowest.objective <= result.objective <= lowest.objective * Decimal("1.05")
    assert [v.rule for v in rules.check(inst, lowest, tender_wide=True)]  # which it needed


# ----- the optimum, by exhaustive enumeration ------------------------------------------------

PRICES = [
    "50.00",
    "59.99",
    "60.00",
    "90.00",
    "95.00",
    "99.00",
    "100.00",
    "104.50",
    "109.00",
    "110.00",
    "110.01",
]


@st.composite
def small_instances(draw: st.DrawFn) -> Instance:
    """≤ 3 partidas of 1–3 units, ≤ 3 suppliers with ≤ 2 bids each, every rule in play."""
    n_partidas = draw(st.integers(1, 3))
    partidas = [
        partida(
            p + 1,
            max_qty=draw(st.integers(1, 3)),
            budget=draw(st.sampled_from([None, None, "105.00"])),
            critical=draw(st.booleans()),
        )
        for p in range(n_partidas)
    ]
    n_suppliers = draw(st.integers(1, 3))
    bids = []
    for s in range(n_suppliers):
        for k in range(draw(st.integers(1, 2))):
            lines = [
                (p + 1, draw(st.sampled_from(PRICES)), draw(st.integers(1, 3)))
                for p in range(n_partidas)
                if draw(st.booleans())
            ]
            if lines:
                bids.append(
                    bid(
                        f"B{s}{k}",
                        f"S{s}",
                        lines,
                        minute=draw(st.integers(0, 2)),
                        compliant=draw(st.integers(0, 9)) > 0,
                    )
                )
    capacities = {f"S{s}": draw(st.none() | st.integers(1, 5)) for s in range(n_suppliers)}
    share = draw(st.sampled_from([None, "0.4", "0.5", "0.7", "1"]))
    params = Parameters(
        split_margin=Decimal(draw(st.sampled_from(["0", "0.05", "0.10"]))),
        split_shares=tuple(
            Decimal(v) for v in draw(st.sampled_from([("100",), ("60", "40"), ("50", "30", "20")]))
        ),
        max_supplier_share=None if share is None else Decimal(share),
        min_suppliers_critical=draw(st.integers(1, 3)),
        critical_min_share=Decimal(draw(st.sampled_from(["0", "0.3", "0.5"]))),
        lot_deliveries=draw(st.sampled_from([None, 12, 2, 1])),
    )
    return instance(partidas, bids, capacities=capacities, parameters=params)


def brute_force(inst: Instance) -> tuple[int, int, Decimal]:
    """The least (uncovered units, suppliers short, cost) over every integer allocation.

    Written from the rules as stated, not from the model: solvency comes from the evaluation;
    the margin rule, the counting minimum and the suppliers required are recomputed here."""
    params = inst.parameters
    evaluation = rules.evaluate(inst)
    capacity = {s.id: s.capacity for s in inst.suppliers}
    choices: list[list[tuple[int, int, dict[str, int], dict[str, Decimal]]]] = []
    for p in inst.partidas:
        solvent = [line for line in evaluation.lines[p.number] if not line.findings]
        allowed = solvent
        if solvent:
            lowest = min(line.unit_price for line in solvent)
            near = [x for x in solvent if x.unit_price <= lowest * (1 + params.split_margin)]
            if sum(x.offered_qty for x in near) >= p.max_qty:
                allowed = near
        least = max(1, math.ceil(params.critical_min_share * p.max_qty))
        offered: dict[str, int] = defaultdict(int)
        for line in allowed:
            offered[line.supplier] += line.offered_qty
        able = sum(1 for qty in offered.values() if qty >= least)
        need = min(params.min_suppliers_critical, able, p.max_qty // least) if p.critical else 0
        options = []
        # A line gets nothing or at least the minimum lot (one delivery's worth).
        lot = min(
            p.max_qty,
            1 if params.lot_deliveries is None else -(-p.max_qty // params.lot_deliveries),
        )
        ranges = [[0, *range(lot, min(line.offered_qty, p.max_qty) + 1)] for line in allowed]
        for qs in itertools.product(*ranges):
            if sum(qs) > p.max_qty:
                continue
            qty: dict[str, int] = defaultdict(int)
            value: dict[str, Decimal] = defaultdict(Decimal)
            for line, q in zip(allowed, qs, strict=True):
                qty[line.supplier] += q
                value[line.supplier] += line.unit_price * q
            counted = sum(1 for q in qty.values() if q >= least)
            options.append((p.max_qty - sum(qs), max(0, need - counted), qty, value))
        choices.append(options)
    best: tuple[int, int, Decimal] | None = None
    for combo in itertools.product(*choices):
        qty_total: dict[str, int] = defaultdict(int)
        value_total: dict[str, Decimal] = defaultdict(Decimal)
        for _, _, qty, value in combo:
            for s, q in qty.items():
                qty_total[s] += q
            for s, v in value.items():
                value_total[s] += v
        if any((cap := capacity[s]) is not None and q > cap for s, q in qty_total.items()):
            continue
        total = sum(value_total.values(), Decimal(0))
        share = params.max_supplier_share
        if share is not None and any(v > share * total for v in value_total.values()):
            continue
        key = (sum(c[0] for c in combo), sum(c[1] for c in combo), total)
        if best is None or key < best:
            best = key
    assert best is not None  # awarding nothing is always allowed
    return best


@settings(
    max_examples=150,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(small_instances())
def test_the_model_finds_the_optimum_and_every_mode_respects_its_rules(inst: Instance) -> None:
    optimum = brute_force(inst)
    exact = model.solve_optimal(inst, rel_gap=0.0)
    assert exact.status == "optimal"
    assert totals(exact) == optimum
    # With a gap the cost may be higher, but the coverage is the same and the bounds that
    # stopped the search were sound: the cost is within the gap of the true optimum.
    for gap in (1e-3, 0.5):
        loose = model.solve_optimal(inst, rel_gap=gap)
        assert totals(loose)[:2] == optimum[:2]
        assert loose.gap is not None
        assert loose.gap <= gap
        assert optimum[2] <= loose.objective <= optimum[2] * Decimal(1 + gap) + Decimal("0.01")
        assert rules.check(inst, loose) == []
    for result in (
        exact,
        rules.award_by_rule(inst, Mode.LOWEST),
        rules.award_by_rule(inst, Mode.SPLIT),
    ):
        assert rules.check(inst, result) == [], result.mode


NALOXONA = 53_653


def naloxona(lot_deliveries: int | None) -> Instance:
    """A's capacity covers partida 1 (where it is far cheaper) and 8 more pieces: the leftover
    of the demo's optimal fallo, 8 naloxona out of 53,653, for the lowest bidder."""
    return instance(
        [partida(1, max_qty=1_000), partida(2, max_qty=NALOXONA)],
        [
            bid("B1", "A", [(1, "90.00", 1_000), (2, "99.00", NALOXONA)]),
            bid("B2", "B", [(1, "105.00", 1_000), (2, "100.00", NALOXONA)], minute=1),
        ],
        capacities={"A": 1_008},
        parameters=Parameters(lot_deliveries=lot_deliveries),
    )


def test_without_a_minimum_lot_the_model_hands_out_a_few_pieces() -> None:
    # The positive control: the case does produce the 8 pieces when lots are off.
    result = model.solve_optimal(naloxona(None), rel_gap=0.0)
    assert quantities(result, 1) == {"B1": 1_000}
    assert quantities(result, 2) == {"B1": 8, "B2": NALOXONA - 8}


def test_no_bidder_gets_fewer_pieces_than_one_delivery() -> None:
    inst = naloxona(12)
    lot = rules.minimum_lot(inst.partidas[1], inst.parameters)
    assert lot == 4_472  # ⌈53,653 / 12⌉
    result = model.solve_optimal(inst, rel_gap=0.0)
    assert quantities(result, 1) == {"B1": 1_000}
    assert quantities(result, 2) == {"B2": NALOXONA}
    assert rules.check(inst, result) == []
    # The checker refuses the old answer.
    old = model.solve_optimal(naloxona(None), rel_gap=0.0)
    assert any(v.rule == "lote mínimo" for v in rules.check(inst, old))


def test_a_lot_the_cheapest_line_can_reach_is_given_whole() -> None:
    # A offers 30 of 100 at the best price; the lot is 50: A can take nothing.
    inst = instance(
        [partida(1, max_qty=100)],
        [bid("B1", "A", [(1, "90.00", 30)]), bid("B2", "B", [(1, "95.00", 100)], minute=1)],
        parameters=Parameters(lot_deliveries=2),
    )
    result = model.solve_optimal(inst, rel_gap=0.0)
    assert quantities(result) == {"B2": 100}
    assert rules.check(inst, result) == []


@pytest.mark.parametrize("mode", list(Mode))
def test_award_dispatches_every_mode(mode: Mode) -> None:
    inst = instance(
        [partida(1)],
        [bid("B1", "A", [(1, "95.00", 100)]), bid("B2", "B", [(1, "99.00", 100)], minute=1)],
    )
    result = model.award(inst, mode)
    assert result.mode is mode
    expected = {Mode.LOWEST: {"B1": 100}, Mode.SPLIT: {"B1": 60, "B2": 40}}
    assert quantities(result) == expected.get(mode, {"B1": 100})


# ----- ties ----------------------------------------------------------------------------------


def test_a_tie_at_the_same_price_goes_to_the_earlier_receipt() -> None:
    # Issue 18: the later bid at the same price got 1,001 units and the earlier none.
    inst = instance(
        [partida(1, max_qty=1_001)],
        [
            bid("B2", "LATER", [(1, "95.00", 1_001)], minute=5),
            bid("B9", "EARLIER", [(1, "95.00", 1_001)], minute=1),
        ],
    )
    result = model.solve_optimal(inst, rel_gap=0.0)
    assert quantities(result) == {"B9": 1_001}
    assert rules.check(inst, result) == []


def test_a_tie_gives_the_earlier_receipt_what_its_capacity_and_the_lot_allow() -> None:
    # The earlier bidder can deliver 700 of 1,001: it gets them, the later one the rest, which
    # is above the lot of ⌈1,001 / 12⌉ = 84.
    inst = instance(
        [partida(1, max_qty=1_001)],
        [
            bid("B1", "LATER", [(1, "95.00", 1_001)], minute=5),
            bid("B2", "EARLIER", [(1, "95.00", 1_001)], minute=1),
        ],
        capacities={"EARLIER": 700},
    )
    result = model.solve_optimal(inst, rel_gap=0.0)
    assert quantities(result) == {"B2": 700, "B1": 301}
    # With 960 of capacity the later line would keep 41, under its lot: it keeps 84 instead.
    inst = instance(list(inst.partidas), list(inst.bids), capacities={"EARLIER": 960})
    result = model.solve_optimal(inst, rel_gap=0.0)
    assert quantities(result) == {"B2": 1_001 - 84, "B1": 84}
    assert rules.check(inst, result) == []


def test_each_allocation_is_explained_with_what_limited_it() -> None:
    inst = instance(
        [partida(1, max_qty=100), partida(2, max_qty=100)],
        [
            bid("B1", "A", [(1, "10.00", 100), (2, "10.00", 100)]),
            bid("B2", "B", [(1, "11.00", 100), (2, "11.00", 100)], minute=1),
            bid("B3", "C", [(1, "10.50", 100), (2, "10.80", 100)], minute=2),
        ],
        parameters=Parameters(max_supplier_share=Decimal("0.40"), lot_deliveries=12),
    )
    result = model.solve_optimal(inst, rel_gap=0.0)
    explained = rules.explain(inst, result)
    a_gets = quantities(result, 1)["B1"]
    assert explained[(1, "B1")] == (
        f"Adjudicadas {a_gets} piezas: precio más bajo; "
        "limitado por la participación máxima del proveedor de 40 %."
    )
    assert explained[(1, "B2")] == (
        "Solvente, no adjudicada: hubo mejores precios que cubren la demanda."
    )
    # The lot: a line offering less than one delivery's worth gets nothing, and says so.
    short = instance(
        [partida(1, max_qty=120)],
        [bid("B1", "A", [(1, "9.00", 5)]), bid("B2", "B", [(1, "10.00", 120)], minute=1)],
    )
    result = model.solve_optimal(short, rel_gap=0.0)
    assert rules.explain(short, result)[(1, "B1")] == (
        "Solvente, no adjudicada: ofrece menos que el lote mínimo de 10 piezas."
    )


def test_solves_on_different_thread_counts_in_one_process() -> None:
    """HiGHS starts one task scheduler per thread; a solve on another thread count than the
    first got an error from every run (tests/core/test_highs.py for several threads)."""
    inst = instance_json.generate(partidas=6, bids_per_partida=3, suppliers=4, seed=5)

    results = [model.solve_optimal(inst, threads=n) for n in (2, 1, 2)]

    assert [r.status for r in results] == ["optimal"] * 3
    assert len({r.objective for r in results}) == 1
    assert all(rules.check(inst, r) == [] for r in results)


def test_a_run_that_keeps_failing_on_two_threads_is_solved_on_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """HiGHS's errors that repeating on the same thread count did not clear: the last try is on
    one thread, and gives the same award."""
    inst = instance_json.generate(partidas=6, bids_per_partida=3, suppliers=4, seed=5)
    expected = model.solve_optimal(inst, threads=1)
    tried: list[int] = []

    def failing_on_two(highs: Any, threads: int) -> HighsStatus:
        tried.append(threads)
        return HighsStatus.kError if threads == 2 else highs_run(highs, threads)

    monkeypatch.setattr(model, "highs_run", failing_on_two)
    result = model.solve_optimal(inst, threads=2)
    assert (result.status, result.objective) == ("optimal", expected.objective)
    assert tried[:3] == [2, 2, 1]


def test_a_model_whose_runs_keep_failing_is_solved_again_in_a_new_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Errors that neither repeating nor one thread clear, in the first model HiGHS is given:
    that model is left and the same one solved in a new model, from no start; the award is the
    same. Errors in the new model too fail the solve, not loop."""
    inst = instance_json.generate(partidas=6, bids_per_partida=3, suppliers=4, seed=5)
    expected = model.solve_optimal(inst, threads=2)
    models: list[int] = []

    def failing_in_the_first_model(highs: Any, threads: int) -> HighsStatus:
        models.append(id(highs))
        if models.count(models[0]) == len(models):  # every run so far in the first model
            return HighsStatus.kError
        return highs_run(highs, threads)

    monkeypatch.setattr(model, "highs_run", failing_in_the_first_model)
    result = model.solve_optimal(inst, threads=2)
    assert (result.status, result.objective) == ("optimal", expected.objective)
    assert rules.check(inst, result) == []
    assert models[1:3] == [models[0]] * 2  # three tries in the first model
    assert models[3] != models[0]  # then a new one

    def always_failing(highs: Any, threads: int) -> HighsStatus:
        models.append(id(highs))
        return HighsStatus.kError

    models.clear()
    monkeypatch.setattr(model, "highs_run", always_failing)
    with pytest.raises(RuntimeError, match="HiGHS run failed"):
        model.solve_optimal(inst, threads=2)
    assert len(models) == 6  # three tries in each of two models
