"""Suggest maxima per clave from monthly consumption: read it, adjust it, forecast it.

Pure: values in, values out, no database. The steps, in the order the service runs them:

1. ``read_consumption`` reads a CSV or workbook of monthly consumption per unit × clave, with
   the days each month had no stock where the unit knows them.
2. ``monthly_histories`` lays the rows out as one series per unit × clave, each month's
   consumption raised by ``adjust_for_stockouts`` to what the unit would have consumed had it
   had stock every day.
3. ``classify`` names each series' pattern by the Syntetos–Boylan scheme, which decides the model:
   AutoETS for smooth and erratic demand, CrostonSBA for intermittent and lumpy, TSB for an
   intermittent series that has stopped (``choose_model``).
4. ``forecast_many`` fits those models in one statsforecast call per model over all the series
   that use it and sums each forecast over the round's months into a ``Suggestion``.
5. ``flag`` marks a submitted maximum far from its suggestion; ``backtest`` measures each
   model's accuracy (MASE) on the last months of the history, held out.

``synthetic_histories`` generates series whose true demand is known, for tests and benchmarks.
"""

from __future__ import annotations

import calendar
import math
import re
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from fractions import Fraction
from typing import Any, TypeVar

import numpy as np
import numpy.typing as npt

from abasto.catalog.reader import CLAVE
from abasto.catalog.rules import ClaveError, parse_clave
from abasto.core import numbers
from abasto.core.errors import Problem, ValidationFailed
from abasto.core.spreadsheet import (
    Cell,
    Column,
    Header,
    find_headers,
    is_blank,
    is_total_label,
    read_sheets,
    text,
)
from abasto.core.text import fold

K = TypeVar("K", bound=Hashable)
FloatArray = npt.NDArray[np.float64]
Series = Sequence[float | None] | FloatArray
"""Monthly values, oldest first; None (NaN in an array) where the month is unknown."""

# ----- reading consumption -------------------------------------------------------------------

UNIT = Column(
    "unit",
    (
        "Unidad",
        "Clave de unidad",
        "Clave de la unidad",
        "Unidad médica",
        "Clave de unidad médica",
        "CLUES",
    ),
)
MONTH = Column("month", ("Mes", "Periodo", "Mes de consumo", "Periodo de consumo"))
CONSUMED = Column(
    "consumed", ("Consumo", "Cantidad consumida", "Consumo mensual", "Piezas consumidas")
)
STOCKOUT_DAYS = Column(
    "stockout_days",
    ("Días sin existencia", "Días de desabasto", "Días sin existencias", "Días en desabasto"),
    required=False,
)
CONSUMPTION_COLUMNS = (UNIT, CLAVE, MONTH, CONSUMED, STOCKOUT_DAYS)

MONTH_EXPECTED = "el mes como 2024-03, 2024-03-01, 03/2024, 202403, «mar-2024» o una fecha de Excel"
CONSUMED_EXPECTED = "un número entero de piezas, 0 o más"
UNIT_EXPECTED = "la clave de la unidad (CLUES o la clave interna de la institución)"

_MONTH_NAMES = {
    name: number
    for number, names in enumerate(
        (
            ("ene", "enero"),
            ("feb", "febrero"),
            ("mar", "marzo"),
            ("abr", "abril"),
            ("may", "mayo"),
            ("jun", "junio"),
            ("jul", "julio"),
            ("ago", "agosto"),
            ("sep", "sept", "septiembre", "set", "setiembre"),
            ("oct", "octubre"),
            ("nov", "noviembre"),
            ("dic", "diciembre"),
        ),
        start=1,
    )
    for name in names
}
_YEAR_MONTH = re.compile(r"(\d{4})[-/.](\d{1,2})")
_ISO_DATE = re.compile(r"(\d{4})-(\d{1,2})-(\d{1,2})(?:[ T]\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?)?")
_MONTH_YEAR = re.compile(r"(\d{1,2})[-/.](\d{4})")
_DAY_MONTH_YEAR = re.compile(r"(\d{1,2})/(\d{1,2})/(\d{4})(?: \d{1,2}:\d{2}(?::\d{2})?)?")
_COMPACT = re.compile(r"(\d{4})(\d{2})")
_NAMED = re.compile(r"([a-z]+)[\s\-/.]*(?:de\s+|del\s+)?(\d{4}|\d{2})")
_THOUSANDS = re.compile(r"\d{1,3}(?:,\d{3})+")
_FIRST_YEAR, _LAST_YEAR = 1990, 2100


@dataclass(frozen=True, slots=True)
class ConsumptionRow:
    """What a unit consumed of a clave in a month, and where the file said so."""

    sheet: str
    row: int
    unit_code: str
    clave: str
    month: date
    """The first day of the month."""
    consumed: int
    stockout_days: int | None
    """Days of the month without stock; None where the file does not say."""


def days_in_month(month: date) -> int:
    return calendar.monthrange(month.year, month.month)[1]


