"""The redistribution model: equal to an exhaustive optimum on small random instances, never
sends a lot that expires before use, never takes a unit below its safety stock."""

from __future__ import annotations

import itertools
from dataclasses import replace
from datetime import date, timedelta
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from abasto.inventory import redistribution
from abasto.inventory.redistribution import Plan, Site, usable_by
from abasto.inventory.rules import Lot

TODAY = date(2026, 11, 2)


def _cost(a: int, b: int) -> int:
    return 1 + (a * 7 + b * 3) % 5


@st.composite
def instances(draw: st.DrawFn) -> list[Site]:
    """Two or three units: the first is never short, the last always is and consumes; the
    rest is drawn (lots, expiries, consumption, safety stock, need)."""
    count = draw(st.integers(2, 3))
    sites = []
    for unit in range(count):
        lots = tuple(
            Lot(
                f"L{unit}{i}",
                TODAY + timedelta(days=draw(st.integers(0, 120))),
                draw(st.integers(0, 4)),
            )
            for i in range(draw(st.integers(0 if unit else 1, 2)))
        )
        amc = draw(st.sampled_from([None, Decimal(0), Decimal("15.2"), Decimal("30.44")]))
        need = draw(st.sampled_from([0, 1, 2, 4]))
        if unit == 0:
            need = 0
        if unit == count - 1:
            need, amc = max(need, 1), amc or Decimal("30.44")
        sites.append(Site(unit, lots, amc, draw(st.integers(0, 2)), need))
    return sites


def _candidates(sites: list[Site]) -> list[tuple[Site, Lot, Site]]:
    """Every (giver, lot, receiver) a transfer could use, by the definitions, not the model."""
    return [
        (g, lot, r)
        for g in sites
        if g.need == 0 and g.on_hand > g.safety
        for lot in g.lots
        if lot.quantity > 0
        for r in sites
        if r.need > 0 and r.unit != g.unit
    ]


def _feasible(sites: list[Site], arcs: list[tuple[Site, Lot, Site]], xs: tuple[int, ...]) -> bool:
    for g in sites:
        sent = sum(x for (a, _, _), x in zip(arcs, xs, strict=True) if a is g)
        if g.on_hand - sent < g.safety and sent:
            return False
    for g, lot, _ in arcs:
        if (
            sum(x for (a, b, _), x in zip(arcs, xs, strict=True) if a is g and b is lot)
            > lot.quantity
        ):
            return False
    expiries = {lot.expiry for _, lot, _ in arcs}
    for r in sites:
        got = [(lot, x) for (_, lot, b), x in zip(arcs, xs, strict=True) if b is r and x]
        if sum(x for _, x in got) > r.need:
            return False
        for e in expiries:
            received = sum(x for lot, x in got if lot.expiry <= e)
            held = sum(x.quantity for x in r.lots if x.expiry <= e)
            if received and held + received > usable_by(r, e, TODAY):
                return False
    return True


def _exhaustive(sites: list[Site]) -> tuple[int, int]:
    """The best (units moved, cost) over every integer transfer plan: most moved, then cheapest."""
    arcs = _candidates(sites)
    ranges = [range(min(lot.quantity, r.need) + 1) for _, lot, r in arcs]
    best = (0, 0)
    for xs in itertools.product(*ranges):
        if not _feasible(sites, arcs, xs):
            continue
        moved = sum(xs)
        cost = sum(x * _cost(g.unit, r.unit) for (g, _, r), x in zip(arcs, xs, strict=True))
        if moved > best[0] or (moved == best[0] and cost < best[1]):
            best = (moved, cost)
    return best


def _check_plan(sites: list[Site], found: Plan) -> None:
    by_unit = {s.unit: s for s in sites}
    for s in sites:
        sent = sum(m.quantity for m in found.moves if m.from_unit == s.unit)
        if sent:
            assert s.on_hand - sent >= s.safety, "a unit was taken below its safety stock"
        got = [m for m in found.moves if m.to_unit == s.unit]
        assert sum(m.quantity for m in got) <= s.need
        for m in got:
            held = sum(x.quantity for x in s.lots if x.expiry <= m.expiry)
            received = sum(n.quantity for n in got if n.expiry <= m.expiry)
            assert held + received <= usable_by(s, m.expiry, TODAY), "a lot expires before use"
    for m in found.moves:
        lot = next(x for x in by_unit[m.from_unit].lots if x.lot == m.lot)
        assert m.quantity <= lot.quantity
        assert lot.expiry >= TODAY


@settings(max_examples=80, deadline=None)
@given(instances())
def test_the_model_equals_the_exhaustive_optimum_and_keeps_every_rule(sites: list[Site]) -> None:
    found = redistribution.plan(sites, today=TODAY, cost=_cost)
    _check_plan(sites, found)
    assert (found.moved, found.cost) == _exhaustive(sites)


