"""Numbers read from text (a JSON string, a form field, a sheet's cell), bounded before conversion.

``int(Decimal("1e999999"))`` takes 86 s of CPU holding the GIL, and ``int()`` of a Decimal with a
million digits about as long: the conversion is quadratic in the number of digits, and one such
value in a bid or an upload froze the whole server (issue 14). Every number Abasto reads from
text goes through here, and is refused by its length, then by its exponent, before anything
costs more than reading the text once. No quantity, price, rate or count Abasto keeps needs more
than 20 digits, so the limits leave room for separators and decimals and refuse nothing real.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

MAX_NUMBER_CHARS = 40
"""The longest text read as a number: the largest price of numeric(16,2) with its thousands
separators, a sign and a currency symbol is 24 characters."""
MAX_EXPONENT = 24
"""A number read is below 10**24 in magnitude and, unless zero, at least 10**-24: no integer
conversion of it can cost more than a few dozen digits."""
_LIMIT = 10**MAX_EXPONENT
MAX_COUNT_DIGITS = 18
"""A count typed in a form or a query (a page, a version, a partida) fits in 64 bits."""


class OutOfRange(ValueError):
    """A number, but beyond ``MAX_EXPONENT``: too large (or too small) for anything kept."""


def decimal_of(text: str) -> Decimal:
    """``text`` as an exact, finite Decimal; ValueError (in Spanish) saying why not.

    Refused by its length before it is parsed, and by its exponent before anything is done with
    it: parsing ``1e999999`` is cheap, converting it to an int is not.
    """
    text = text.strip()
    if len(text) > MAX_NUMBER_CHARS:
        raise ValueError(f"tiene más de {MAX_NUMBER_CHARS} caracteres")
    try:
        number = Decimal(text)
    except InvalidOperation:
        raise ValueError("no es un número") from None
    return _bounded(number)


def _bounded(number: Decimal) -> Decimal:
    if not number.is_finite():
        raise ValueError("no es un número")
    # adjusted() is the exponent of the leading digit: 1e999999 → 999999, 0e999999 → 999999.
    if not -MAX_EXPONENT <= number.adjusted() < MAX_EXPONENT:
        raise OutOfRange(f"está fuera de rango (a lo más {MAX_EXPONENT} dígitos)")
    return number


def number_of(value: object) -> Decimal:
    """A cell's or a field's value of any kind (int, float, Decimal, text) as a bounded Decimal.

    An int is compared, never turned into text: ``str()`` of a huge int is itself quadratic."""
    if isinstance(value, bool):
        raise ValueError("no es un número")
    if isinstance(value, int):
        if not -_LIMIT < value < _LIMIT:
            raise OutOfRange(f"está fuera de rango (a lo más {MAX_EXPONENT} dígitos)")
        return Decimal(value)
    if isinstance(value, float):
        # repr() is the shortest text that reads back as the same float: 0.1, not 0.1000000000…
        return decimal_of(repr(value))
    if isinstance(value, Decimal):
        return _bounded(value)
    if isinstance(value, str):
        return decimal_of(value)
    raise ValueError("no es un número")


def whole_of(value: object) -> int:
    """A bounded whole number (``12``, ``12.0``, ``"1.2e3"``); ValueError when it is not one."""
    if isinstance(value, int) and not isinstance(value, bool):
        number_of(value)
        return value
    number = number_of(value)
    if number != number.to_integral_value():
        raise ValueError("no es un número entero")
    return int(number)


def count_of(text: str) -> int | None:
    """A plain count typed in a form or a query (ASCII digits only, at most 18); None otherwise.

    ``str.isdigit`` alone lets through ``²`` (which ``int`` refuses) and any number of digits."""
    text = text.strip()
    if not text or len(text) > MAX_COUNT_DIGITS or not (text.isascii() and text.isdigit()):
        return None
    return int(text)


def shown(value: object, limit: int = MAX_NUMBER_CHARS) -> str:
    """A refused value as a message may repeat it: cut to ``limit`` characters.

    An int longer than that is described, not converted (``str()`` of it is quadratic too)."""
    if isinstance(value, int) and not isinstance(value, bool) and not -_LIMIT < value < _LIMIT:
        return f"un número de unos {int(value.bit_length() * 0.30103) + 1} dígitos"
    text = str(value)
    return text if len(text) <= limit else f"{text[:limit]}… ({len(text)} caracteres)"
