"""The ranges of what a request may carry: whole numbers that fit the columns, dates we can add to.

A request with a number beyond a 32-bit column (``/tenders/2147483648``, ``page=10**20``, a
demand of 3,000,000,000 pieces) or a date at the end of the calendar (``9999-12-31``, whose
next day does not exist) reached the database or the date arithmetic and answered 500 (issue
14). Each such value is declared with one of these types, so it is refused as a 422 problem
before anything reads it, and the OpenAPI document tells clients the range.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from typing import Annotated

from pydantic import AfterValidator, AwareDatetime, Field

INT_MAX = 2**31 - 1
"""The largest value of an ``Integer`` column (32 bits on PostgreSQL): every id, number,
quantity, version and page a request names fits it."""

FIRST_DAY = date(2000, 1, 1)
LAST_DAY = date(2100, 12, 31)
"""The days a request may name: the years demand rounds may cover (2000-2100), so a period's
end, the next day or a deadline a few months later are still dates."""
_FIRST = datetime.combine(FIRST_DAY, time(), UTC)
_AFTER_LAST = datetime.combine(date(LAST_DAY.year + 1, 1, 1), time(), UTC)
DAYS_EXPECTED = f"una fecha entre {FIRST_DAY.isoformat()} y {LAST_DAY.isoformat()}"
INSTANTS_EXPECTED = f"un instante entre {FIRST_DAY.isoformat()} y {LAST_DAY.isoformat()}, inclusive"

Id = Annotated[int, Field(ge=1, le=INT_MAX)]
"""A row's id or a number within its parent (partida, question)."""
Count = Annotated[int, Field(ge=0, le=INT_MAX)]
"""A quantity of pieces or any other count kept in an ``Integer`` column."""

Day = Annotated[
    date,
    Field(
        ge=FIRST_DAY,
        le=LAST_DAY,
        json_schema_extra={
            "formatMinimum": FIRST_DAY.isoformat(),
            "formatMaximum": LAST_DAY.isoformat(),
        },
    ),
]


def _within_days(moment: datetime) -> datetime:
    if not within_instants(moment):
        raise ValueError(INSTANTS_EXPECTED)
    return moment


Instant = Annotated[
    AwareDatetime,
    AfterValidator(_within_days),
    Field(
        json_schema_extra={
            "formatMinimum": _FIRST.isoformat(),
            "formatMaximum": _AFTER_LAST.isoformat(),
        }
    ),
]
"""An instant with its zone, within the days above (compared in UTC, so ``+14:00`` and
``-12:00`` at either end are no way around it)."""


def within_days(day: date) -> bool:
    """Whether ``day`` is one a request may name."""
    return FIRST_DAY <= day <= LAST_DAY


def within_instants(moment: datetime) -> bool:
    """Whether an aware instant is within the days a request may name."""
    return _FIRST <= moment < _AFTER_LAST
