"""Suggest transfers of one clave between units: a min-cost flow with expiry limits, by HiGHS.

Pure: values in, values out. Each unit (``Site``) holds lots and has a safety stock (its
minimum months of consumption, ``rules.units_needed``) and, when it is short, a need (what
brings it to its maximum). The model moves whole units of a lot from a unit that is not short
to one that is:

* a giver keeps at least its safety stock: ``Σ sent ≤ on hand − safety`` (only lots not expired
  are sent, and a lot no more than it holds);
* a receiver gets no more than its need;
* **a lot is sent only where it will be used before it expires.** The receiver uses its stock
  first to expire, first out, at its daily rate (AMC ÷ 30.4375); a lot expiring on day ``E`` is
  used up in time when everything it will hold that expires by ``E`` (its own such lots plus
  those sent) is at most what it uses until ``E``: one row per receiver and expiry date;
* first the most units are moved to where they are needed, then, among the ways to move that
  many, the cheapest (cost per unit between the two units: distance, ``cost``). Two solves of
  the same model; the second fixes the quantity of the first.

**Whole units from a linear program.** Each column (a lot of a giver to a receiver) sits in one
chain of origin rows (the giver, its lot) and one chain of destination rows (the receiver, its
expiry dates up to the lot's; the total of the second solve contains them all): the rows are two
laminar families, so the matrix is totally unimodular and every vertex the simplex method
returns is whole. The LP is solved; a fractional answer (which would be a bug) is solved again
with integer columns.
"""

from __future__ import annotations

import functools
import math
import time
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

import numpy as np
from highspy import HighsModelStatus, HighsVarType, kHighsInf
from highspy._core import _Highs

from abasto.inventory.rules import DAYS_PER_MONTH, Lot


@dataclass(frozen=True, slots=True)
class Site:
    """A unit's position for one clave."""

    unit: int
    lots: tuple[Lot, ...]
    amc: Decimal | None
    safety: int
    need: int

    @property
    def on_hand(self) -> int:
        return sum(x.quantity for x in self.lots)


@dataclass(frozen=True, slots=True)
class Move:
    from_unit: int
    to_unit: int
    lot: str
    expiry: date
    quantity: int
    cost: int


@dataclass(frozen=True, slots=True)
class Plan:
    moves: tuple[Move, ...]
    arcs: int = 0
    build_seconds: float = 0.0
    """Building the arcs and rows."""
    solve_seconds: float = 0.0
    """Inside HiGHS (both solves): what a bare solve of the model would take."""

    @property
    def moved(self) -> int:
        return sum(m.quantity for m in self.moves)

    @property
    def cost(self) -> int:
        return sum(m.quantity * m.cost for m in self.moves)


def usable_by(site: Site, expiry: date, today: date) -> int:
    """What ``site`` uses, at its rate, from ``today`` until ``expiry`` (whole units, down)."""
    if site.amc is None or site.amc <= 0 or expiry < today:
        return 0
    return math.floor(site.amc / DAYS_PER_MONTH * (expiry - today).days)


def _held_by(site: Site, expiry: date) -> int:
    return sum(x.quantity for x in site.lots if x.expiry <= expiry)


@dataclass(frozen=True, slots=True)
class _Arc:
    giver: int
    lot: Lot
    receiver: int
    cost: int


def _arcs(
    sites: Sequence[Site],
    today: date,
    cost: Callable[[int, int], int],
    neighbours: int | None,
    places: Mapping[int, str] | None,
) -> list[_Arc]:
    receivers = [s for s in sites if s.need > 0]
    givers = [s for s in sites if s.need == 0 and s.on_hand > s.safety]
    by_place: dict[str, list[Site]] = defaultdict(list)
    for giver in givers:
        by_place[places.get(giver.unit, "") if places else str(giver.unit)].append(giver)
    arcs = []
    for receiver in receivers:
        # Places (one per giver without ``places``) from the cheapest to reach; a place's cost is
        # any of its givers' since ``places`` says the cost depends only on the place.
        order = sorted(by_place.values(), key=lambda group: cost(group[0].unit, receiver.unit))
        near: list[Site] = []
        for group in order:
            near.extend(g for g in group if g.unit != receiver.unit)
            if neighbours is not None and len(near) >= neighbours:
                near = near[:neighbours]
                break
        for giver in near:
            for lot in giver.lots:
                if (
                    lot.quantity > 0
                    and lot.expiry >= today
                    and usable_by(receiver, lot.expiry, today) > 0
                ):
                    arcs.append(
                        _Arc(giver.unit, lot, receiver.unit, cost(giver.unit, receiver.unit))
                    )
    return arcs


