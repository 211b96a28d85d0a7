"""Each indicator's SQL on small hand-built flat tables: a case just inside its threshold and one
just outside, and the quartiles checked against numpy's Hyndman–Fan type 8."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import duckdb
import numpy as np
import pytest

from abasto.transparency.redflags import flat, indicators, service
from abasto.transparency.redflags.indicators import Flag, Parameters

T = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
MX = timezone(timedelta(hours=-6))
P = Parameters()

Rows = Sequence[Mapping[str, Any]]


def frames(**tables: Rows) -> flat.Frames:
    return flat.Frames(**{name: flat.table(name, rows) for name, rows in tables.items()})


def flags(code: str, params: Parameters = P, /, **tables: Rows) -> list[Flag]:
    return [f for f in indicators.compute(frames(**tables), params) if f.code == code]


def process(pid: str = "P", method: str = "open", **extra: Any) -> dict[str, Any]:
    return {"process_id": pid, "title": f"Proceso {pid}", "method": method, **extra}


def lot(lid: str, pid: str = "P", tenderers: int | None = None) -> dict[str, Any]:
    return {"lot_id": lid, "process_id": pid, "label": lid, "number_of_tenderers": tenderers}


def bid(
    bid_id: str, lid: str, who: str, amount: str | None, status: str = "valid", **extra: Any
) -> dict[str, Any]:
    return {
        "bid_id": bid_id,
        "lot_id": lid,
        "tenderer_id": who,
        "tenderers": 1,
        "status": status,
        "submitted_at": T,
        "amount": Decimal(amount) if amount is not None else None,
        "currency": "MXN",
        **extra,
    }


def award(
    award_id: str, lid: str, who: str, status: str = "active", **extra: Any
) -> dict[str, Any]:
    return {
        "award_id": award_id,
        "lot_id": lid,
        "supplier_id": who,
        "suppliers": 1,
        "status": status,
        "award_date": T,
        **extra,
    }


# ----- R003, R018 ----------------------------------------------------------------------------


def test_r003_flags_fewer_than_15_whole_days_only() -> None:
    start = T
    processes = [
        process("quince", tender_start=start, tender_end=start + timedelta(days=15)),
        process("casi", tender_start=start, tender_end=start + timedelta(days=15, seconds=-1)),
    ]
    found = flags("R003", processes=processes)
    assert [(f.subject, f.value, f.threshold) for f in found] == [("casi", 14, 15)]
    assert "14 días enteros" in found[0].explanation


def test_r018_flags_one_tenderer_in_competitive_methods_only() -> None:
    processes = [process("A", "open"), process("S", "selective"), process("D", "direct")]
    lots = [lot("A1", "A", 1), lot("A2", "A", 2), lot("S1", "S", 1), lot("D1", "D", 1)]
    bids = [bid("b1", "A1", "X", "10")]
    found = flags("R018", processes=processes, lots=lots, bids=bids)
    assert sorted(f.lot_id or "" for f in found) == ["A1", "S1"]
    assert next(f for f in found if f.lot_id == "A1").supplier_id == "X"


# ----- R024, R058 (the winner and the second-lowest valid bid) --------------------------------


def second_lowest_world(ratios: Mapping[str, str]) -> dict[str, Rows]:
    """One lot per entry: the winner W bids 100, the runner-up 100 × (1 + ratio)."""
    lots, bids, awards = [], [], []
    for lid, ratio in ratios.items():
        lots.append(lot(lid))
        second = Decimal(100) * (1 + Decimal(ratio))
        bids += [bid(f"{lid}w", lid, "W", "100"), bid(f"{lid}s", lid, "S", str(second))]
        awards.append(award(f"{lid}a", lid, "W"))
    return {"processes": [process()], "lots": lots, "bids": bids, "awards": awards}


def test_r024_flags_a_difference_at_or_below_the_threshold() -> None:
    world = second_lowest_world({"igual": "0.05", "arriba": "0.0501"})
    found = flags("R024", replace(P, r024_threshold=0.05), **world)
    assert [(f.lot_id, round(f.value, 6)) for f in found] == [("igual", 0.05)]
    assert found[0].evidence["second_amount"] == Decimal("105.0000")
    assert "5.0 %" in found[0].explanation


def test_r058_flags_a_difference_at_or_above_the_threshold_and_never_with_a_zero_fence() -> None:
    world = second_lowest_world({"igual": "0.50", "abajo": "0.4999"})
    found = flags("R058", replace(P, r058_threshold=0.5), **world)
    assert [f.lot_id for f in found] == ["igual"]
    assert flags("R058", replace(P, r058_threshold=0.0), **world) == []


def test_r024_never_flags_with_a_lower_fence_at_or_below_zero_as_cardinal() -> None:
    # Ties: most runners-up bid the winner's price, so Q1 = Q3 = 0 and the fence is 0; every
    # lot at 0 was flagged although none is an outlier.
    world = second_lowest_world({f"L{i}": "0" for i in range(8)} | {"L8": "0.1", "L9": "0.2"})
    assert flags("R024", **world) == []
    assert flags("R024", replace(P, r024_threshold=0.0), **world) == []
    # A positive fence still flags at or below it.
    assert [f.lot_id for f in flags("R024", replace(P, r024_threshold=0.1), **world)] == [
        *(f"L{i}" for i in range(8)),
        "L8",
    ]


def test_r058_explains_how_far_below_the_runner_up_the_winner_is() -> None:
    # Winner 100, runner-up 150: the runner-up is 50 % above, the winner 33.3 % below.
    found = flags("R058", replace(P, r058_threshold=0.5), **second_lowest_world({"L": "0.5"}))
    assert len(found) == 1
    assert "33.3 % debajo de la segunda" in found[0].explanation
    assert "la supera en 50.0 %" in found[0].explanation


def test_the_fences_are_cardinals_type_8_quartiles() -> None:
    ratios = {
        f"L{i}": r
        for i, r in enumerate(
            ["0", "0.01", "0.02", "0.08", "0.09", "0.10", "0.11", "0.12", "0.13", "0.60"]
        )
    }
    world = second_lowest_world(ratios)
    values = np.array([float(r) for r in ratios.values()])
    q1, q3 = (np.quantile(values, q, method="median_unbiased") for q in (0.25, 0.75))
    low, high = flags("R024", **world), flags("R058", **world)
    assert {f.lot_id for f in low} == {
        k for k, v in ratios.items() if float(v) <= q1 - 1.5 * (q3 - q1)
    }
    assert {f.lot_id for f in high} == {"L9"}
    assert high[0].threshold == pytest.approx(q3 + 1.5 * (q3 - q1))


def statrs_quartile(xs: Sequence[float], p: float) -> float:
    """statrs's quantile (Hyndman–Fan 8) in IEEE floats, as Cardinal computes it with +inf."""
    xs = sorted(xs)
    h = (len(xs) + 1 / 3) * p + 1 / 3
    k = math.floor(h)
    if k <= 0:
        return xs[0]
    if k >= len(xs):
        return xs[-1]
    a, b = xs[k - 1], xs[k]
    return a + (h - k) * (b - a) if not (math.isinf(b) and h == k) else math.nan


