"""Money as Decimal pesos, and the es-MX way of showing money, numbers and dates."""

from __future__ import annotations

from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal
from zoneinfo import ZoneInfo

CENT = Decimal("0.01")
MEXICO_CITY = ZoneInfo("America/Mexico_City")


def to_money(value: Decimal | int | str) -> Decimal:
    """Round to centavos, half up, as Mexican invoices do."""
    return Decimal(value).quantize(CENT, rounding=ROUND_HALF_UP)


def format_mxn(value: Decimal) -> str:
    """``$1,234.56``; negative amounts as ``-$1,234.56``."""
    amount = to_money(value)
    sign = "-" if amount < 0 else ""
    return f"{sign}${abs(amount):,.2f}"


def format_int(value: int) -> str:
    return f"{value:,}"


def count_of(value: int, singular: str, plural: str) -> str:
    """A count with its noun (and what agrees with it) in the right number: «1 clave
    coincide», «2 claves coinciden» — never «clave(s)»."""
    return f"{value:,} {singular if value == 1 else plural}"


def format_percent(rate: Decimal) -> str:
    """A rate such as ``Decimal("0.16")`` as ``16 %``."""
    return f"{(rate * 100).normalize():f} %"


def local_day(moment: datetime) -> date:
    """The natural day of an instant in Mexico City: the law counts days where it applies, and a
    registration at 23:17 there is on that day, not on the next day's UTC date."""
    return moment.astimezone(MEXICO_CITY).date()


def format_date(value: date | datetime) -> str:
    """``dd/mm/aaaa``, in Mexico City time for instants."""
    if isinstance(value, datetime):
        value = value.astimezone(MEXICO_CITY)
    return value.strftime("%d/%m/%Y")


def format_seconds(value: datetime) -> str:
    """``dd/mm/aaaa hh:mm:ss`` in Mexico City time: deadlines and arrivals, to the second."""
    return value.astimezone(MEXICO_CITY).strftime("%d/%m/%Y %H:%M:%S")


def format_datetime(value: datetime) -> str:
    """``dd/mm/aaaa hh:mm`` in Mexico City time."""
    return value.astimezone(MEXICO_CITY).strftime("%d/%m/%Y %H:%M")
