"""Numbers read from text: refused by length and exponent before any costly conversion."""

from __future__ import annotations

from decimal import Decimal

import pytest

from abasto.core import numbers


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("12", Decimal(12)),
        (" -7319.47 ", Decimal("-7319.47")),
        ("1e3", Decimal(1000)),
        ("0.000001", Decimal("0.000001")),
        ("9" * numbers.MAX_EXPONENT, Decimal("9" * numbers.MAX_EXPONENT)),
    ],
)
def test_ordinary_numbers_are_read_exactly(text: str, expected: Decimal) -> None:
    assert numbers.decimal_of(text) == expected


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("1e999999", "fuera de rango"),
        ("1E+999999999999999999", "fuera de rango"),
        ("0e999999", "fuera de rango"),
        ("1e-999999", "fuera de rango"),
        ("9" * (numbers.MAX_NUMBER_CHARS + 1), "caracteres"),
        ("9" * 1_000_000, "caracteres"),
        ("NaN", "no es un número"),
        ("-Infinity", "no es un número"),
        ("doce", "no es un número"),
        ("", "no es un número"),
    ],
)
def test_poison_text_is_refused_before_conversion(text: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        numbers.decimal_of(text)


def test_whole_numbers_are_refused_by_size_not_converted() -> None:
    assert numbers.whole_of("1,250".replace(",", "")) == 1250
    with pytest.raises(ValueError, match="entero"):
        numbers.whole_of("2.5")
    for text in ("1e999999", "9" * 1_000_000, "1" + "0" * 200_000 + "e-200000"):
        with pytest.raises(ValueError, match=r"caracteres|rango"):
            numbers.whole_of(text)


@pytest.mark.parametrize(
    ("value", "ok"),
    [
        (10**19, True),
        (10**numbers.MAX_EXPONENT, False),
        (float("inf"), False),
        (1e300, False),
        (Decimal("1e999999"), False),
        (Decimal("12.5"), True),
        (2.5, True),
    ],
)
def test_cell_values_of_any_kind_are_bounded(value: object, ok: bool) -> None:
    if ok:
        assert numbers.number_of(value) == Decimal(str(value))
    else:
        with pytest.raises(ValueError, match=r"rango|número"):
            numbers.number_of(value)


@pytest.mark.parametrize(
    ("text", "expected"),
    [("12", 12), (" 7 ", 7), ("", None), ("x", None), ("²", None), ("-1", None), ("9" * 40, None)],
)
def test_a_count_typed_in_a_form_is_read_only_when_plain_and_small(
    text: str, expected: int | None
) -> None:
    assert numbers.count_of(text) == expected