def zero_winner_world(ratios: Mapping[str, str], zeros: int) -> dict[str, Rows]:
    """The lots of ``second_lowest_world`` and ``zeros`` more whose winner bid 0 (ratio +inf)."""
    world = second_lowest_world(ratios)
    for n in range(zeros):
        lid = f"Z{n}"
        world["lots"] = [*world["lots"], lot(lid)]
        world["bids"] = [
            *world["bids"],
            bid(f"{lid}w", lid, "W", "0"),
            bid(f"{lid}s", lid, "S", "80"),
        ]
        world["awards"] = [*world["awards"], award(f"{lid}a", lid, "W")]
    return world


def test_r058_keeps_a_winner_of_zero_in_the_quartiles_as_cardinal() -> None:
    ratios = {f"L{i}": r for i, r in enumerate(["0.01", "0.02", "0.03", "0.04", "0.05", "0.5"])}
    world = zero_winner_world(ratios, 1)
    values = [float(r) for r in ratios.values()] + [math.inf]
    q1, q3 = statrs_quartile(values, 0.25), statrs_quartile(values, 0.75)
    fence = q3 + 1.5 * (q3 - q1)

    found = flags("R058", **world)

    # The infinite ratio moves Q3 (0.5 instead of 0.05 without it): the fence is Cardinal's,
    # L5 is no longer an outlier, and the lot won at 0 is.
    assert found[0].threshold == pytest.approx(fence)
    assert [(f.lot_id, f.value) for f in found] == [("Z0", math.inf)]
    assert found[0].explanation.startswith("El ganador ofertó 0 (W) y la segunda más baja")
    assert "proporción infinita" in found[0].explanation
    without = flags("R058", **second_lowest_world(ratios))
    assert [f.lot_id for f in without] == ["L5"]