def parse_month(value: Cell) -> date | None:
    """The month a cell names, as its first day; None when it names none.

    Accepts dates (any day names its month: Excel often stores a month as its first or last
    day), ``2024-03``, ``2024-03-15``, ``03/2024``, ``15/03/2024`` (es-MX order, day first),
    ``202403`` and Spanish month names (``mar-2024``, ``marzo 2024``, ``mar-24``).
    """
    if isinstance(value, datetime | date):
        return _month(value.year, value.month)
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int) or (isinstance(value, float) and value.is_integer()):
        value = str(int(value))
    if not isinstance(value, str):
        return None
    raw = fold(value) if any(ch.isalpha() for ch in value) else value.strip()
    if match := _YEAR_MONTH.fullmatch(raw):
        return _month(int(match[1]), int(match[2]))
    if match := _ISO_DATE.fullmatch(raw):
        return _month(int(match[1]), int(match[2]), int(match[3]))
    if match := _MONTH_YEAR.fullmatch(raw):
        return _month(int(match[2]), int(match[1]))
    if match := _DAY_MONTH_YEAR.fullmatch(raw):
        return _month(int(match[3]), int(match[2]), int(match[1]))
    if match := _COMPACT.fullmatch(raw):
        return _month(int(match[1]), int(match[2]))
    if (match := _NAMED.fullmatch(raw)) and match[1] in _MONTH_NAMES:
        year = int(match[2])
        return _month(year + 2000 if year < 100 else year, _MONTH_NAMES[match[1]])
    return None


def _month(year: int, month: int, day: int = 1) -> date | None:
    if not _FIRST_YEAR <= year <= _LAST_YEAR or not 1 <= month <= 12:
        return None
    if not 1 <= day <= calendar.monthrange(year, month)[1]:
        return None
    return date(year, month, 1)


def parse_count(value: Cell) -> int | None:
    """A whole non-negative number in a cell (``1,250`` with thousands commas too), else None."""
    number = _number(value)
    if number is None or number < 0 or number != number.to_integral_value():
        return None
    return int(number)


def _number(value: Cell) -> Decimal | None:
    """The number in a cell, whatever its kind; None when it holds none."""
    if isinstance(value, str):
        value = value.strip().replace(" ", "").replace("\u00a0", "")
        if _THOUSANDS.fullmatch(value.lstrip("-")):
            value = value.replace(",", "")
    try:
        # Bounded by length and exponent: a cell of a million digits is not a consumption.
        return numbers.number_of(value)
    except ValueError:
        return None


def _count_issue(value: Cell) -> str:
    """Why a cell is not a whole non-negative number, in words for the message."""
    if is_blank(value):
        return "está vacío"
    number = _number(value)
    if number is None:
        return "no es un número"
    if number < 0:
        return "es negativo"
    return "no es un número entero"


def read_consumption(content: bytes, filename: str) -> tuple[ConsumptionRow, ...]:
    """Every row of monthly consumption in the file; ``ValidationFailed`` lists all problems.

    Columns are found by name in every sheet that has them; blank rows and totals rows (no
    clave, ``Total`` somewhere) are skipped. Stock-out days are optional; a blank cell there
    means the unit does not know (not zero). Refused: a malformed clave, a
    month that is not one, a consumption that is not a whole number of pieces, stock-out days
    outside 0 to the days of that month, and the same unit, clave and month twice.
    """
    headers = find_headers(read_sheets(content, filename), CONSUMPTION_COLUMNS)
    problems: list[Problem] = []
    rows: list[ConsumptionRow] = []
    seen: dict[tuple[str, str, date], tuple[str, int]] = {}
    claves: dict[str, str | ClaveError] = {}
    months: dict[Cell, date | None] = {}
    for header in headers:
        reader = _RowReader(header, problems, claves, months)
        for number, cells in header.rows():
            row = reader.read(number, cells)
            if row is None:
                continue
            key = (row.unit_code, row.clave, row.month)
            first = seen.setdefault(key, (row.sheet, row.row))
            if first != (row.sheet, row.row):
                where = f"la fila {first[1]}" + (
                    f" de la hoja «{first[0]}»" if first[0] != row.sheet else ""
                )
                problems.append(
                    Problem(
                        message=(
                            f"la unidad {row.unit_code}, la clave {row.clave} y el mes"
                            f" {row.month:%Y-%m} ya aparecen en {where}"
                        ),
                        sheet=row.sheet,
                        row=row.row,
                        column=reader.name(MONTH),
                        value=f"{row.month:%Y-%m}",
                        expected="un solo renglón por unidad, clave y mes",
                    )
                )
                continue
            rows.append(row)
    if problems:
        count = f"{len(problems)} problema" + ("s" if len(problems) != 1 else "")
        raise ValidationFailed(
            f"El archivo de consumo «{filename}» tiene {count}; no se importó ningún renglón.",
            problems=problems,
        )
    return tuple(rows)


