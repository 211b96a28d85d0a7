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
returns is whole. The destination chain is written with one running total per receiver and
expiry (``total(k) = total(k − 1) + what arrives``, bounded by that expiry's room), which is
the same polytope mapped one to one, with a number of nonzeros linear in the arcs instead of
quadratic; expiries whose room is at least the need are implied by the need and left out. The
LP is solved; a fractional answer (which would be a bug) is solved again with integer columns.

**Parts.** The arcs fall apart into connected parts (units linked by no arc cannot trade); each
part is solved alone, which gives the same lexicographic optimum (``_components``) and, at
national scale, a few dozen small LPs instead of one large one.
"""

from __future__ import annotations

import bisect
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

from abasto.core.highs import run as highs_run
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
    return _used(site.amc, (expiry - today).days)


@functools.lru_cache(maxsize=1 << 16)
def _used(amc: Decimal, days: int) -> int:
    # Cached: building the arcs and then the rows asks the same of every receiver's expiries.
    return math.floor(amc / DAYS_PER_MONTH * days)


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
    nearest: dict[str, list[Site]] = {}
    for receiver in receivers:
        # A short unit is never a giver (its need is above zero), so with ``places`` the nearest
        # givers of every short unit of a place are the same list, ranked once per place.
        place = places.get(receiver.unit, "") if places else None
        near = nearest.get(place) if place is not None else None
        if near is None:
            # Places (one per giver without ``places``) from the cheapest to reach; a place's
            # cost is any of its givers' since ``places`` says it depends only on the place.
            order = sorted(by_place.values(), key=lambda group: cost(group[0].unit, receiver.unit))
            near = [giver for group in order for giver in group][:neighbours]
            if place is not None:
                nearest[place] = near
        usable: dict[date, int] = {}
        for giver in near:
            between = None
            for lot in giver.lots:
                if lot.quantity <= 0 or lot.expiry < today:
                    continue
                if lot.expiry not in usable:
                    usable[lot.expiry] = usable_by(receiver, lot.expiry, today)
                if usable[lot.expiry] > 0:
                    if between is None:
                        between = cost(giver.unit, receiver.unit)
                    arcs.append(_Arc(giver.unit, lot, receiver.unit, between))
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
    by_unit = {s.unit: s for s in sites}
    found = Plan((), len(arcs), time.perf_counter() - began)
    for part in _components(arcs):
        solved = _plan_component(part, by_unit, today)
        found = Plan(
            found.moves + solved.moves,
            found.arcs,
            found.build_seconds + solved.build_seconds,
            found.solve_seconds + solved.solve_seconds,
        )
    return found


def _components(arcs: Sequence[_Arc]) -> list[list[_Arc]]:
    """The arcs split where no unit links them (union-find over givers and receivers).

    Each part is solved alone: the most moved overall is the sum of each part's most, and the
    cheapest way to move that sum moves each part's most at its least cost, so the parts'
    lexicographic optima make the whole's. At national scale a clave's givers and short units
    fall apart by region, and a few small LPs solve much faster than one large one.
    """
    parent: dict[int, int] = {}

    def root(unit: int) -> int:
        parent.setdefault(unit, unit)
        while parent[unit] != unit:
            parent[unit] = parent[parent[unit]]
            unit = parent[unit]
        return unit

    linked = None
    for arc in arcs:
        if (arc.giver, arc.receiver) == linked:  # a giver's lots to a receiver come together
            continue
        linked = arc.giver, arc.receiver
        a, b = root(arc.giver), root(arc.receiver)
        if a != b:
            parent[a] = b
    parts: dict[int, list[_Arc]] = defaultdict(list)
    for arc in arcs:
        parts[root(arc.giver)].append(arc)
    return list(parts.values())


def _plan_component(arcs: Sequence[_Arc], by_unit: Mapping[int, Site], today: date) -> Plan:
    """The two solves of one connected part of the arcs (``plan``)."""
    if not arcs:
        return Plan(())
    began = time.perf_counter()
    n = len(arcs)
    # Rows as (lower, upper, columns, coefficients); columns n.. are the receivers' running totals.
    rows: list[tuple[float, float, list[int], list[float]]] = []
    lower: list[float] = [0.0] * n
    upper: list[float] = [kHighsInf] * n
    givers: dict[int, list[int]] = {}
    lots: dict[tuple[int, str], list[int]] = {}
    receivers: dict[int, list[int]] = {}
    for i, arc in enumerate(arcs):
        givers.setdefault(arc.giver, []).append(i)
        lots.setdefault((arc.giver, arc.lot.lot), []).append(i)
        receivers.setdefault(arc.receiver, []).append(i)
    for unit, cols in givers.items():
        site = by_unit[unit]
        rows.append((-kHighsInf, site.on_hand - site.safety, cols, [1.0] * len(cols)))
    for (unit, code), cols in lots.items():
        held = next(x.quantity for x in by_unit[unit].lots if x.lot == code)
        rows.append((-kHighsInf, held, cols, [1.0] * len(cols)))
    for unit, cols in receivers.items():
        site = by_unit[unit]
        # A chain of running totals, one per expiry whose room is less than the need (the
        # others are implied by the need) and the need last: total(k) = total(k − 1) + what
        # arrives expiring after the previous link up to this one; at most the room of that
        # expiry (what the unit uses by then less what it holds by then), or the need.
        links: list[tuple[date, int]] = []
        shelf = sorted(site.lots, key=lambda x: x.expiry)
        taken = by_then = 0
        for expiry in sorted({arcs[i].lot.expiry for i in cols}):
            while taken < len(shelf) and shelf[taken].expiry <= expiry:
                by_then += shelf[taken].quantity
                taken += 1
            room = max(usable_by(site, expiry, today) - by_then, 0)
            if room < site.need:
                links.append((expiry, room))
        members: list[list[int]] = [[] for _ in range(len(links) + 1)]
        for i in cols:
            members[bisect.bisect_left(links, (arcs[i].lot.expiry,))].append(i)
        bounds = [room for _, room in links] + [site.need]
        previous: list[int] = []
        for bound, arriving in zip(bounds, members, strict=True):
            total = len(lower)
            lower.append(0.0)
            upper.append(float(bound))
            rows.append(
                (
                    0.0,
                    0.0,
                    [total, *previous, *arriving],
                    [1.0] + [-1.0] * (len(previous) + len(arriving)),
                )
            )
            previous = [total]
    highs = _Highs()
    highs.setOptionValue("output_flag", False)
    highs.setOptionValue("random_seed", 0)
    # Primal simplex without presolve: on these small network-like parts it is the fastest of
    # HiGHS's choices (benchmarks/inventory.py), and the second solve starts from the first's
    # optimal basis, still feasible with the cost changed.
    highs.setOptionValue("presolve", "off")
    highs.setOptionValue("simplex_strategy", 4)
    columns = len(lower)
    highs.addVars(columns, np.array(lower), np.array(upper))
    starts: list[int] = []
    indices: list[int] = []
    values: list[float] = []
    for _, _, cols, coefficients in rows:
        starts.append(len(indices))
        indices.extend(cols)
        values.extend(coefficients)
    highs.addRows(
        len(rows),
        np.array([r[0] for r in rows]),
        np.array([r[1] for r in rows]),
        len(indices),
        np.array(starts, dtype=np.int32),
        np.array(indices, dtype=np.int32),
        np.array(values),
    )
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
        highs_run(highs, 1)
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
