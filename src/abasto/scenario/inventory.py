"""A year of stock and dispensing for the demo's hospitals and OOAD: monthly deliveries in lots,
daily dispensing first to expire first out, some supply interruptions (stock-outs) and some
short-dated lots that expire on the shelf (written off).

Pure: the same scenario and last day always give the same movements.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import date, timedelta

from abasto.inventory import rules
from abasto.inventory.rules import Kind, Lot
from abasto.inventory.service import HistoryRow
from abasto.scenario.build import Scenario
from abasto.scenario.institutions import UnitSpec

INSTITUTIONS = ("IMSS", "ISSSTE", "IMSS-BIENESTAR")
UNIT_KINDS = frozenset({"hospital", "OOAD", "UMAE", "unidad"})
CLAVES = 12
DAYS = 365
DELIVERY_EVERY = 30


def stocked_units(scenario: Scenario) -> Iterator[tuple[str, UnitSpec]]:
    """The units whose shelves the demo keeps: the dispensing units of three institutions."""
    for institution, unit in scenario.units():
        if institution.code in INSTITUTIONS and unit.kind in UNIT_KINDS:
            yield institution.code, unit


def stocked_claves(scenario: Scenario) -> list[str]:
    """The medicines the demo's units keep (the same list everywhere)."""
    medicines = [c.clave for c in scenario.claves if c.category == "medicamento"]
    return medicines[:CLAVES]


def history(
    scenario: Scenario, institution: str, unit: UnitSpec, *, last: date
) -> list[HistoryRow]:
    """The unit's movements over the ``DAYS`` days that end on ``last``."""
    rng = random.Random(f"abasto:{scenario.seed}:inventory:{institution}:{unit.code}")
    first = last - timedelta(days=DAYS - 1)
    rows: list[HistoryRow] = []
    for number, clave in enumerate(stocked_claves(scenario)):
        rate = rng.lognormvariate(2.5, 0.8)  # pieces a day, about 12 on the median
        interrupted = rng.random() < 0.3  # two deliveries missed in a row: weeks without stock
        short_dated = rng.random() < 0.15  # one delivery of a lot that expires on the shelf
        # Deliveries are numbered 0 to 12; an interruption misses two in a row, and a late
        # supplier the last three, which leaves the unit without stock at the end.
        skipped: set[int] = set()
        if interrupted:
            first_missed = rng.randrange(3, 10)
            skipped |= {first_missed, first_missed + 1}
        if rng.random() < 0.1:
            skipped |= {10, 11, 12}
        shorted = rng.randrange(1, 13) if short_dated else -1
        lots: list[Lot] = []
        for offset in range(DAYS):
            day = first + timedelta(days=offset)
            delivery = offset // DELIVERY_EVERY
            if offset % DELIVERY_EVERY == 0 and delivery not in skipped:
                size = max(1, round(rate * DELIVERY_EVERY * rng.uniform(0.85, 1.25)))
                if offset == 0:
                    size *= 2
                days_left = rng.randint(20, 45) if delivery == shorted else rng.randint(180, 720)
                lot = Lot(
                    f"L{number:02d}{delivery:02d}{rng.randrange(100):02d}",
                    day + timedelta(days=days_left),
                    size,
                )
                if delivery == shorted:
                    lot = Lot(lot.lot, lot.expiry, size * 3)
                lots.append(lot)
                kind = Kind.initial if offset == 0 else Kind.receipt
                rows.append(HistoryRow(day, clave, lot.lot, lot.expiry, kind, lot.quantity))
            for i, held in enumerate(lots):
                if held.expiry < day and held.quantity > 0:
                    rows.append(
                        HistoryRow(
                            day,
                            clave,
                            held.lot,
                            held.expiry,
                            Kind.expiry,
                            -held.quantity,
                            "Caducado",
                        )
                    )
                    lots[i] = Lot(held.lot, held.expiry, 0)
            wanted = max(0, round(rng.gauss(rate, rate**0.5)))
            usable = sum(x.quantity for x in lots if x.expiry >= day)
            given = min(wanted, usable)
            if given:
                for take in rules.pick_fefo(lots, given, today=day):
                    rows.append(
                        HistoryRow(day, clave, take.lot, take.expiry, Kind.dispense, -take.quantity)
                    )
                    lots = [
                        Lot(x.lot, x.expiry, x.quantity - take.quantity) if x.lot == take.lot else x
                        for x in lots
                    ]
            lots = [x for x in lots if x.quantity > 0]
    return rows