class _RowReader:
    """Validates the rows of one sheet; parsed claves and months are shared across sheets."""

    def __init__(
        self,
        header: Header,
        problems: list[Problem],
        claves: dict[str, str | ClaveError],
        months: dict[Cell, date | None],
    ) -> None:
        self.header = header
        self.sheet = header.sheet.name
        self.problems = problems
        self.claves = claves
        self.months = months
        self.index = {column.key: header.index(column.key) for column in CONSUMPTION_COLUMNS}

    def read(self, number: int, cells: tuple[Cell, ...]) -> ConsumptionRow | None:
        values = {
            key: (cells[i] if i is not None and i < len(cells) else None)
            for key, i in self.index.items()
        }
        if all(is_blank(value) for value in values.values()):
            return None
        if is_blank(values[CLAVE.key]) and any(is_total_label(value) for value in cells):
            return None
        before = len(self.problems)
        unit = text(values[UNIT.key])
        if unit is None:
            self._problem(number, UNIT, "falta la unidad", values[UNIT.key], UNIT_EXPECTED)
        clave = self._clave(number, values[CLAVE.key])
        month = self._month(number, values[MONTH.key])
        consumed = parse_count(values[CONSUMED.key])
        if consumed is None:
            raw = values[CONSUMED.key]
            issue = _count_issue(raw)
            message = "falta el consumo" if is_blank(raw) else f"el consumo {issue}"
            self._problem(number, CONSUMED, message, raw, CONSUMED_EXPECTED)
        stockout = self._stockout_days(number, values[STOCKOUT_DAYS.key], month)
        if len(self.problems) > before:
            return None
        assert unit is not None
        assert clave is not None
        assert month is not None
        assert consumed is not None
        return ConsumptionRow(
            sheet=self.sheet,
            row=number,
            unit_code=unit,
            clave=clave,
            month=month,
            consumed=consumed,
            stockout_days=stockout,
        )

    def _clave(self, number: int, value: Cell) -> str | None:
        cache_key = value if isinstance(value, str) else None
        parsed = self.claves.get(cache_key) if cache_key is not None else None
        if parsed is None:
            try:
                parsed = str(parse_clave(value))
            except ClaveError as error:
                parsed = error
            if cache_key is not None:
                self.claves[cache_key] = parsed
        if isinstance(parsed, ClaveError):
            self.problems.append(
                parsed.problem(sheet=self.sheet, row=number, column=self.name(CLAVE))
            )
            return None
        return parsed

    def _month(self, number: int, value: Cell) -> date | None:
        if value in self.months:
            month = self.months[value]
        else:
            month = parse_month(value)
            self.months[value] = month
        if month is None:
            message = "falta el mes" if is_blank(value) else "el mes no es válido"
            self._problem(number, MONTH, message, value, MONTH_EXPECTED)
        return month

    def _stockout_days(self, number: int, value: Cell, month: date | None) -> int | None:
        if is_blank(value):
            return None
        days = parse_count(value)
        # Without a month, at least no month is longer than 31 days.
        limit = days_in_month(month) if month is not None else 31
        if days is not None and days <= limit:
            return days
        if days is None:
            message = f"el número de días sin existencia {_count_issue(value)}"
        elif month is None:
            message = f"los días sin existencia ({days}) son más que los de cualquier mes (31)"
        else:
            message = f"los días sin existencia ({days}) son más que los días del mes ({limit})"
        expected = (
            f"un número entero de días de 0 a {limit}, los días de {month:%Y-%m}"
            if month is not None
            else "un número entero de días de 0 a los días del mes"
        )
        self._problem(number, STOCKOUT_DAYS, message, value, expected)
        return None

    def _problem(
        self, number: int, column: Column, message: str, value: Cell, expected: str
    ) -> None:
        self.problems.append(
            Problem(
                message=message,
                sheet=self.sheet,
                row=number,
                column=self.name(column),
                value=None if value is None else (text(value) or str(value)),
                expected=expected,
            )
        )

    def name(self, column: Column) -> str:
        index = self.index.get(column.key)
        return column.names[0] if index is None else self.header.column_name(index)


# ----- histories -----------------------------------------------------------------------------


def adjust_for_stockouts(consumed: float, days_in_period: int, stockout_days: int | None) -> float:
    """What would have been consumed with stock every day: consumed × days ÷ (days − stock-out).

    Unknown stock-out days (None) leave the consumption as it is. A period without stock on
    any day (stock-out days ≥ days) says nothing about demand: the result is NaN, and
    ``forecast_many`` treats the month as missing rather than as zero demand.
    """
    if days_in_period <= 0:
        raise ValueError(f"a period has at least one day, not {days_in_period}")
    if stockout_days is None or stockout_days <= 0:
        return float(consumed)
    if stockout_days >= days_in_period:
        return math.nan
    return consumed * days_in_period / (days_in_period - stockout_days)


@dataclass(frozen=True, slots=True)
class ConsumptionHistory:
    """One series per (unit code, clave), every series over the same consecutive months."""

    months: tuple[date, ...]
    series: dict[tuple[str, str], list[float | None]]


