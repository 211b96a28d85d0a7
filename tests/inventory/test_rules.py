"""Inventory rules on values: FEFO, never negative, counts, consumption, max-min, abasto."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from abasto.core.errors import Conflict, ValidationFailed
from abasto.inventory import rules
from abasto.inventory.rules import Counted, Day, Level, Lot, StockPolicy, Take

TODAY = date(2026, 11, 2)
A = Lot("A", date(2027, 6, 30), 10)
B = Lot("B", date(2027, 1, 31), 5)
C = Lot("C", date(2027, 3, 31), 7)
OLD = Lot("OLD", date(2026, 10, 31), 50)


def test_fefo_takes_the_lot_that_expires_first_then_the_next() -> None:
    assert rules.pick_fefo([A, B, C], 8, today=TODAY) == [
        Take("B", B.expiry, 5),
        Take("C", C.expiry, 3),
    ]


def test_fefo_never_hands_out_an_expired_lot() -> None:
    assert rules.pick_fefo([OLD, A], 4, today=TODAY) == [Take("A", A.expiry, 4)]
    with pytest.raises(Conflict) as refused:
        rules.pick_fefo([OLD, A], 11, today=TODAY, clave="010.000.0104.00")
    assert refused.value.problems[0].expected == "a lo más 10"
    assert "010.000.0104.00" in refused.value.detail


def test_a_named_lot_is_taken_even_when_another_expires_first() -> None:
    assert rules.pick_fefo([A, B], 6, today=TODAY, lot="A") == [Take("A", A.expiry, 6)]
    with pytest.raises(Conflict) as refused:
        rules.pick_fefo([A, B], 6, today=TODAY, lot="B")
    assert "«B»" in refused.value.detail


def test_an_issue_of_nothing_is_refused() -> None:
    with pytest.raises(ValidationFailed):
        rules.pick_fefo([A], 0, today=TODAY)


def test_a_balance_never_goes_below_zero() -> None:
    assert rules.apply(5, -5) == 0
    assert rules.apply(5, 3) == 8
    with pytest.raises(Conflict):
        rules.apply(5, -6)
    with pytest.raises(ValidationFailed):
        rules.apply(rules.MAX_QUANTITY, 1)


@given(
    st.lists(
        st.tuples(st.integers(0, 30), st.integers(-10, 40)),
        min_size=1,
        max_size=6,
        unique_by=lambda x: x[1],
    ),
    st.integers(1, 120),
)
def test_fefo_takes_exactly_what_is_asked_from_usable_lots_in_expiry_order(
    spec: list[tuple[int, int]], quantity: int
) -> None:
    lots = [Lot(f"L{i}", TODAY + timedelta(days=d), q) for i, (q, d) in enumerate(spec)]
    usable = sum(x.quantity for x in lots if x.expiry >= TODAY)
    if quantity > usable:
        with pytest.raises(Conflict):
            rules.pick_fefo(lots, quantity, today=TODAY)
        return
    takes = rules.pick_fefo(lots, quantity, today=TODAY)
    assert sum(t.quantity for t in takes) == quantity
    assert all(t.expiry >= TODAY and t.quantity > 0 for t in takes)
    by_lot = {x.lot: x for x in lots}
    assert all(t.quantity <= by_lot[t.lot].quantity for t in takes)
    # Every lot but the last taken is emptied, and none skipped expires before a taken one.
    assert all(t.quantity == by_lot[t.lot].quantity for t in takes[:-1])
    last = takes[-1].expiry
    untouched = {x.lot for x in lots} - {t.lot for t in takes}
    assert all(
        by_lot[x].expiry >= last or by_lot[x].expiry < TODAY or by_lot[x].quantity == 0
        for x in untouched
    )


def test_a_count_adjusts_each_lot_to_what_is_on_the_shelf() -> None:
    book = [Lot("A", A.expiry, 10), Lot("B", B.expiry, 5)]
    counted = [Counted("A", A.expiry, 8), Counted("N", date(2028, 1, 31), 3)]
    assert rules.count_adjustments(book, counted) == [
        Take("A", A.expiry, -2),
        Take("B", B.expiry, -5),  # not found on the shelf
        Take("N", date(2028, 1, 31), 3),
    ]


def test_a_count_that_matches_the_books_changes_nothing_and_repeated_lots_add() -> None:
    book = [Lot("A", A.expiry, 10)]
    assert (
        rules.count_adjustments(book, [Counted("A", A.expiry, 4), Counted("A", A.expiry, 6)]) == []
    )
    with pytest.raises(ValidationFailed):
        rules.count_adjustments(book, [Counted("A", A.expiry, -1)])


def test_consumption_leaves_out_the_days_without_stock() -> None:
    # 10 days: 4 days dispensing 10 a day (stock 40 → 0 on day 4), then 6 days with nothing.
    days = [Day(10, 30), Day(10, 20), Day(10, 10), Day(10, 0)] + [Day(0, 0)] * 6
    assert rules.stockout_days(days) == 6
    # 40 dispensed over 4 days with stock = 10 a day = 304.375 a month, not 40 ÷ 10 × 30.4375.
    assert rules.adjusted_monthly_consumption(days) == Decimal("304.38")


def test_a_day_with_stock_and_no_demand_counts_as_zero_demand() -> None:
    days = [Day(0, 5)] * 2 + [Day(6, 0)] + [Day(0, 0)]
    # 6 over 3 days with stock (the day it ran out saw demand): 2 a day → 60.875.
    assert rules.stockout_days(days) == 1
    assert rules.adjusted_monthly_consumption(days) == Decimal("60.88")


def test_consumption_of_a_window_without_any_stock_is_unknown_not_zero() -> None:
    assert rules.adjusted_monthly_consumption([Day(0, 0)] * 30) is None
    assert rules.adjusted_monthly_consumption([]) is None


def test_daily_series_rebuilds_the_closing_stock_from_movements() -> None:
    start = date(2026, 10, 1)
    moves = {start: (3, -3), start + timedelta(days=2): (0, 20), start + timedelta(days=3): (5, -5)}
    assert rules.daily_series(
        start=start, end=start + timedelta(days=3), opening=3, movements=moves
    ) == [
        Day(3, 0),
        Day(0, 0),
        Day(0, 20),
        Day(5, 15),
    ]


def test_months_of_stock() -> None:
    assert rules.months_of_stock(150, Decimal("100")) == Decimal("1.50")
    assert rules.months_of_stock(10, Decimal("30")) == Decimal("0.33")
    assert rules.months_of_stock(10, None) is None
    assert rules.months_of_stock(10, Decimal(0)) is None


def test_levels_against_the_max_min_of_the_unit_kind() -> None:
    policy = StockPolicy(Decimal(1), Decimal(3))
    assert rules.level(0, None, policy) is Level.stockout
    assert rules.level(5, Decimal("0.99"), policy) is Level.below_min
    assert rules.level(5, Decimal(1), policy) is Level.ok
    assert rules.level(5, Decimal(3), policy) is Level.ok
    assert rules.level(5, Decimal("3.01"), policy) is Level.above_max
    assert rules.level(5, None, policy) is Level.unknown
    with pytest.raises(ValidationFailed):
        StockPolicy(Decimal(4), Decimal(3))


def test_units_needed_rounds_up() -> None:
    assert rules.units_needed(Decimal("10.10"), Decimal(2)) == 21
    assert rules.units_needed(None, Decimal(2)) == 0


def test_expiring_within_90_days_and_expired_are_apart() -> None:
    lots = [
        Lot("X", TODAY - timedelta(days=1), 4),
        Lot("T", TODAY, 1),
        Lot("E", TODAY + timedelta(days=90), 2),
        Lot("L", TODAY + timedelta(days=91), 8),
    ]
    assert rules.expiring(lots, today=TODAY) == 3
    assert rules.expired(lots, today=TODAY) == 4


def test_the_abasto_indicator_counts_claves_with_stock_and_with_their_minimum() -> None:
    found = rules.abasto(
        [Level.ok, Level.stockout, Level.below_min, Level.above_max, Level.unknown]
    )
    assert (found.listed, found.with_stock, found.at_minimum) == (5, 4, 3)
    assert found.share == Decimal("0.8000")
    assert found.share_at_minimum == Decimal("0.6000")
    assert rules.abasto([]).share is None