def test_a_fence_made_infinite_or_nan_by_zero_winners_follows_cardinal() -> None:
    five = {f"L{i}": f"0.0{i + 1}" for i in range(5)}
    # One of six at +inf: Q3 lies between a finite ratio and +inf, so it and the fence are
    # +inf, and only the infinite ratio reaches it.
    assert statrs_quartile([0.01, 0.02, 0.03, 0.04, 0.05, math.inf], 0.75) == math.inf
    found = flags("R058", **zero_winner_world(five, 1))
    assert [(f.lot_id, f.threshold) for f in found] == [("Z0", math.inf)]
    assert "infinita (más de una cuarta parte" in found[0].explanation
    # Two of four at +inf: statrs interpolates between two infinities (NaN), and Cardinal
    # flags nothing (NaN > 0 is false); nor does Abasto, by either fence.
    assert math.isnan(statrs_quartile([0.01, 0.02, math.inf, math.inf], 0.75))
    two = {"L0": "0.01", "L1": "0.02"}
    assert flags("R058", **zero_winner_world(two, 2)) == []
    assert flags("R024", **zero_winner_world(two, 2)) == []


def test_a_winner_and_runner_up_both_at_zero_are_left_out() -> None:
    world = second_lowest_world({"L": "0.5"})
    world["lots"] = [*world["lots"], lot("Z")]
    world["bids"] = [*world["bids"], bid("zw", "Z", "W", "0"), bid("zs", "Z", "S", "0")]
    world["awards"] = [*world["awards"], award("za", "Z", "W")]
    found = flags("R058", replace(P, r058_threshold=0.0001), **world)
    assert [f.lot_id for f in found] == ["L"]


def test_an_infinite_ratio_is_null_in_json() -> None:
    five = {f"L{i}": f"0.0{i + 1}" for i in range(5)}
    found = flags("R058", **zero_winner_world(five, 1))
    shown = service.flag_json(found[0])
    assert (shown["value"], shown["threshold"]) == (None, None)
    assert shown["evidence"]["winner_amount"] == "0"
    json.dumps(shown, allow_nan=False)


def test_a_lot_where_the_lowest_bid_did_not_win_or_with_two_winners_is_excluded() -> None:
    world = second_lowest_world({"ok": "0.01"})
    world["bids"] = [*world["bids"], bid("x", "ok", "Z", "99")]  # Z bid lower and lost
    assert flags("R024", replace(P, r024_threshold=1.0), **world) == []
    world = second_lowest_world({"ok": "0.01"})
    world["awards"] = [*world["awards"], award("a2", "ok", "S")]
    assert flags("R024", replace(P, r024_threshold=1.0), **world) == []


# ----- R025 --------------------------------------------------------------------------------