def monthly_histories(rows: Iterable[ConsumptionRow], *, adjust: bool = True) -> ConsumptionHistory:
    """The rows as monthly series from the file's first month to its last.

    A unit that reported any clave in a month reported that month: its claves without a row
    count zero then, since consumption reports list what moved. A month in which the unit
    reported nothing is unknown (None), and so is a month without stock on any day. With
    ``adjust`` each month is raised for its stock-out days (``adjust_for_stockouts``).
    """
    rows = tuple(rows)
    if not rows:
        return ConsumptionHistory(months=(), series={})
    first = min(row.month for row in rows)
    last = max(row.month for row in rows)
    months = tuple(_months_between(first, last))
    position = {month: i for i, month in enumerate(months)}
    reported: dict[str, set[int]] = {}
    values: dict[tuple[str, str], dict[int, float | None]] = {}
    for row in rows:
        i = position[row.month]
        reported.setdefault(row.unit_code, set()).add(i)
        stockout = row.stockout_days if adjust else None
        value = adjust_for_stockouts(row.consumed, days_in_month(row.month), stockout)
        values.setdefault((row.unit_code, row.clave), {})[i] = None if math.isnan(value) else value
    series: dict[tuple[str, str], list[float | None]] = {}
    for key, known in values.items():
        unit_months = reported[key[0]]
        series[key] = [known.get(i, 0.0 if i in unit_months else None) for i in range(len(months))]
    return ConsumptionHistory(months=months, series=series)


def add_months(month: date, count: int) -> date:
    """The first day of the month ``count`` months after ``month``'s."""
    years, index = divmod(month.month - 1 + count, 12)
    return date(month.year + years, index + 1, 1)


def _months_between(first: date, last: date) -> Iterable[date]:
    count = (last.year - first.year) * 12 + last.month - first.month
    return (add_months(first, i) for i in range(count + 1))


def known_values(series: Series) -> FloatArray:
    """The months whose value is known, oldest first, as floats (missing months dropped).

    Dropping rather than filling keeps an intermittent series' zeros and sizes as they were.
    The models used are not seasonal, so a month's position matters only to a trend, which
    the few months left out barely stretch.
    """
    values = np.asarray(series, dtype=np.float64)
    known = values[~np.isnan(values)]
    if known.size and known.min() < 0:
        raise ValueError("consumption cannot be negative")
    return known


# ----- patterns ------------------------------------------------------------------------------

ADI_CUTOFF = 1.32
CV2_CUTOFF = 0.49


class Pattern(StrEnum):
    """The Syntetos–Boylan demand patterns, and ``none`` for a series without demand."""

    SMOOTH = "smooth"
    ERRATIC = "erratic"
    INTERMITTENT = "intermittent"
    LUMPY = "lumpy"
    NONE = "none"

    @property
    def label(self) -> str:
        """The Spanish name shown to users."""
        return _PATTERN_LABELS[self]

    @property
    def is_intermittent(self) -> bool:
        return self in (Pattern.INTERMITTENT, Pattern.LUMPY)


_PATTERN_LABELS = {
    Pattern.SMOOTH: "regular",
    Pattern.ERRATIC: "errática",
    Pattern.INTERMITTENT: "intermitente",
    Pattern.LUMPY: "esporádica e irregular",
    Pattern.NONE: "sin consumo",
}


def demand_stats(series: Series) -> tuple[float, float]:
    """(ADI, CV²) of the known months: months per month with demand, and the squared
    coefficient of variation of the non-zero quantities (population variance). (inf, 0) when
    nothing was consumed."""
    known = known_values(series)
    sizes = known[known > 0]
    if sizes.size == 0:
        return math.inf, 0.0
    adi = known.size / sizes.size
    mean = float(sizes.mean())
    cv2 = float(sizes.var()) / (mean * mean)
    return adi, cv2


def classify(series: Series) -> Pattern:
    """The Syntetos–Boylan pattern of the known months.

    ADI is the mean interval between months with demand, taken as known months ÷ months with
    demand so that a run of zeros at the end (a clave falling out of use) counts too; CV² is
    that of the non-zero quantities. ADI ≥ 1.32 is intermittent (CV² < 0.49) or lumpy, below
    it smooth (CV² < 0.49) or erratic. No demand at all is ``Pattern.NONE``.
    """
    adi, cv2 = demand_stats(series)
    if math.isinf(adi):
        return Pattern.NONE
    if adi >= ADI_CUTOFF:
        return Pattern.LUMPY if cv2 >= CV2_CUTOFF else Pattern.INTERMITTENT
    return Pattern.ERRATIC if cv2 >= CV2_CUTOFF else Pattern.SMOOTH


# ----- models --------------------------------------------------------------------------------

AUTO_ETS = "AutoETS"
CROSTON_SBA = "CrostonSBA"
ADIDA = "ADIDA"
TSB = "TSB"
AVERAGE = "promedio"
NO_CONSUMPTION = "sin consumo"
NO_HISTORY = "sin historia"
BY_PATTERN = "por patrón"

MIN_MONTHS = 6
"""Below this many known months a series is too short to fit: the suggestion is its mean."""

TSB_ALPHA_DEMAND = 0.1
TSB_ALPHA_PROBABILITY = 0.1
"""TSB's smoothing of the demand size and of the probability of demand, which statsforecast
needs fixed: 0.1 for both, the common choice in the literature. After a year without demand
the probability has fallen to 0.9¹² ≈ 28 % of what it was."""

FADING_MONTHS = 6
FADING_GAPS = 3
"""An intermittent or lumpy series is fading when its last ``FADING_MONTHS`` known months or
more had no demand, and at least ``FADING_GAPS`` times its usual interval between demands
before that run."""

