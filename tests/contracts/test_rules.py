"""The contract rules at every boundary: signing, guarantee, convenios, penalties, shelf life."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from abasto.contracts import rules
from abasto.core.errors import Conflict

# 2027-03-01 18:00 UTC is 12:00 in Mexico City; 05:30 UTC on the 17th is still the 16th there.
NOTICE = datetime(2027, 3, 1, 18, 0, tzinfo=UTC)


def test_the_signing_deadline_is_fifteen_natural_days_after_the_notice_day() -> None:
    assert rules.signing_deadline(NOTICE) == date(2027, 3, 16)
    assert rules.signing_deadline(NOTICE, days=10) == date(2027, 3, 11)


@pytest.mark.parametrize(
    ("signed", "late"),
    [
        (datetime(2027, 3, 16, 12, 0, tzinfo=UTC), False),
        # 23:59 of the 16th in Mexico City is 05:59 UTC of the 17th: still on time.
        (datetime(2027, 3, 17, 5, 59, tzinfo=UTC), False),
        (datetime(2027, 3, 17, 6, 0, tzinfo=UTC), True),
        (datetime(2027, 3, 18, 12, 0, tzinfo=UTC), True),
    ],
)
def test_signing_is_late_only_after_the_last_day_ends_in_mexico_city(
    signed: datetime, late: bool
) -> None:
    assert rules.signed_late(NOTICE, signed) is late


@pytest.mark.parametrize(
    ("maximum", "rate", "expected"),
    [
        (Decimal("1000000.00"), rules.GUARANTEE_RATE, Decimal("100000.00")),
        (Decimal("12345.67"), rules.GUARANTEE_RATE, Decimal("1234.57")),  # .567 rounds up
        (Decimal("12345.64"), rules.GUARANTEE_RATE, Decimal("1234.56")),  # .564 rounds down
        (Decimal("12345.65"), rules.GUARANTEE_RATE, Decimal("1234.57")),  # .565: half up
        (Decimal("1000.00"), Decimal("0.05"), Decimal("50.00")),
    ],
)
def test_the_guarantee_is_a_share_of_the_maximum_before_iva_to_the_centavo(
    maximum: Decimal, rate: Decimal, expected: Decimal
) -> None:
    assert rules.guarantee_amount(maximum, rate) == expected


@pytest.mark.parametrize(
    ("proposed", "allowed"),
    [(1000, True), (1199, True), (1200, True), (1201, False)],
)
def test_a_convenio_may_add_at_most_twenty_percent_in_total(proposed: int, allowed: bool) -> None:
    problem = rules.check_modification(
        what="Clave X", field="max_qty", original=1000, current=1100, proposed=proposed
    )
    if proposed < 1100:
        assert problem is not None
        return
    assert (problem is None) is allowed
    if not allowed:
        assert problem is not None
        assert "1,201" in problem.message
        assert "1,200" in problem.message
        assert problem.expected == "a lo más 1,200"


def test_the_cap_counts_from_what_was_contracted_not_from_the_last_convenio() -> None:
    # 1,000 → 1,150 by one convenio; a second to 1,250 is +25 % over the original.
    problem = rules.check_modification(
        what="Clave X", field="max_qty", original=1000, current=1150, proposed=1250
    )
    assert problem is not None
    assert "50" in problem.message


def test_a_convenio_does_not_shrink_what_is_in_force() -> None:
    problem = rules.check_modification(
        what="Clave X", field="max_qty", original=1000, current=1100, proposed=1050
    )
    assert problem is not None
    assert "sólo amplía" in problem.message


def test_money_figures_are_shown_as_pesos() -> None:
    problem = rules.check_modification(
        what="Importe",
        field="amount",
        original=100_000,
        current=100_000,
        proposed=120_001,
        money=True,
    )
    assert problem is not None
    assert "$1,200.01" in problem.message
    assert "$1,200.00" in problem.message


def test_the_limit_of_a_small_quantity_is_whole_units() -> None:
    assert rules.modification_limit(4) == 0
    assert rules.modification_limit(5) == 1
    assert rules.modification_limit(14, Decimal("0.10")) == 1


@pytest.mark.parametrize(
    ("due", "received", "days"),
    [
        (date(2027, 4, 10), date(2027, 4, 9), 0),
        (date(2027, 4, 10), date(2027, 4, 10), 0),
        (date(2027, 4, 10), date(2027, 4, 11), 1),
        (date(2027, 2, 27), date(2027, 3, 2), 3),  # natural days across a month's end
    ],
)
def test_days_late_are_natural_days_after_the_due_day(due: date, received: date, days: int) -> None:
    assert rules.days_late(due, received) == days


def test_the_penalty_is_one_percent_per_day_of_the_value_delivered_late() -> None:
    # 300 pieces at $12.35, 4 days late: 3,705.00 × 0.01 × 4 = 148.20.
    assert rules.late_penalty(Decimal("3705.00"), 4) == Decimal("148.2000")
    assert rules.late_penalty(Decimal("3705.00"), 0) == 0
    assert rules.late_penalty(Decimal("100.00"), 3, Decimal("0.025")) == Decimal("7.50000")


def test_the_deductiva_is_a_share_of_what_was_rejected_or_not_supplied() -> None:
    assert rules.deductiva(Decimal("1234.50")) == Decimal("12.3450")


@pytest.mark.parametrize(
    ("computed", "accrued", "charged", "reaches"),
    [
        (Decimal("100.00"), Decimal("0.00"), Decimal("100.00"), False),
        (Decimal("100.00"), Decimal("899.99"), Decimal("100.00"), False),
        (Decimal("100.00"), Decimal("900.00"), Decimal("100.00"), True),  # exactly the cap
        (Decimal("100.00"), Decimal("900.01"), Decimal("99.99"), True),
        (Decimal("100.00"), Decimal("1000.00"), Decimal("0.00"), True),
        (Decimal("0.004"), Decimal("0.00"), Decimal("0.00"), False),  # rounds to nothing
    ],
)
def test_penalties_are_capped_at_the_guarantee(
    computed: Decimal, accrued: Decimal, charged: Decimal, reaches: bool
) -> None:
    capped = rules.cap_penalty(computed, accrued, Decimal("1000.00"))
    assert capped.charged == charged
    assert capped.reaches_cap is reaches


@pytest.mark.parametrize(
    ("received", "expiry", "ok"),
    [
        (date(2027, 5, 15), date(2028, 5, 15), True),  # exactly twelve months
        (date(2027, 5, 15), date(2028, 5, 14), False),
        (date(2027, 5, 15), date(2029, 1, 1), True),
        # From the 31st, twelve months later is the 31st; from February 29, February 28.
        (date(2028, 2, 29), date(2029, 2, 28), True),
        (date(2028, 2, 29), date(2029, 2, 27), False),
    ],
)
def test_shelf_life_at_receipt_is_at_least_twelve_months(
    received: date, expiry: date, ok: bool
) -> None:
    assert rules.shelf_life_ok(received, expiry) is ok
    problem = rules.shelf_life_problem(received, expiry, 12, lot="L1")
    assert (problem is None) is ok


def test_shelf_life_months_are_a_parameter() -> None:
    assert rules.shelf_life_ok(date(2027, 5, 15), date(2027, 11, 15), 6)
    assert not rules.shelf_life_ok(date(2027, 5, 15), date(2027, 11, 14), 6)
    assert rules.add_months(date(2027, 1, 31), 1) == date(2027, 2, 28)


@pytest.mark.parametrize(
    ("ordered", "quantity", "fits"),
    [(0, 1000, True), (999, 1, True), (1000, 1, False), (400, 601, False), (0, 0, False)],
)
def test_orders_never_exceed_the_contract_maximum(ordered: int, quantity: int, fits: bool) -> None:
    problem = rules.order_problem(
        clave="010.000.0104.00", max_qty=1000, ordered=ordered, quantity=quantity
    )
    assert (problem is None) is fits
    if not fits and quantity:
        assert problem is not None
        assert f"quedan {1000 - ordered:,}" in problem.message


def test_the_minimum_progress_is_a_share_capped_at_one() -> None:
    assert rules.minimum_progress(200, 400) == Decimal("0.5")
    assert rules.minimum_progress(800, 400) == 1
    assert rules.minimum_progress(0, 0) == 1


def test_the_fill_rate_is_on_time_accepted_over_due() -> None:
    assert rules.fill_rate(90, 100) == Decimal("0.9")
    assert rules.fill_rate(0, 100) == 0
    assert rules.fill_rate(0, 0) is None


def test_one_delivery_is_a_twelfth_of_the_maximum_rounded_up() -> None:
    assert rules.minimum_lot(53_653) == 4_472
    assert rules.minimum_lot(12) == 1
    assert rules.minimum_lot(13) == 2
    assert rules.minimum_lot(0) == 1


@pytest.mark.parametrize(
    ("current", "target", "allowed"),
    [
        (rules.BORRADOR, rules.FIRMADO_INSTITUCION, True),
        (rules.BORRADOR, rules.FIRMADO_PROVEEDOR, False),
        (rules.FIRMADO_INSTITUCION, rules.FIRMADO_PROVEEDOR, True),
        (rules.FIRMADO_PROVEEDOR, rules.VIGENTE, True),
        (rules.BORRADOR, rules.VIGENTE, False),
        (rules.VIGENTE, rules.CONCLUIDO, True),
        (rules.VIGENTE, rules.RESCINDIDO, True),
        (rules.CONCLUIDO, rules.RESCINDIDO, False),
    ],
)
def test_the_contract_moves_only_forward(current: str, target: str, allowed: bool) -> None:
    if allowed:
        rules.check_transition(current, target)
    else:
        with pytest.raises(Conflict):
            rules.check_transition(current, target)