def test_r025_flags_a_top_tenderer_winning_too_little() -> None:
    # T bids in four lots and wins one (0.25); three others bid once and win.
    lots = [lot(f"L{i}") for i in range(4)]
    bids = [bid(f"t{i}", f"L{i}", "T", "10") for i in range(4)]
    bids += [bid(f"o{i}", f"L{i}", f"O{i}", "9") for i in range(1, 4)]
    awards = [award("a0", "L0", "T")] + [award(f"a{i}", f"L{i}", f"O{i}") for i in range(1, 4)]
    world = {"processes": [process()], "lots": lots, "bids": bids, "awards": awards}
    found = flags("R025", replace(P, r025_threshold=0.2501), **world)
    assert [(f.supplier_id, f.value) for f in found] == [("T", 0.25)]
    assert found[0].evidence["valid_bids"] == 4
    assert found[0].evidence["wins"] == 1
    assert flags("R025", replace(P, r025_threshold=0.25), **world) == []


# ----- R028, R030, R035, R036 ----------------------------------------------------------------


def test_r028_flags_each_tenderer_with_the_same_price_as_another() -> None:
    world = {
        "processes": [process()],
        "lots": [lot("L")],
        "bids": [
            bid("1", "L", "A", "10.50"),
            bid("2", "L", "B", "10.50"),
            bid("3", "L", "C", "10.5001"),
        ],
    }
    found = flags("R028", **world)
    assert sorted(f.supplier_id or "" for f in found) == ["A", "B"]
    assert {o["tenderer"] for o in found[0].evidence["others"]} <= {"A", "B"}
    world["bids"] = [bid("1", "L", "A", "10.50"), bid("3", "L", "C", "10.5001")]
    assert flags("R028", **world) == []


def test_r030_flags_a_winning_bid_received_after_the_deadline() -> None:
    world = {
        "processes": [process(tender_start=T - timedelta(days=20), tender_end=T)],
        "lots": [lot("L")],
        "awards": [award("a", "L", "W")],
    }
    late = [bid("w", "L", "W", "10", submitted_at=T + timedelta(seconds=1))]
    on_time = [bid("w", "L", "W", "10", submitted_at=T)]
    assert [f.supplier_id for f in flags("R030", bids=late, **world)] == ["W"]
    assert flags("R030", bids=on_time, **world) == []


def test_r035_flags_the_winner_alone_valid_with_others_disqualified() -> None:
    world = {"processes": [process()], "lots": [lot("L")], "awards": [award("a", "L", "W")]}
    bids = [bid("w", "L", "W", "10"), bid("x", "L", "X", "9", "disqualified")]
    found = flags("R035", bids=bids, **world)
    assert [(f.supplier_id, f.value) for f in found] == [("W", 1)]
    assert flags("R035", replace(P, r035_threshold=2), bids=bids, **world) == []
    both_valid = [*bids, bid("y", "L", "Y", "11")]
    assert flags("R035", bids=both_valid, **world) == []


def test_r036_flags_the_lowest_bid_disqualified() -> None:
    world = {"processes": [process()], "lots": [lot("L")], "awards": [award("a", "L", "W")]}
    lowest_out = [
        bid("w", "L", "W", "10"),
        bid("x", "L", "X", "9.99", "disqualified", reason="precio no conveniente"),
    ]
    found = flags("R036", bids=lowest_out, **world)
    assert [f.lot_id for f in found] == ["L"]
    assert "precio no conveniente" in found[0].explanation
    second_out = [bid("w", "L", "W", "10"), bid("x", "L", "X", "10.01", "disqualified")]
    assert flags("R036", bids=second_out, **world) == []


# ----- R038, R048 ----------------------------------------------------------------------------