MODEL_BY_PATTERN: Mapping[Pattern, str] = {
    Pattern.SMOOTH: AUTO_ETS,
    Pattern.ERRATIC: AUTO_ETS,
    Pattern.INTERMITTENT: CROSTON_SBA,
    Pattern.LUMPY: CROSTON_SBA,
}
"""Which model forecasts each pattern (``choose_model`` makes one exception: fading series).

Smooth and erratic demand: AutoETS, non-seasonal, additive errors. Three years hold three
cycles of a season, too few to estimate eleven seasonal states well, and a round's periods are
whole years, over which a season's ups and downs sum to nothing; the seasonal search would
also cost several times as much. AutoETS still chooses among no trend, trend and damped trend
by AICc. Multiplicative errors change the likelihood, hardly the point forecast: on 600
synthetic series of each kind, smooth, trending and with stock-outs, searching them too gave
the same annual MdAPE (3.4 %, 9.7 %, 3.3 % against 3.4 %, 9.7 %, 3.2 %) in 1.5 times the
time, so only additive errors are searched.

Intermittent and lumpy demand: CrostonSBA, Croston's method with the Syntetos–Boylan bias
correction, which Syntetos, Boylan and Croston (2005) recommend for both. On 10,000 synthetic
series (seed 2024) it gave the best annual quantity of the three candidates: median absolute
percentage error 19.5 % on the intermittent series (ADIDA 22.1 %, TSB 22.9 %) and 30.8 % on
the lumpy ones (ADIDA 31.8 %, TSB 32.9 %). ADIDA scores a better MASE (1.07 against 1.15),
but the months of an intermittent series have a median of zero, and absolute errors reward a
forecast leaning towards it: the quantity to buy is the sum, which MASE does not judge.
"""


def choose_model(pattern: Pattern, known: FloatArray) -> str:
    """The model for a series of this pattern: ``MODEL_BY_PATTERN``, except fading series.

    Croston's method only updates when demand occurs, so a clave that stopped being
    used (replaced, withdrawn from the Compendio) would be forecast at its old rate forever.
    TSB updates the probability of demand every month, so it fades; it is used for the
    intermittent and lumpy series whose recent run without demand is long for them (see
    ``FADING_MONTHS``). In a steady series with demand one month in four, such a run (twelve
    months) ends about 3 % of series.
    """
    if pattern.is_intermittent:
        nonzero = np.flatnonzero(known > 0)
        last = int(nonzero[-1])
        trailing = known.size - 1 - last
        usual = (last + 1) / nonzero.size
        if trailing >= max(FADING_MONTHS, FADING_GAPS * usual):
            return TSB
    return MODEL_BY_PATTERN[pattern]


CANDIDATES: Mapping[Pattern, tuple[str, ...]] = {
    Pattern.SMOOTH: (AUTO_ETS,),
    Pattern.ERRATIC: (AUTO_ETS,),
    Pattern.INTERMITTENT: (CROSTON_SBA, ADIDA, TSB),
    Pattern.LUMPY: (CROSTON_SBA, ADIDA, TSB),
}
"""The models ``backtest`` scores on the series of each pattern."""


def _model(name: str) -> Any:
    # Imported here: statsforecast takes a second to import (numba), which reading a file
    # or flagging a line should not pay.
    from statsforecast import models

    if name == AUTO_ETS:
        return models.AutoETS(season_length=1, model="AZN")
    if name == CROSTON_SBA:
        return models.CrostonSBA()
    if name == ADIDA:
        return models.ADIDA()
    if name == TSB:
        return models.TSB(alpha_d=TSB_ALPHA_DEMAND, alpha_p=TSB_ALPHA_PROBABILITY)
    raise ValueError(f"unknown model {name!r}")


def forecast_batch(
    series: Sequence[FloatArray], models: Sequence[str], horizon: int, n_jobs: int
) -> dict[str, FloatArray]:
    """Each model's forecast of every series, ``horizon`` months ahead: model → (series, h).

    One statsforecast call fits all the models on all the series, spread over ``n_jobs``
    processes; a month forecast below zero (a falling trend) is taken as zero.
    """
    import pandas as pd
    from statsforecast import StatsForecast

    lengths = np.fromiter((s.size for s in series), dtype=np.int64, count=len(series))
    starts = np.repeat(np.cumsum(lengths) - lengths, lengths)
    frame = pd.DataFrame(
        {
            "unique_id": np.repeat(np.arange(len(series), dtype=np.int64), lengths),
            "ds": np.arange(int(lengths.sum()), dtype=np.int64) - starts + 1,
            "y": np.concatenate(series),
        }
    )
    engine = StatsForecast(models=[_model(name) for name in models], freq=1, n_jobs=n_jobs)
    out: Any = engine.forecast(df=frame, h=horizon)
    order = out["unique_id"].to_numpy().reshape(len(series), horizon)[:, 0]
    if not np.array_equal(order, np.arange(len(series))):
        raise RuntimeError("statsforecast returned the series out of order")
    return {
        name: np.clip(out[name].to_numpy(dtype=np.float64).reshape(len(series), horizon), 0, None)
        for name in models
    }


# ----- suggestions ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Suggestion:
    """The quantity suggested for the horizon, the model that gave it and what it saw."""

    total: int
    model: str
    pattern: str
    history_months: int
    """Known months the suggestion rests on (missing and stock-out months excluded)."""