def plan(
    sites: Sequence[Site],
    *,
    today: date,
    cost: Callable[[int, int], int],
    neighbours: int | None = None,
    places: Mapping[int, str] | None = None,
) -> Plan:
    """The transfers that move the most to where it is needed, at the least cost (module doc).

    ``neighbours`` limits each receiver to that many givers, the cheapest to reach (at national
    scale every giver × receiver pair would be hundreds of millions of arcs); None is all.
    ``places`` (unit → place) says the cost depends only on the two units' places (their
    states), so givers are ranked by place, not one by one.
    """
    began = time.perf_counter()
    arcs = _arcs(sites, today, cost, neighbours, places)
    if not arcs:
        return Plan(())
    by_unit = {s.unit: s for s in sites}
    rows: list[tuple[float, list[int]]] = []  # (upper bound, columns with coefficient 1)
    givers: dict[int, list[int]] = {}
    lots: dict[tuple[int, str], list[int]] = {}
    receivers: dict[int, list[int]] = {}
    for i, arc in enumerate(arcs):
        givers.setdefault(arc.giver, []).append(i)
        lots.setdefault((arc.giver, arc.lot.lot), []).append(i)
        receivers.setdefault(arc.receiver, []).append(i)
    for unit, cols in givers.items():
        site = by_unit[unit]
        rows.append((site.on_hand - site.safety, cols))
    for (unit, code), cols in lots.items():
        rows.append((next(x.quantity for x in by_unit[unit].lots if x.lot == code), cols))
    for unit, cols in receivers.items():
        site = by_unit[unit]
        rows.append((site.need, cols))
        for expiry in sorted({arcs[i].lot.expiry for i in cols}):
            room = usable_by(site, expiry, today) - _held_by(site, expiry)
            rows.append((max(room, 0), [i for i in cols if arcs[i].lot.expiry <= expiry]))
    n = len(arcs)
    highs = _Highs()
    highs.setOptionValue("output_flag", False)
    highs.setOptionValue("random_seed", 0)
    highs.addVars(n, np.zeros(n), np.full(n, kHighsInf))
    for upper, cols in rows:
        highs.addRow(-kHighsInf, float(upper), len(cols), np.array(cols), np.ones(len(cols)))
    built = time.perf_counter() - began
    # First the most units moved to where they are needed …
    highs.changeColsCost(n, np.arange(n), np.full(n, -1.0))
    moved, first = _solve(highs, n)
    total = round(sum(moved))
    if total == 0:
        return Plan((), n, built, first)
    # … then the cheapest way to move exactly that many.
    highs.addRow(float(total), float(total), n, np.arange(n), np.ones(n))
    highs.changeColsCost(n, np.arange(n), np.array([float(a.cost) for a in arcs]))
    chosen, second = _solve(highs, n)
    return Plan(
        tuple(
            Move(a.giver, a.receiver, a.lot.lot, a.lot.expiry, round(x), a.cost)
            for a, x in zip(arcs, chosen, strict=True)
            if round(x) > 0
        ),
        n,
        built,
        first + second,
    )


def _solve(highs: _Highs, n: int) -> tuple[list[float], float]:
    """An optimal vertex: whole numbers, since the rows are two laminar families (module doc);
    should one come out fractional, the columns are made integer and solved again."""
    spent = 0.0
    for integral in (False, True):
        if integral:
            highs.changeColsIntegrality(n, np.arange(n), np.full(n, HighsVarType.kInteger))
        began = time.perf_counter()
        highs.run()
        spent += time.perf_counter() - began
        status = highs.getModelStatus()
        if status != HighsModelStatus.kOptimal:
            raise RuntimeError(f"HiGHS did not solve the redistribution model: {status}")
        values = list(highs.getSolution().col_value)[:n]
        if all(abs(x - round(x)) < 1e-6 for x in values):
            return values, spent
    raise RuntimeError("HiGHS gave a fractional redistribution")


# ----- distances -----------------------------------------------------------------------------

STATE_CENTRES = {
    "01": (21.88, -102.29), "02": (32.62, -115.45), "03": (24.14, -110.31),
    "04": (19.85, -90.53), "05": (25.42, -101.00), "06": (19.24, -103.72),
    "07": (16.75, -93.12), "08": (28.63, -106.07), "09": (19.43, -99.13),
    "10": (24.02, -104.67), "11": (21.02, -101.26), "12": (17.55, -99.50),
    "13": (20.10, -98.76), "14": (20.67, -103.35), "15": (19.29, -99.66),
    "16": (19.70, -101.19), "17": (18.92, -99.23), "18": (21.50, -104.89),
    "19": (25.69, -100.32), "20": (17.07, -96.73), "21": (19.04, -98.21),
    "22": (20.59, -100.39), "23": (18.50, -88.30), "24": (22.15, -100.98),
    "25": (24.81, -107.39), "26": (29.07, -110.96), "27": (17.99, -92.93),
    "28": (23.74, -99.15), "29": (19.32, -98.24), "30": (19.54, -96.91),
    "31": (20.97, -89.62), "32": (22.77, -102.58),
}  # fmt: skip
"""The state capitals' coordinates (latitude, longitude): where a unit is when only its state is
known."""
BASE_COST = 10
"""The cost of a transfer within a city: loading, paperwork."""
UNKNOWN_DISTANCE = 1_500
"""Km assumed between units whose state is not known: far, but not impossible."""


def distance_km(a: tuple[float, float] | None, b: tuple[float, float] | None) -> int:
    """Great-circle distance in whole km (haversine); ``UNKNOWN_DISTANCE`` when either is None."""
    if a is None or b is None:
        return UNKNOWN_DISTANCE
    lat1, lon1, lat2, lon2 = map(math.radians, (*a, *b))
    h = (
        math.sin((lat2 - lat1) / 2) ** 2
        + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    )
    return round(2 * 6371 * math.asin(math.sqrt(h)))


def state_cost(states: Mapping[int, str | None]) -> Callable[[int, int], int]:
    """Cost per unit between two units from their states' capitals (``BASE_COST`` + km)."""

    @functools.cache
    def between(a: str | None, b: str | None) -> int:
        return BASE_COST + distance_km(
            STATE_CENTRES.get(a) if a else None, STATE_CENTRES.get(b) if b else None
        )

    def cost(a: int, b: int) -> int:
        return between(states.get(a), states.get(b))

    return cost