def test_r038_flags_tenderers_and_buyers_at_or_above_the_ratio() -> None:
    processes = [process("P1", buyer_id="B"), process("P2", buyer_id="B")]
    lots = [lot("L1", "P1"), lot("L2", "P2")]
    bids = [
        bid("1", "L1", "X", "1", "disqualified"),
        bid("2", "L2", "X", "1"),
        bid("3", "L1", "Y", "1"),
        bid("4", "L2", "Y", "1"),
        bid("5", "L1", "Z", "1", "disqualified"),  # one bid only: below the minimum of 2
    ]
    world = {"processes": processes, "lots": lots, "bids": bids}
    found = flags("R038", replace(P, r038_threshold=0.5), **world)
    assert sorted((f.kind, f.subject) for f in found) == [("proveedor", "X")]
    found = flags("R038", replace(P, r038_threshold=0.4), **world)
    assert ("comprador", "B") in {(f.kind, f.subject) for f in found}  # 2 of 5: 0.4
    # From the quartiles, one buyer has no peers: its fence would be its own ratio.
    assert "comprador" not in {f.kind for f in flags("R038", **world)}
    other = [process("P3", buyer_id="C"), process("P4", buyer_id="C")]
    others = [lot("L3", "P3"), lot("L4", "P4")]
    # With a peer as bad (2 of 5 too), the fence is 0.4 and both reach it.
    same = [
        {**b, "bid_id": f"c{b['bid_id']}", "lot_id": f"L{int(b['lot_id'][1]) + 2}"} for b in bids
    ]
    found = flags(
        "R038", processes=[*processes, *other], lots=[*lots, *others], bids=[*bids, *same]
    )
    assert {f.subject for f in found if f.kind == "comprador"} == {"B", "C"}
    assert flags("R038", replace(P, r038_threshold=0.5001), **world) == []


def test_r048_flags_a_supplier_with_too_many_groups_among_those_with_enough_processes() -> None:
    processes = [process(f"P{i}") for i in range(20)]
    lots = [lot(f"L{i}", f"P{i}") for i in range(20)]
    awards = [award(f"a{i}", f"L{i}", "V") for i in range(20)] + [award("b", "L0", "N")]
    groups = ["010", "060", "080"]
    items = [
        {"award_id": f"a{i}", "classification": f"{groups[i % 3]}.000.0001"} for i in range(20)
    ]
    items.append({"award_id": "b", "classification": "010.000.0002"})
    world = {"processes": processes, "lots": lots, "awards": awards, "award_items": items}
    found = flags("R048", replace(P, r048_threshold=3), **world)
    assert [(f.supplier_id, f.value) for f in found] == [("V", 3)]
    assert found[0].evidence["groups"] == ["01", "06", "08"]
    assert flags("R048", replace(P, r048_threshold=4), **world) == []
    assert flags("R048", replace(P, r048_threshold=1), **world) == []  # a fence of 1 flags all


# ----- Abasto's own --------------------------------------------------------------------------


def priced(unit: str, reference: str = "10.00") -> dict[str, Rows]:
    return {
        "processes": [process()],
        "lots": [lot("L")],
        "awards": [award("a", "L", "W")],
        "award_items": [
            {
                "award_id": "a",
                "classification": "010.000.0104.00",
                "quantity": 10.0,
                "unit_price": Decimal(unit),
                "amount": Decimal(unit) * 10,
                "currency": "MXN",
                "reference_price": Decimal(reference),
            }
        ],
    }


def test_ab01_flags_an_award_more_than_10_percent_above_the_reference() -> None:
    found = flags("AB01", **priced("11.01"))
    assert [(f.clave, round(f.value, 4)) for f in found] == [("010.000.0104.00", 0.101)]
    assert "$11.01" in found[0].explanation
    assert "$10.00" in found[0].explanation
    assert flags("AB01", **priced("11.00")) == []


def contract(
    cid: str, buyer: str, supplier: str, amount: str, pid: str = "P", **extra: Any
) -> dict[str, Any]:
    return {
        "contract_id": cid,
        "process_id": pid,
        "buyer_id": buyer,
        "supplier_id": supplier,
        "amount": Decimal(amount),
        "currency": "MXN",
        "signed_at": T,
        **extra,
    }