def _round_up(quantity: float) -> int:
    # A sum of floats lands a hair above a whole number (120.000000001): not one more piece.
    return max(0, math.ceil(quantity - 1e-6))


def forecast_many(
    histories: Mapping[K, Series],
    *,
    horizon_months: int,
    lead_months: int = 0,
    n_jobs: int = 2,
) -> dict[K, Suggestion]:
    """The suggested quantity of every series over the next ``horizon_months`` months.

    ``lead_months`` months between the end of the history and the first month of the round
    are forecast but not counted. Each series' pattern picks its model (``choose_model``);
    the series of one model are forecast together in one statsforecast call. The monthly
    forecasts are summed and rounded up to whole pieces. Series that cannot be fitted:

    - no known month: 0, model «sin historia»;
    - nothing consumed in any known month: 0, model «sin consumo»;
    - fewer than ``MIN_MONTHS`` known months: the mean of the known months × the horizon,
      model «promedio»; so is a series whose model returned no number (NaN), which
      statsforecast does not do for the models used but a suggestion must never be.
    """
    if horizon_months < 1 or lead_months < 0:
        raise ValueError("the horizon is at least one month and the lead is not negative")
    suggestions: dict[K, Suggestion] = {}
    groups: dict[str, list[tuple[K, FloatArray, Pattern]]] = {}
    for key, series in histories.items():
        known = known_values(series)
        pattern = classify(known)
        if known.size == 0:
            suggestions[key] = Suggestion(0, NO_HISTORY, Pattern.NONE.value, 0)
        elif pattern is Pattern.NONE:
            suggestions[key] = Suggestion(0, NO_CONSUMPTION, pattern.value, known.size)
        elif known.size < MIN_MONTHS:
            suggestions[key] = _average(known, pattern, horizon_months)
        else:
            groups.setdefault(choose_model(pattern, known), []).append((key, known, pattern))
    for model, members in groups.items():
        forecasts = forecast_batch(
            [known for _, known, _ in members], [model], horizon_months + lead_months, n_jobs
        )[model][:, lead_months:]
        totals = forecasts.sum(axis=1)
        for (key, known, pattern), total in zip(members, totals, strict=True):
            if math.isfinite(total):
                suggestions[key] = Suggestion(_round_up(total), model, pattern.value, known.size)
            else:
                suggestions[key] = _average(known, pattern, horizon_months)
    return {key: suggestions[key] for key in histories}


def _average(known: FloatArray, pattern: Pattern, horizon_months: int) -> Suggestion:
    total = float(known.mean()) * horizon_months
    return Suggestion(_round_up(total), AVERAGE, pattern.value, known.size)


# ----- flags ---------------------------------------------------------------------------------

ABOVE = "above"
BELOW = "below"


def flag(
    submitted_max: int, suggested: int, *, above: float = 3.0, below: float = 1 / 3
) -> str | None:
    """``"above"`` when the submitted maximum exceeds ``above`` × the suggestion, ``"below"``
    when it is under ``below`` × the suggestion, else None; the boundaries themselves pass.

    The factors are taken as the nearest simple fractions, so ``1/3`` is exactly a third and
    99 against 300 is below while 100 is not. A suggestion of 0 (no consumption) is compared
    as if it were 1 piece: asking for 1 to 3 where nothing was consumed passes, 4 or more is
    above; nothing is ever below 0.
    """
    if submitted_max < 0 or suggested < 0:
        raise ValueError("quantities cannot be negative")
    if not 0 < below <= 1 <= above:
        raise ValueError("the factors must satisfy 0 < below ≤ 1 ≤ above")
    high = Fraction(above).limit_denominator(1000)
    low = Fraction(below).limit_denominator(1000)
    if submitted_max > high * max(suggested, 1):
        return ABOVE
    if submitted_max < low * suggested:
        return BELOW
    return None


# ----- backtest ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ModelAccuracy:
    """How well a model forecast the held-out months, as MASE over the series it was tried on.

    MASE of a series: the mean absolute error over the held-out months ÷ the mean absolute
    one-month change in the months before them (the in-sample naive forecast's error). Below
    1 the model beat "next month as this month" as it did in-sample.
    """

    model: str
    series: int
    mase: float
    """Mean over the series; NaN when no series could be scored."""
    median_mase: float


