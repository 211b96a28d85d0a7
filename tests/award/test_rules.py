"""Pure award rules: evaluation at its boundaries, the rule modes, validation and the checker.

The small builders at the top (``partida``, ``bid``, ``instance``, ``one_partida``) are shared
by the other award tests.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from abasto.award import rules
from abasto.award.rules import (
    AwardResult,
    Bid,
    BidLine,
    Instance,
    Mode,
    Outcome,
    Parameters,
    Partida,
    PartidaAward,
    Shortfall,
    Supplier,
    Winner,
)
from abasto.core.errors import ValidationFailed

T0 = datetime(2026, 11, 2, 16, 0, tzinfo=UTC)


def partida(
    number: int = 1,
    max_qty: int = 100,
    reference: str = "100.00",
    budget: str | None = None,
    *,
    critical: bool = False,
) -> Partida:
    return Partida(
        number=number,
        clave=f"010.000.{1000 + number:04d}.00",
        max_qty=max_qty,
        reference_price=Decimal(reference),
        budget_price=None if budget is None else Decimal(budget),
        critical=critical,
    )


def bid(
    bid_id: str,
    supplier: str,
    lines: Sequence[tuple[int, str, int]],
    *,
    minute: int = 0,
    compliant: bool = True,
) -> Bid:
    """Lines as (partida, unit price, offered quantity); received ``minute`` minutes after T0."""
    return Bid(
        id=bid_id,
        supplier=supplier,
        received_at=T0 + timedelta(minutes=minute),
        lines=tuple(
            BidLine(partida=p, unit_price=Decimal(price), offered_qty=qty, compliant=compliant)
            for p, price, qty in lines
        ),
    )


def instance(
    partidas: Sequence[Partida],
    bids: Sequence[Bid],
    *,
    capacities: dict[str, int | None] | None = None,
    parameters: Parameters | None = None,
) -> Instance:
    capacities = capacities or {}
    names = sorted({b.supplier for b in bids} | set(capacities))
    return Instance(
        partidas=tuple(partidas),
        bids=tuple(bids),
        suppliers=tuple(Supplier(name, capacities.get(name)) for name in names),
        parameters=parameters or Parameters(),
    )


def one_partida(
    offers: Sequence[tuple[str, str, int]],
    *,
    max_qty: int = 100,
    reference: str = "100.00",
    budget: str | None = None,
    parameters: Parameters | None = None,
) -> Instance:
    """One partida, one bid per offer (supplier, price, qty), received a minute apart."""
    return instance(
        [partida(1, max_qty, reference, budget)],
        [
            bid(f"B{i + 1}", supplier, [(1, price, qty)], minute=i)
            for i, (supplier, price, qty) in enumerate(offers)
        ],
        parameters=parameters,
    )


def outcomes(inst: Instance) -> dict[str, list[Outcome]]:
    """Per bid id, the outcomes of its line in partida 1 (empty: solvent)."""
    return {
        line.bid_id: [f.outcome for f in line.findings] for line in rules.evaluate(inst).lines[1]
    }


def quantities(result: AwardResult, number: int = 1) -> dict[str, int]:
    award = next(a for a in result.partidas if a.number == number)
    return {w.bid_id: w.quantity for w in award.winners}


# ----- economic evaluation -------------------------------------------------------------------


def test_a_price_exactly_at_the_acceptable_margin_is_acceptable_and_a_cent_above_is_not() -> None:
    inst = one_partida([("A", "110.00", 100), ("B", "110.01", 100), ("C", "100.00", 100)])
    found = outcomes(inst)
    assert found["B1"] == []
    assert found["B2"] == [Outcome.NOT_ACCEPTABLE]
    finding = rules.evaluate(inst).lines[1][-1].findings[0]
    assert finding.limit == Decimal("110.00")
    assert finding.basis == Decimal("100.00")
    assert "$110.01" in finding.message
    assert "$110.00" in finding.message


def test_the_acceptable_margin_is_a_parameter() -> None:
    params = Parameters(acceptable_margin=Decimal("0.05"))
    inst = one_partida([("A", "105.00", 100), ("B", "105.01", 100)], parameters=params)
    assert outcomes(inst) == {"B1": [], "B2": [Outcome.NOT_ACCEPTABLE]}


def test_above_budget_is_one_cent_above_the_budget_price() -> None:
    inst = one_partida([("A", "104.00", 100), ("B", "104.01", 100)], budget="104.00")
    found = outcomes(inst)
    assert found == {"B1": [], "B2": [Outcome.ABOVE_BUDGET]}


def test_a_line_may_fail_several_tests_and_says_each() -> None:
    inst = one_partida([("A", "120.00", 100), ("B", "100.00", 100)], budget="105.00")
    assert outcomes(inst)["B1"] == [Outcome.ABOVE_BUDGET, Outcome.NOT_ACCEPTABLE]


def test_not_convenient_is_strictly_more_than_the_margin_below_the_average() -> None:
    # With 100, 100 and p, the limit 0.6 × average equals p when p = 50: exactly at the limit.
    at_limit = one_partida([("A", "100.00", 100), ("B", "100.00", 100), ("C", "50.00", 100)])
    assert outcomes(at_limit)["B3"] == []
    below = one_partida([("A", "100.00", 100), ("B", "100.00", 100), ("C", "49.99", 100)])
    assert outcomes(below)["B3"] == [Outcome.NOT_CONVENIENT]
    finding = rules.evaluate(below).lines[1][0].findings[0]
    assert finding.basis == Decimal("249.99") / 3  # the average of the three, exact
    assert finding.limit is not None
    assert Decimal("49.99") < finding.limit < Decimal("50.00")


def test_the_average_counts_only_lines_that_passed_the_other_tests() -> None:
    # The non-compliant and the unacceptable lines do not lift the average.
    inst = instance(
        [partida()],
        [
            bid("B1", "A", [(1, "100.00", 100)]),
            bid("B2", "B", [(1, "58.00", 100)], minute=1),
            bid("B3", "C", [(1, "500.00", 100)], minute=2),
            bid("B4", "D", [(1, "300.00", 100)], minute=3, compliant=False),
        ],
    )
    found = outcomes(inst)
    assert found["B2"] == []  # 58 ≥ 0.6 × 79, the average of 100 and 58
    assert found["B3"] == [Outcome.NOT_ACCEPTABLE]
    assert found["B4"] == [Outcome.NOT_COMPLIANT, Outcome.NOT_ACCEPTABLE]


def test_solvent_lines_are_ranked_by_price_then_receipt_then_bid_id() -> None:
    inst = instance(
        [partida()],
        [
            bid("B9", "A", [(1, "95.00", 100)], minute=5),
            bid("B2", "B", [(1, "95.00", 100)], minute=5),
            bid("B1", "C", [(1, "95.00", 100)], minute=6),
            bid("B0", "D", [(1, "96.00", 100)], minute=0),
        ],
    )
    assert [o.bid_id for o in rules.evaluate(inst).offers[1]] == ["B2", "B9", "B1", "B0"]


# ----- validation ----------------------------------------------------------------------------


def problem_fields(inst: Instance) -> list[str | None]:
    with pytest.raises(ValidationFailed) as caught:
        rules.validated(inst)
    return [p.field for p in caught.value.problems]


def test_a_split_margin_above_ten_percent_is_refused() -> None:
    rules.validated(one_partida([], parameters=Parameters(split_margin=Decimal("0.10"))))
    inst = one_partida([], parameters=Parameters(split_margin=Decimal("0.1001")))
    with pytest.raises(ValidationFailed) as caught:
        rules.validated(inst)
    (problem,) = caught.value.problems
    assert problem.field == "parameters.split_margin"
    assert "no puede exceder 10 %" in problem.message


@pytest.mark.parametrize("shares", [("60", "30"), ("60", "50"), ("50", "30", "20.01")])
def test_shares_that_do_not_add_up_to_100_are_refused(shares: tuple[str, ...]) -> None:
    params = Parameters(split_shares=tuple(Decimal(s) for s in shares))
    with pytest.raises(ValidationFailed) as caught:
        rules.validated(one_partida([], parameters=params))
    (problem,) = caught.value.problems
    assert problem.field == "parameters.split_shares"
    assert "no 100 %" in problem.message


def test_shares_that_add_up_to_100_are_accepted() -> None:
    for shares in (("100",), ("60", "40"), ("50", "30", "20"), ("33.34", "33.33", "33.33")):
        params = Parameters(split_shares=tuple(Decimal(s) for s in shares))
        rules.validated(one_partida([], parameters=params))


def test_a_capacity_of_zero_is_refused() -> None:
    inst = instance([partida()], [bid("B1", "A", [(1, "90.00", 10)])], capacities={"A": 0})
    with pytest.raises(ValidationFailed) as caught:
        rules.validated(inst)
    (problem,) = caught.value.problems
    assert problem.field == "suppliers[0].capacity"
    assert problem.message == "la capacidad debe ser positiva o no declararse"


def test_every_problem_is_listed_at_once() -> None:
    inst = instance(
        [partida(1), partida(1, max_qty=0)],
        [
            bid("B1", "A", [(1, "90.00", 10), (1, "91.00", 10), (7, "0.00", 0)]),
            Bid("B1", "ghost", datetime(2026, 11, 2, 10, 0), ()),
        ],
    )
    fields = problem_fields(replace(inst, suppliers=(Supplier("A"),)))
    assert fields == [
        "partidas[1].number",
        "partidas[1].max_qty",
        "bids[0].lines[1].partida",
        "bids[0].lines[2].partida",
        "bids[0].lines[2].unit_price",
        "bids[0].lines[2].offered_qty",
        "bids[1].id",
        "bids[1].supplier",
        "bids[1].received_at",
    ]


# ----- lowest price --------------------------------------------------------------------------


def test_lowest_price_takes_the_partida_and_ties_go_to_the_earlier_receipt() -> None:
    inst = instance(
        [partida()],
        [
            bid("B1", "A", [(1, "95.00", 100)], minute=2),
            bid("B2", "B", [(1, "95.00", 100)], minute=1),
            bid("B3", "C", [(1, "99.00", 100)], minute=0),
        ],
    )
    result = rules.award_by_rule(inst, Mode.LOWEST)
    assert quantities(result) == {"B2": 100}
    assert result.objective == Decimal("9500.00")
    assert rules.check(inst, result) == []


def test_a_tie_at_the_same_instant_goes_to_the_lower_bid_id() -> None:
    inst = instance(
        [partida()],
        [bid("B7", "A", [(1, "95.00", 100)]), bid("B3", "B", [(1, "95.00", 100)])],
    )
    assert quantities(rules.award_by_rule(inst, Mode.LOWEST)) == {"B3": 100}


def test_what_the_lowest_does_not_offer_goes_to_the_next_in_the_ranking() -> None:
    inst = one_partida([("A", "90.00", 70), ("B", "95.00", 20), ("C", "99.00", 100)])
    result = rules.award_by_rule(inst, Mode.LOWEST)
    assert quantities(result) == {"B1": 70, "B2": 20, "B3": 10}
    assert result.partidas[0].winners[0].total == Decimal("6300.00")
    assert rules.check(inst, result) == []


# ----- abastecimiento simultáneo -------------------------------------------------------------


def test_a_split_gives_each_place_its_share_and_the_rounding_to_the_first() -> None:
    inst = one_partida([("A", "95.00", 100), ("B", "99.00", 100)], max_qty=7)
    result = rules.award_by_rule(inst, Mode.SPLIT)
    assert quantities(result) == {"B1": 5, "B2": 2}  # 60 % of 7 = 4.2, 40 % = 2.8
    assert rules.check(inst, result) == []


def test_only_lines_within_the_margin_of_the_lowest_share_the_partida() -> None:
    # 104.50 is within 10 % of 95.00 (ceiling 104.50); 104.51 is not.
    params = Parameters(split_shares=(Decimal(50), Decimal(30), Decimal(20)))
    inst = one_partida(
        [("A", "95.00", 100), ("B", "104.50", 100), ("C", "104.51", 100)], parameters=params
    )
    result = rules.award_by_rule(inst, Mode.SPLIT)
    # Two places within the margin: the third share goes to the first place.
    assert quantities(result) == {"B1": 70, "B2": 30}
    assert rules.check(inst, result) == []


def test_a_place_never_gets_more_than_offered_and_the_rest_goes_on_in_order() -> None:
    params = Parameters(split_shares=(Decimal(50), Decimal(30), Decimal(20)))
    inst = one_partida(
        [("A", "95.00", 60), ("B", "96.00", 10), ("C", "97.00", 100), ("D", "98.00", 100)],
        parameters=params,
    )
    result = rules.award_by_rule(inst, Mode.SPLIT)
    # Places: A 50, B 30 → 10 (offers 10), C 20. The 20 left go to A (10 more, it offers 60),
    # then C (10 more); D, fourth within the margin, gets nothing.
    assert quantities(result) == {"B1": 60, "B2": 10, "B3": 30}
    assert rules.check(inst, result) == []


def test_lines_beyond_the_margin_cover_only_what_those_within_cannot() -> None:
    inst = one_partida([("A", "95.00", 50), ("B", "99.00", 20), ("C", "108.00", 100)])
    for mode in (Mode.LOWEST, Mode.SPLIT):
        result = rules.award_by_rule(inst, mode)
        assert quantities(result) == {"B1": 50, "B2": 20, "B3": 30}
        assert rules.check(inst, result) == []


# ----- desiertas -----------------------------------------------------------------------------


def test_desiertas_say_why() -> None:
    inst = instance(
        [partida(1), partida(2, budget="90.00"), partida(3, max_qty=100)],
        [
            bid("B1", "A", [(2, "95.00", 100), (3, "95.00", 30)]),
            bid("B2", "B", [(2, "120.00", 100), (3, "96.00", 40)], minute=1),
        ],
    )
    result = rules.award_by_rule(inst, Mode.LOWEST)
    first, second, third = result.partidas
    assert (first.status, first.reason and first.reason.code) == ("desierta", Shortfall.NO_BIDS)
    assert second.reason is not None
    assert second.reason.code is Shortfall.NONE_SOLVENT
    assert "sobre presupuesto: 2" in second.reason.message
    assert "precio no aceptable: 1" in second.reason.message
    assert (third.status, third.uncovered) == ("parcial", 30)
    assert third.reason is not None
    assert third.reason.code is Shortfall.OFFER_SHORT
    assert "70 de 100" in third.reason.message
    assert rules.check(inst, result) == []


# ----- the checker ---------------------------------------------------------------------------


def test_the_checker_names_what_a_result_breaks() -> None:
    inst = instance(
        [partida(1), partida(2)],
        [
            bid("B1", "A", [(1, "95.00", 50), (2, "95.00", 100)]),
            bid("B2", "B", [(1, "99.00", 100), (2, "130.00", 100)], minute=1),
            bid("B3", "C", [(1, "108.00", 100)], minute=2),
        ],
        capacities={"A": 100},
    )
    good = rules.award_by_rule(inst, Mode.LOWEST)
    assert rules.check(inst, good) == []
    assert [v.rule for v in rules.check(inst, good, tender_wide=True)] == ["capacidad"]

    bad_awards = (
        PartidaAward(
            number=1,
            clave="x",
            demand=100,
            winners=(
                Winner("B1", "A", 60, Decimal("95.00")),  # offered 50
                Winner("B3", "C", 30, Decimal("100.00")),  # beyond the margin, wrong price
            ),
            uncovered=0,
        ),
        PartidaAward(
            number=2,
            clave="y",
            demand=100,
            winners=(Winner("B2", "B", 100, Decimal("130.00")),),  # not acceptable
        ),
    )
    bad = replace(good, partidas=bad_awards, objective=Decimal(1))
    found = {v.rule for v in rules.check(inst, bad)}
    assert found == {
        "ofertado",
        "precio",
        "margen",
        "orden",
        "desierta",
        "solvencia",
        "objetivo",
    }


def test_the_checker_holds_a_split_to_its_shares() -> None:
    inst = one_partida([("A", "95.00", 100), ("B", "99.00", 100)])
    result = rules.award_by_rule(inst, Mode.SPLIT)
    award = result.partidas[0]
    flipped = replace(
        award,
        winners=(
            replace(award.winners[0], quantity=40),
            replace(award.winners[1], quantity=60),
        ),
    )
    bad = replace(result, partidas=(flipped,), objective=Decimal("3800.00") + Decimal("5940.00"))
    assert [v.rule for v in rules.check(inst, bad)] == ["porcentajes", "orden"]


def test_the_checker_refuses_a_share_above_the_maximum() -> None:
    params = Parameters(max_supplier_share=Decimal("0.5"))
    inst = instance(
        [partida(1), partida(2)],
        [
            bid("B1", "A", [(1, "95.00", 100), (2, "95.00", 100)]),
            bid("B2", "B", [(1, "99.00", 100), (2, "99.00", 100)], minute=1),
        ],
        parameters=params,
    )
    lowest = rules.award_by_rule(inst, Mode.LOWEST)
    violations = rules.check(inst, lowest, tender_wide=True)
    assert [(v.rule, v.supplier) for v in violations] == [("participacion", "A")]


# ----- apportioning a winner's quantity to the institutions ----------------------------------


@given(
    total=st.integers(min_value=1, max_value=10**7),
    weights=st.lists(st.integers(min_value=0, max_value=10**6), min_size=1, max_size=12),
    deliveries=st.integers(min_value=1, max_value=24),
)
@settings(max_examples=400, deadline=None, derandomize=True)
def test_no_institution_gets_a_line_below_the_minimum_lot(
    total: int, weights: list[int], deliveries: int
) -> None:
    assume(any(weights))
    least = -(-total // deliveries)
    shares = rules.apportion_lots(total, weights, least)
    assert sum(shares) == total
    assert all(share == 0 or share >= least for share in shares)
    assert all(weight or not share for share, weight in zip(shares, weights, strict=True))
    plain = rules.apportion(total, weights)
    if all(share == 0 or share >= least for share in plain):
        assert shares == plain  # nothing to merge: the plain proportional split


def test_a_small_share_goes_to_the_other_institutions() -> None:
    # Issue 16: ISSSTE (weight 1) got a 1-piece contract of a 53,653-piece award.
    assert rules.apportion(53_653, [40_000, 13_652, 1]) == [40_000, 13_652, 1]
    assert rules.apportion_lots(53_653, [40_000, 13_652, 1], 4_472) == [40_001, 13_652, 0]
    # Two small ones: the smaller drops first, then the other if still short.
    assert rules.apportion_lots(100, [80, 12, 8], 10) == [87, 13, 0]
    assert rules.apportion_lots(100, [90, 6, 4], 10) == [100, 0, 0]
    # A quantity below the lot still goes whole to someone.
    assert rules.apportion_lots(5, [1, 1], 10) == [5, 0]