def test_ab02_flags_a_buyer_with_more_than_30_percent_direct() -> None:
    processes = [process("D", "direct"), process("O", "open")]
    inside = [contract("1", "B", "S", "30.01", "D"), contract("2", "B", "S", "69.99", "O")]
    outside = [contract("1", "B", "S", "30.00", "D"), contract("2", "B", "S", "70.00", "O")]
    found = flags("AB02", processes=processes, contracts=inside)
    assert [(f.buyer_id, round(f.value, 4)) for f in found] == [("B", 0.3001)]
    assert flags("AB02", processes=processes, contracts=outside) == []


def sanctioned(award_day: date, **extra: Any) -> dict[str, Rows]:
    at = datetime(award_day.year, award_day.month, award_day.day, 23, 0, tzinfo=MX)
    return {
        "processes": [process()],
        "lots": [lot("L")],
        "awards": [award("a", "L", "W", award_date=at)],
        "sanctions": [
            {
                "party_id": "W",
                "starts_on": date(2025, 3, 1),
                "ends_on": date(2026, 3, 1),
                "detail": "INHABILITACIÓN · 1 AÑO",
            }
        ],
        **extra,
    }


def test_ab03_flags_an_award_while_a_sanction_is_in_force_on_mexico_citys_date() -> None:
    # 23:00 in Mexico City on the 28th is already March 1st in UTC: the local date counts.
    found = flags("AB03", **sanctioned(date(2026, 2, 28)))
    assert [f.supplier_id for f in found] == ["W"]
    assert "01/03/2026" in found[0].explanation
    assert flags("AB03", **sanctioned(date(2026, 3, 1))) == []
    assert flags("AB03", **sanctioned(date(2025, 2, 28))) == []


def test_ab04_flags_an_award_less_than_a_year_after_registration() -> None:
    def world(day: date) -> dict[str, Rows]:
        at = datetime(day.year, day.month, day.day, 12, 0, tzinfo=MX)
        return {
            "processes": [process()],
            "lots": [lot("L")],
            "awards": [award("a", "L", "W", award_date=at)],
            "parties": [{"party_id": "W", "name": "W", "registered_on": date(2025, 3, 1)}],
        }

    found = flags("AB04", **world(date(2026, 2, 28)))
    assert [(f.supplier_id, f.value, f.threshold) for f in found] == [("W", 364, 365)]
    assert flags("AB04", **world(date(2026, 3, 1))) == []


def test_ab05_flags_contracts_just_below_the_threshold_close_in_time() -> None:
    pair = [
        contract("1", "B", "S", "360000"),
        contract("2", "B", "S", "399999.99", signed_at=T + timedelta(days=30)),
    ]
    found = flags("AB05", processes=[process()], contracts=pair)
    assert [(f.buyer_id, f.supplier_id, f.value) for f in found] == [("B", "S", 2)]
    assert found[0].evidence["total"] == Decimal("759999.9900")
    below = [contract("1", "B", "S", "359999.99"), pair[1]]
    assert flags("AB05", processes=[process()], contracts=below) == []
    apart = [pair[0], contract("2", "B", "S", "399999.99", signed_at=T + timedelta(days=31))]
    assert flags("AB05", processes=[process()], contracts=apart) == []
    at_limit = [contract("1", "B", "S", "360000"), contract("2", "B", "S", "400000")]
    assert flags("AB05", processes=[process()], contracts=at_limit) == []


def test_ab06_flags_a_clave_more_concentrated_than_hhi_2500() -> None:
    def world(suppliers: int, processes: int = 2) -> dict[str, Rows]:
        awards, items = [], []
        for i in range(suppliers):
            lid = f"L{i % processes}"
            awards.append(award(f"a{i}", lid, f"S{i}"))
            items.append(
                {
                    "award_id": f"a{i}",
                    "classification": "010.000.0104.00",
                    "amount": Decimal(100),
                    "currency": "MXN",
                }
            )
        return {
            "processes": [process(f"P{i}") for i in range(processes)],
            "lots": [lot(f"L{i}", f"P{i}") for i in range(processes)],
            "awards": awards,
            "award_items": items,
        }

    assert flags("AB06", **world(4)) == []  # 4 × 25 %² = 2,500: not above
    found = flags("AB06", **world(3))
    assert [(f.clave, round(f.value)) for f in found] == [("010.000.0104.00", 3333)]
    assert flags("AB06", **world(3, processes=1)) == []  # one procedure only