def backtest(
    histories: Mapping[K, Series], *, holdout_months: int = 12, n_jobs: int = 2
) -> dict[str, ModelAccuracy]:
    """MASE of each candidate model, the mean, and the chosen-by-pattern strategy.

    The last ``holdout_months`` known months of each series are held out and the rest is
    classified and fitted: every candidate of its pattern (``CANDIDATES``) is scored on it,
    so CrostonSBA, ADIDA and TSB are compared on the same intermittent and lumpy series. The
    «promedio» row scores the in-sample mean on every series, «por patrón» the model
    ``choose_model`` picks. Left out: series with fewer than ``holdout_months`` +
    ``MIN_MONTHS`` known months, or with no demand before the holdout, or whose in-sample
    months never change (the scale would be zero).
    """
    if holdout_months < 1:
        raise ValueError("hold out at least one month")
    groups: dict[tuple[str, ...], list[tuple[FloatArray, FloatArray, float, Pattern]]] = {}
    for series in histories.values():
        known = known_values(series)
        if known.size < holdout_months + MIN_MONTHS:
            continue
        train, test = known[:-holdout_months], known[-holdout_months:]
        pattern = classify(train)
        naive_error = float(np.abs(np.diff(train)).mean())
        if pattern is Pattern.NONE or naive_error == 0:
            continue
        groups.setdefault(CANDIDATES[pattern], []).append((train, test, naive_error, pattern))
    scores: dict[str, list[FloatArray]] = {}

    def score(name: str, forecast: FloatArray, test: FloatArray, scale: FloatArray) -> None:
        scores.setdefault(name, []).append(np.abs(forecast - test).mean(axis=1) / scale)

    for candidates, members in groups.items():
        test = np.stack([m[1] for m in members])
        scale = np.array([m[2] for m in members])
        forecasts = forecast_batch([m[0] for m in members], candidates, holdout_months, n_jobs)
        for name in candidates:
            score(name, forecasts[name], test, scale)
        means = np.array([m[0].mean() for m in members])
        score(AVERAGE, np.repeat(means[:, None], holdout_months, axis=1), test, scale)
        chosen = np.stack([forecasts[choose_model(m[3], m[0])][i] for i, m in enumerate(members)])
        score(BY_PATTERN, chosen, test, scale)
    order = [AUTO_ETS, CROSTON_SBA, ADIDA, TSB, AVERAGE, BY_PATTERN]
    return {
        name: _accuracy(name, np.concatenate(scores[name]))
        for name in sorted(scores, key=order.index)
    }


def _accuracy(model: str, mase: FloatArray) -> ModelAccuracy:
    finite = mase[np.isfinite(mase)]
    if finite.size == 0:
        return ModelAccuracy(model, 0, math.nan, math.nan)
    return ModelAccuracy(model, finite.size, float(finite.mean()), float(np.median(finite)))


# ----- synthetic histories -------------------------------------------------------------------

SYNTHETIC_KINDS = ("smooth", "trending", "intermittent", "lumpy", "stockout")
"""What ``synthetic_histories`` generates: steady demand; demand growing or shrinking
(exponentially, −2 % to +2.5 % a month); demand in some months only, of regular size
(intermittent) or of wildly varying size (lumpy); steady demand whose consumption is cut short
by stock-outs, the stock-out days being recorded."""


@dataclass(frozen=True, slots=True)
class SyntheticSeries:
    """A generated history and the true mean demand behind it, past and future."""

    kind: str
    start: date
    consumed: npt.NDArray[np.int64]
    stockout_days: npt.NDArray[np.int64]
    """Per month; -1 where the days are not known (every kind but ``stockout``)."""
    mean_demand: FloatArray
    """The true expected demand of each month: the history's months, then the future's."""

    @property
    def months(self) -> int:
        return int(self.consumed.size)

    def month(self, index: int) -> date:
        return add_months(self.start, index)

    def adjusted(self) -> FloatArray:
        """The consumption raised for stock-out days; NaN where a whole month had no stock."""
        values = self.consumed.astype(np.float64)
        for i in np.flatnonzero(self.stockout_days > 0):
            values[i] = adjust_for_stockouts(
                float(values[i]), days_in_month(self.month(int(i))), int(self.stockout_days[i])
            )
        return values

    def unadjusted(self) -> FloatArray:
        return self.consumed.astype(np.float64)

    def expected(self, months: int) -> float:
        """The true expected demand of the ``months`` months after the history."""
        future = self.mean_demand[self.months :]
        if months > future.size:
            raise ValueError(f"only {future.size} future months were generated")
        return float(future[:months].sum())


def synthetic_histories(
    n: int,
    *,
    months: int = 36,
    seed: int,
    kinds: Mapping[str, float] | None = None,
    future_months: int = 24,
    start: date = date(2023, 1, 1),
    claves_per_unit: int = 4000,
) -> dict[tuple[str, str], SyntheticSeries]:
    """``n`` generated histories keyed by (unit code, clave), the same for the same seed.

    ``kinds`` weighs the kinds of ``SYNTHETIC_KINDS`` (default: equal shares, in turn); keys
    run through ``claves_per_unit`` claves (``010.000.0001.00``, …) of one unit, then the next
    unit (``UM-001``, …). Monthly demand is Poisson around a mean that is gamma-distributed
    around the series' level, so its spread varies from series to series as real series do.
    """
    rng = np.random.default_rng(seed)
    weights = dict.fromkeys(SYNTHETIC_KINDS, 1.0) if kinds is None else dict(kinds)
    unknown = set(weights) - set(SYNTHETIC_KINDS)
    if unknown:
        raise ValueError(f"unknown kinds {sorted(unknown)}; known: {SYNTHETIC_KINDS}")
    names = [kind for kind in SYNTHETIC_KINDS if weights.get(kind, 0) > 0]
    if kinds is None:
        kind_of = np.array([names[i % len(names)] for i in range(n)])
    else:
        shares = np.array([weights[k] for k in names]) / sum(weights[k] for k in names)
        counts = np.floor(shares * n).astype(int)
        counts[np.argsort(-(shares * n - counts))[: n - counts.sum()]] += 1
        kind_of = rng.permutation(np.repeat(np.array(names), counts))
    total = months + future_months
    days = np.array([days_in_month(add_months(start, i)) for i in range(total)], dtype=np.int64)
    consumed = np.zeros((n, months), dtype=np.int64)
    stockouts = np.full((n, months), -1, dtype=np.int64)
    means = np.zeros((n, total))
    for kind in names:
        rows = np.flatnonzero(kind_of == kind)
        generate = _GENERATORS[kind]
        consumed[rows], stockouts[rows], means[rows] = generate(rng, rows.size, months, days)
    result: dict[tuple[str, str], SyntheticSeries] = {}
    for i in range(n):
        unit, clave = divmod(i, claves_per_unit)
        key = (f"UM-{unit + 1:03d}", f"010.000.{clave + 1:04d}.00")
        result[key] = SyntheticSeries(
            kind=str(kind_of[i]),
            start=start,
            consumed=consumed[i],
            stockout_days=stockouts[i],
            mean_demand=means[i],
        )
    return result


