"""A clave's price history as a chart drawn on the server: prices over time, in SVG units.

Sized like the fallo's savings chart (``award.fallo_doc``: the same width and character
measure, so the two read alike on a phone), with a linear ``Scale`` and round ``ticks`` any
other chart can use.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_CEILING, Decimal

from abasto.award.fallo_doc import CHART_CHAR, CHART_WIDTH
from abasto.core.money import format_date, format_mxn
from abasto.transparency.portal.service import PricePoint

HEIGHT = 220
TOP = 10
BOTTOM = 24
"""Room under the plot for the dates."""
DOT = 4.5
REFERENCE = 9
"""Half the width of a reference mark."""
SPREAD = 7
"""Distance between the winners of one tender, so their dots stand apart."""
PALETTE = 6
"""Suppliers take one of this many colours (CSS classes s0 … s5), in order of first award."""


@dataclass(frozen=True, slots=True)
class Scale:
    """A linear map from [low, high] to [start, end]; a flat domain maps to the middle."""

    low: float
    high: float
    start: float
    end: float

    def __call__(self, value: float) -> float:
        if self.high == self.low:
            return round((self.start + self.end) / 2, 2)
        share = (value - self.low) / (self.high - self.low)
        return round(self.start + share * (self.end - self.start), 2)


def ticks(high: Decimal, count: int = 4) -> list[Decimal]:
    """From 0 up to at least ``high`` in about ``count`` round steps (1, 2 or 5 × 10ⁿ)."""
    if high <= 0:
        return [Decimal(0), Decimal(1)]
    raw = high / count
    base = Decimal(10) ** raw.adjusted()
    step = next(base * m for m in (1, 2, 5, 10) if base * m >= raw)
    steps = (high / step).to_integral_value(rounding=ROUND_CEILING)
    return [step * i for i in range(int(steps) + 1)]


@dataclass(frozen=True, slots=True)
class Dot:
    point: PricePoint
    x: float
    y: float
    colour: int


@dataclass(frozen=True, slots=True)
class ReferenceMark:
    tender_number: str
    partida_number: int
    price: Decimal
    x: float
    y: float


@dataclass(frozen=True, slots=True)
class Tick:
    label: str
    at: float


@dataclass(frozen=True, slots=True)
class PriceChart:
    width: int
    height: int
    left: float
    right: float
    bottom: float
    dots: tuple[Dot, ...]
    references: tuple[ReferenceMark, ...]
    y_ticks: tuple[Tick, ...]
    x_ticks: tuple[Tick, ...]
    suppliers: tuple[tuple[str, str, int], ...]
    """(RFC, name, colour) in order of first award: the legend."""


def _thinned(candidates: Sequence[Tick], room: float) -> tuple[Tick, ...]:
    """Date labels far enough apart not to overlap, the first one always kept."""
    kept: list[Tick] = []
    for tick in candidates:
        if not kept or tick.at - kept[-1].at >= room:
            kept.append(tick)
    return tuple(kept)


def price_chart(points: Sequence[PricePoint]) -> PriceChart:
    """Each awarded price a dot at its fallo's date; the reference of each partida a dash."""
    prices = [p.unit_price for p in points] + [
        p.reference_price for p in points if p.reference_price is not None
    ]
    y_values = ticks(max(prices, default=Decimal(0)))
    left = max(len(format_mxn(v)) for v in y_values) * CHART_CHAR + 6
    # Dates are centred under their dots: half a label's room on the right.
    right = CHART_WIDTH - 5 * CHART_CHAR - 2
    bottom = HEIGHT - BOTTOM
    y = Scale(0, float(y_values[-1]), bottom, TOP)
    instants = sorted({p.issued_at for p in points})
    x = Scale(
        instants[0].timestamp() if instants else 0,
        instants[-1].timestamp() if instants else 0,
        left + REFERENCE + SPREAD,
        right,
    )

    def at(when: datetime) -> float:
        return x(when.timestamp())

    colours: dict[str, int] = {}
    names: dict[str, str] = {}
    for p in points:
        colours.setdefault(p.supplier_rfc, len(colours) % PALETTE)
        names.setdefault(p.supplier_rfc, p.supplier_name)
    # The winners of one tender side by side around its date, in RFC order.
    winners: dict[int, list[str]] = {}
    for p in points:
        rfcs = winners.setdefault(p.tender_id, [])
        if p.supplier_rfc not in rfcs:
            rfcs.append(p.supplier_rfc)

    def offset(p: PricePoint) -> float:
        rfcs = winners[p.tender_id]
        return (rfcs.index(p.supplier_rfc) - (len(rfcs) - 1) / 2) * SPREAD

    dots = tuple(
        Dot(
            p,
            round(at(p.issued_at) + offset(p), 2),
            y(float(p.unit_price)),
            colours[p.supplier_rfc],
        )
        for p in points
    )
    seen: set[tuple[int, int]] = set()
    references = []
    for p in points:
        key = (p.tender_id, p.partida_number)
        if p.reference_price is not None and key not in seen:
            seen.add(key)
            references.append(
                ReferenceMark(
                    p.tender_number,
                    p.partida_number,
                    p.reference_price,
                    at(p.issued_at),
                    y(float(p.reference_price)),
                )
            )
    dates = [Tick(format_date(when), at(when)) for when in instants]
    return PriceChart(
        width=CHART_WIDTH,
        height=HEIGHT,
        left=left,
        right=right,
        bottom=bottom,
        dots=dots,
        references=tuple(references),
        y_ticks=tuple(Tick(format_mxn(v), y(float(v))) for v in y_values),
        x_ticks=_thinned(dates, room=10 * CHART_CHAR + 8),
        suppliers=tuple((rfc, names[rfc], colour) for rfc, colour in colours.items()),
    )