# ----- AB07–AB11: after the fallo ------------------------------------------------------------

SERRAL = [{"party_id": "S", "name": "Laboratorios Serral, S.A. de C.V.", "registered_on": None}]
"""The supplier «S» by its name: every flag of these indicators names the company."""
DEADLINE = date(2026, 3, 17)


def mexico(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=MX)


def signed_contract(
    *,
    max_amount: str = "10000.00",
    signed_at: datetime | None = None,
    penalties: str = "0",
    convenios: int = 0,
) -> dict[str, Any]:
    """Contract C-1 of «S» with IMSS: $10,000.00 as first contracted, a $1,000.00 guarantee."""
    return {
        "contract_id": "C-1",
        "process_id": "P",
        "buyer_id": "IMSS",
        "supplier_id": "S",
        "currency": "MXN",
        "original_amount": Decimal("10000.00"),
        "max_amount": Decimal(max_amount),
        "convenios": convenios,
        "signing_deadline": DEADLINE,
        "signed_at": signed_at,
        "guarantee_amount": Decimal("1000.00"),
        "penalties": Decimal(penalties),
    }


def test_ab07_flags_a_supplier_with_more_than_10_percent_of_its_deliveries_late() -> None:
    due = date(2026, 4, 1)

    def deliveries(late: int, total: int = 10) -> list[dict[str, Any]]:
        return [
            {
                "delivery_id": f"C-1/orden-{n}/envio-1",
                "contract_id": "C-1",
                "supplier_id": "S",
                "clave": "010.000.0104.00",
                "due_on": due,
                # The last minute of the due day in Mexico City is on time (already the next
                # day in UTC); the first of the next day is one day late.
                "received_at": mexico(due + timedelta(days=1), 0, 1)
                if n < late
                else mexico(due, 23, 59),
                "accepted": 10,
                "rejected": 0,
            }
            for n in range(total)
        ]

    assert flags("AB07", deliveries=deliveries(1), parties=SERRAL) == []  # exactly 10 %
    (found,) = flags("AB07", deliveries=deliveries(2), parties=SERRAL)
    assert (found.kind, found.supplier_id, found.value, found.threshold) == (
        "proveedor",
        "S",
        0.2,
        0.1,
    )
    assert found.evidence["late_deliveries"] == ["C-1/orden-0/envio-1", "C-1/orden-1/envio-1"]
    assert found.explanation.startswith(
        "Laboratorios Serral, S.A. de C.V. (S) entregó tarde 2 de 10 entregas recibidas (20.00 %)"
    )
    assert "1 día después" in found.explanation
    assert flags("AB07", deliveries=deliveries(0), parties=SERRAL) == []
    # 11 of 100 is above 10 %: the share, not the count, decides.
    assert len(flags("AB07", deliveries=deliveries(11, 100), parties=SERRAL)) == 1


def test_ab08_flags_a_contract_amended_above_20_percent_of_its_original_amount() -> None:
    at_cap = signed_contract(max_amount="12000.00", convenios=1)
    assert flags("AB08", signed_contracts=[at_cap], parties=SERRAL) == []
    above = signed_contract(max_amount="12001.00", convenios=2)
    (found,) = flags("AB08", signed_contracts=[above], parties=SERRAL)
    assert (found.kind, found.subject, found.process_id, found.buyer_id) == (
        "contrato",
        "C-1",
        "P",
        "IMSS",
    )
    assert found.value == pytest.approx(0.2001)
    assert found.explanation == (
        "El contrato C-1 con Laboratorios Serral, S.A. de C.V. (S) pasó de $10,000.00 a "
        "$12,001.00 con 2 convenios modificatorios: 20.01 % más; el tope es 20.0 %."
    )