Generated = tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], FloatArray]


def _levels(rng: np.random.Generator, n: int) -> FloatArray:
    """Mean monthly demand of a unit × clave: a few pieces to a few thousand, median 60."""
    return np.clip(rng.lognormal(np.log(60), 1.0, n), 3, 5000)


def _noisy(rng: np.random.Generator, mean: FloatArray, cv: FloatArray) -> npt.NDArray[np.int64]:
    """Poisson draws around a gamma-distributed mean with coefficient of variation ``cv``."""
    shape = 1 / np.square(cv)
    return rng.poisson(rng.gamma(shape, mean / shape)).astype(np.int64)


def _smooth(
    rng: np.random.Generator, n: int, months: int, days: npt.NDArray[np.int64]
) -> Generated:
    level = _levels(rng, n)
    mean = np.repeat(level[:, None], days.size, axis=1)
    cv = rng.uniform(0.1, 0.4, n)[:, None]
    consumed = _noisy(rng, mean[:, :months], cv)
    return consumed, np.full((n, months), -1, dtype=np.int64), mean


def _trending(
    rng: np.random.Generator, n: int, months: int, days: npt.NDArray[np.int64]
) -> Generated:
    level = _levels(rng, n)
    growth = rng.uniform(-0.02, 0.025, n)
    mean = level[:, None] * np.exp(growth[:, None] * np.arange(days.size))
    cv = rng.uniform(0.1, 0.3, n)[:, None]
    consumed = _noisy(rng, mean[:, :months], cv)
    return consumed, np.full((n, months), -1, dtype=np.int64), mean


def _intermittent(
    rng: np.random.Generator, n: int, months: int, days: npt.NDArray[np.int64]
) -> Generated:
    chance = rng.uniform(0.15, 0.6, n)[:, None]
    size = rng.uniform(1, 20, n)[:, None]
    occurs = rng.random((n, months)) < chance
    consumed = np.where(occurs, 1 + rng.poisson(np.broadcast_to(size, (n, months))), 0)
    mean = np.repeat(chance * (1 + size), days.size, axis=1)
    return consumed.astype(np.int64), np.full((n, months), -1, dtype=np.int64), mean


def _lumpy(rng: np.random.Generator, n: int, months: int, days: npt.NDArray[np.int64]) -> Generated:
    chance = rng.uniform(0.15, 0.6, n)[:, None]
    size = rng.uniform(5, 60, n)[:, None]
    shape = rng.uniform(0.4, 1.0, n)[:, None]
    occurs = rng.random((n, months)) < chance
    draws = 1 + rng.poisson(rng.gamma(shape, size / shape, (n, months)))
    consumed = np.where(occurs, draws, 0)
    mean = np.repeat(chance * (1 + size), days.size, axis=1)
    return consumed.astype(np.int64), np.full((n, months), -1, dtype=np.int64), mean


def _stockout(
    rng: np.random.Generator, n: int, months: int, days: npt.NDArray[np.int64]
) -> Generated:
    level = _levels(rng, n)
    mean = np.repeat(level[:, None], days.size, axis=1)
    cv = rng.uniform(0.1, 0.3, n)[:, None]
    demand = _noisy(rng, mean[:, :months], cv)
    month_days = np.broadcast_to(days[:months], (n, months))
    # A quarter to a half of the months run short, for a random part of the month, and one
    # stock-out in ten lasts the whole month.
    short = rng.random((n, months)) < rng.uniform(0.25, 0.5, n)[:, None]
    length = np.where(
        rng.random((n, months)) < 0.1, month_days, rng.integers(1, month_days, (n, months))
    )
    stockout_days = np.where(short, length, 0)
    # Demand on a day without stock is lost: what was consumed is what fell on the other days.
    consumed = rng.binomial(demand, (month_days - stockout_days) / month_days)
    return consumed.astype(np.int64), stockout_days.astype(np.int64), mean


_GENERATORS: Mapping[
    str, Callable[[np.random.Generator, int, int, npt.NDArray[np.int64]], Generated]
] = {
    "smooth": _smooth,
    "trending": _trending,
    "intermittent": _intermittent,
    "lumpy": _lumpy,
    "stockout": _stockout,
}