def test_a_short_unit_gets_the_lot_it_can_use_from_the_nearest_surplus() -> None:
    expiry_soon, expiry_late = TODAY + timedelta(days=10), TODAY + timedelta(days=200)
    sites = [
        # Far and near givers, each with stock above their safety stock of 10.
        Site(1, (Lot("FAR", expiry_late, 50),), Decimal("30.44"), 10, 0),
        Site(
            2, (Lot("SOON", expiry_soon, 40), Lot("LATE", expiry_late, 40)), Decimal("30.44"), 10, 0
        ),
        # Needs 60; uses 1 a day, so by the soon expiry (10 days) it can use only 10 of any lot.
        Site(3, (), Decimal("30.44"), 30, 60),
    ]
    cost = {(1, 3): 500, (2, 3): 20}
    found = redistribution.plan(sites, today=TODAY, cost=lambda a, b: cost[(a, b)])
    moves = sorted((m.from_unit, m.lot, m.quantity) for m in found.moves)
    # The near giver sends all it can: 10 of SOON (what the receiver uses in 10 days) and all
    # 40 of LATE; the far one sends the 10 still needed and keeps 40 ≥ its safety stock.
    assert moves == [(1, "FAR", 10), (2, "LATE", 40), (2, "SOON", 10)]
    assert found.cost == 50 * 20 + 10 * 500


def test_distances_from_state_capitals() -> None:
    cdmx, mty = redistribution.STATE_CENTRES["09"], redistribution.STATE_CENTRES["19"]
    assert 700 < redistribution.distance_km(cdmx, mty) < 750
    assert redistribution.distance_km(cdmx, None) == redistribution.UNKNOWN_DISTANCE
    cost = redistribution.state_cost({1: "09", 2: "09", 3: None})
    assert cost(1, 2) == redistribution.BASE_COST
    assert cost(1, 3) == redistribution.BASE_COST + redistribution.UNKNOWN_DISTANCE


def test_neighbours_limits_each_receiver_to_its_cheapest_givers() -> None:
    late = TODAY + timedelta(days=300)
    sites = [
        Site(1, (Lot("NEAR", late, 5),), Decimal(0), 0, 0),
        Site(2, (Lot("FAR", late, 50),), Decimal(0), 0, 0),
        Site(3, (), Decimal("30.44"), 10, 20),
    ]
    cost = {(1, 3): 5, (2, 3): 50}
    every = redistribution.plan(sites, today=TODAY, cost=lambda a, b: cost[(a, b)])
    assert every.moved == 20
    nearest = redistribution.plan(sites, today=TODAY, cost=lambda a, b: cost[(a, b)], neighbours=1)
    assert [(m.lot, m.quantity) for m in nearest.moves] == [("NEAR", 5)]


@settings(max_examples=60, deadline=None)
@given(instances(), instances())
def test_planning_each_part_alone_equals_one_model_of_all_the_arcs(
    first: list[Site], second: list[Site]
) -> None:
    # Two instances side by side (the second's units renumbered), each its own place, every
    # receiver limited to its nearest giver: the arcs fall apart into parts, planned one by one.
    sites = first + [replace(s, unit=s.unit + 10) for s in second]
    places = {s.unit: "a" if s.unit < 10 else "b" for s in sites}

    def cost(a: int, b: int) -> int:
        return _cost(a % 10, b % 10) + (0 if places[a] == places[b] else 100)

    found = redistribution.plan(sites, today=TODAY, cost=cost, neighbours=1, places=places)
    arcs = redistribution._arcs(sites, TODAY, cost, 1, places)
    whole = redistribution._plan_component(arcs, {s.unit: s for s in sites}, TODAY)
    _check_plan(sites, found)
    assert (found.moved, found.cost) == (whole.moved, whole.cost)


def test_units_no_arc_links_are_separate_parts() -> None:
    late = TODAY + timedelta(days=300)
    sites = [
        Site(1, (Lot("A", late, 50),), Decimal(0), 0, 0),
        Site(2, (), Decimal("30.44"), 10, 20),
        Site(11, (Lot("B", late, 50),), Decimal(0), 0, 0),
        Site(12, (), Decimal("30.44"), 10, 20),
    ]
    places = {1: "a", 2: "a", 11: "b", 12: "b"}

    def cost(a: int, b: int) -> int:
        return 1 if places[a] == places[b] else 100

    arcs = redistribution._arcs(sites, TODAY, cost, 1, places)
    parts = redistribution._components(arcs)
    assert sorted(sorted({(a.giver, a.receiver) for a in p}) for p in parts) == [
        [(1, 2)],
        [(11, 12)],
    ]
    found = redistribution.plan(sites, today=TODAY, cost=cost, neighbours=1, places=places)
    assert sorted((m.from_unit, m.to_unit, m.quantity) for m in found.moves) == [
        (1, 2, 20),
        (11, 12, 20),
    ]