def test_ab09_flags_a_contract_signed_after_its_deadlines_last_day_in_mexico_city() -> None:
    on_time = signed_contract(signed_at=mexico(DEADLINE, 23, 59))
    assert flags("AB09", signed_contracts=[on_time], parties=SERRAL) == []
    late = signed_contract(signed_at=mexico(DEADLINE + timedelta(days=1), 0, 0))
    (found,) = flags("AB09", signed_contracts=[late], parties=SERRAL)
    assert (found.value, found.threshold) == (1, 0)
    assert "1 día después del plazo para firmar, que venció el 17/03/2026" in found.explanation
    assert "Laboratorios Serral" in found.explanation
    # Not signed by both yet: nothing to measure.
    assert flags("AB09", signed_contracts=[signed_contract()], parties=SERRAL) == []


def test_ab10_flags_a_fill_rate_below_90_percent_not_at_it() -> None:
    def rate(on_time: int) -> list[dict[str, Any]]:
        return [{"supplier_id": "S", "ordered_due": 10_000, "on_time_accepted": on_time}]

    assert flags("AB10", fill_rates=rate(9_000), parties=SERRAL) == []
    (found,) = flags("AB10", fill_rates=rate(8_999), parties=SERRAL)
    assert found.value == pytest.approx(0.8999)
    assert found.explanation == (
        "Laboratorios Serral, S.A. de C.V. (S) entregó a tiempo y con aceptación 8,999 de "
        "10,000 piezas ordenadas con fecha de entrega vencida: nivel de surtimiento de "
        "89.99 %; el mínimo es 90.0 %."
    )
    nothing_due = [{"supplier_id": "S", "ordered_due": 0, "on_time_accepted": 0}]
    assert flags("AB10", fill_rates=nothing_due, parties=SERRAL) == []


def test_ab11_flags_penalties_that_reached_the_guarantee() -> None:
    below = signed_contract(penalties="999.99")
    assert flags("AB11", signed_contracts=[below], parties=SERRAL) == []
    (found,) = flags(
        "AB11", signed_contracts=[signed_contract(penalties="1000.00")], parties=SERRAL
    )
    assert (found.kind, found.subject, found.value, found.threshold) == ("contrato", "C-1", 1, 1)
    assert "suman $1,000.00, el tope de su garantía de cumplimiento ($1,000.00)" in (
        found.explanation
    )


# ----- the machinery -------------------------------------------------------------------------


def test_every_indicator_runs_on_empty_tables_and_duckdb_installs_nothing() -> None:
    assert indicators.compute(flat.Frames()) == []
    con = flat.connect(flat.Frames())
    loaded = {
        name
        for (name,) in con.execute(
            "SELECT extension_name FROM duckdb_extensions() WHERE loaded"
        ).fetchall()
    }
    assert loaded <= {"core_functions", "icu", "json", "parquet"}
    everything = duckdb.connect().execute(
        "SELECT extension_name, installed FROM duckdb_extensions()"
    )
    assert all(
        not installed or name in {"core_functions", "icu", "json", "parquet"}
        for name, installed in everything.fetchall()
    )


def test_every_indicator_is_documented_with_a_threshold_and_a_source() -> None:
    assert len([c for c in indicators.CODES if indicators.INDICATORS[c].cardinal]) == 11
    for code in indicators.CODES:
        indicator = indicators.INDICATORS[code]
        assert indicator.title
        assert indicator.definition
        assert indicator.threshold
        assert indicator.source


def test_a_currency_that_is_not_iso_shaped_never_reaches_the_sql() -> None:
    with pytest.raises(ValueError, match="currency"):
        Parameters(currency="MX'; DROP")
