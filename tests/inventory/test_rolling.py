"""The indicators rolled a day at a time (``rolling``) equal the full recomputation of the window
(``columnar.compute``, itself equal to the rules' snapshot), day after day; a damaged, stale or
contradicted state is refused. The service's fallback and its equality with the rules' snapshot
are in ``test_columnar`` beside the full path."""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import replace
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from abasto.inventory import columnar, rolling
from abasto.inventory.rules import CONSUMPTION_WINDOW_DAYS, StockPolicy

FIRST = date(2026, 6, 1)
LAST = date(2026, 10, 20)
UNITS = {1: ("hospital", "09", "IMSS"), 2: ("clinica", "15", "IMSS"), 7: ("clinica", "", "ISSSTE")}
Moves = dict[tuple[int, int], dict[date, tuple[int, int]]]
POLICIES = {"clinica": StockPolicy(Decimal(2), Decimal(4))}


def _moves(seed: int) -> Moves:
    """Per pair, each day's (dispensed, net) from FIRST to LAST: receipts, dispensing that
    empties the shelf for days at a time, a count now and then; pair (7, 9) has its first lot
    only near the end, pair (2, 5) a stock-out of a week in the middle of the first window."""
    rng = random.Random(seed)
    found: Moves = {}
    for unit in UNITS:
        for clave in (3, 5, 8):
            stock, days = 0, {}
            day = FIRST
            while day <= LAST:
                out = net = 0
                if rng.random() < 0.07 or (stock == 0 and rng.random() < 0.05):
                    net += rng.randint(5, 80)
                if stock + net and rng.random() < 0.55:
                    out = rng.randint(1, min(stock + net, 9))
                    net -= out
                if rng.random() < 0.02:
                    net -= min(stock + net, 2)  # a count finds two fewer
                if (unit, clave) == (2, 5) and date(2026, 7, 10) <= day <= date(2026, 7, 17):
                    out, net = 0, -stock  # written off, then nothing for a week
                if out or net or rng.random() < 0.05:
                    days[day] = (out, net)
                stock += net
                day += timedelta(days=1)
            found[(unit, clave)] = days
    found[(7, 9)] = {date(2026, 10, 12): (0, 30), date(2026, 10, 14): (4, -4)}
    return found


def _files(directory: Path, moves: Moves, day: date) -> tuple[pa.Table, pa.Table, pa.Table]:
    """``columnar``'s files for ``day`` as the tick of the next day finds them (the balances
    hold that day's movements too), and the facts of ``day`` and of the day that leaves its
    window."""
    directory.mkdir(parents=True, exist_ok=True)
    lots, after, days = [], [], []
    for (unit, clave), every in sorted(moves.items()):
        found = {d: v for d, v in every.items() if d <= day + timedelta(days=1)}
        if not found:
            continue
        total = sum(net for _, net in found.values())
        later = sum(net for d, (_, net) in found.items() if d > day)
        # Two lots: the second expires within the horizon and holds a few units.
        held = min(max(total, 0), 3)
        lots.append((unit, clave, "A", day + timedelta(days=400), total - held))
        lots.append((unit, clave, "B", day + timedelta(days=30 + clave), held))
        after.append((unit, clave, "A", later))
        days += [(unit, clave, d, out, net) for d, (out, net) in sorted(found.items())]

    def write(name: str, names: list[str], rows: Sequence[tuple[Any, ...]]) -> pa.Table:
        table = pa.table({n: [r[i] for r in rows] for i, n in enumerate(names)})
        pq.write_table(table, directory / f"{name}.parquet")
        return table

    write("lots", ["unit_id", "clave_id", "lot", "expiry", "quantity"], lots)
    write("after", ["unit_id", "clave_id", "lot", "total"], after)
    write("days", ["unit_id", "clave_id", "day", "dispensed", "net"], days)
    units = write(
        "units",
        ["unit_id", "kind", "state", "institution"],
        [(u, *UNITS[u]) for u in UNITS],
    )
    leaves = day - timedelta(days=CONSUMPTION_WINDOW_DAYS)

    def facts(of: date) -> pa.Table:
        rows = [(u, c, *found[of]) for (u, c), found in sorted(moves.items()) if of in found]
        names = ["unit_id", "clave_id", "dispensed", "net"]
        return pa.table(
            {n: pa.array([r[i] for r in rows], pa.int64()) for i, n in enumerate(names)}
        )

    return units, facts(day), facts(leaves)


@pytest.mark.parametrize(("seed", "one_policy"), [(1, False), (2, False), (2, True)])
def test_rolled_days_equal_the_full_recomputation(
    tmp_path: Path, seed: int, one_policy: bool
) -> None:
    moves = _moves(seed)
    # one_policy: the same for every unit, its bounds not spread per pair
    policies = {k: POLICIES["clinica"] for k, _, _ in UNITS.values()} if one_policy else POLICIES
    first = date(2026, 9, 20)
    _files(tmp_path, moves, first)
    full = columnar.compute(tmp_path, day=first, policies=policies)
    state = rolling.State.of_computed(full, day=first)
    rolling.save(state, tmp_path / "state")
    seen: set[str] = set()
    outs = {
        first: {(r["unit_id"], r["clave_id"]): r["stockout_days"] for r in full.daily.to_pylist()}
    }
    day = first
    while day < LAST:
        day += timedelta(days=1)
        loaded = rolling.load(tmp_path / "state", day=day - timedelta(days=1))
        assert loaded is not None
        units, entering, leaving = _files(tmp_path, moves, day)
        computed, state = rolling.roll(
            loaded,
            day=day,
            lots=columnar.lots_at_end(tmp_path),
            entering=entering,
            leaving=leaving,
            units=units,
            policies=policies,
            # seed 1: the state saved by the roll, on its second thread; others: after it
            save_to=tmp_path / "state" if seed == 1 else None,
        )
        if seed != 1:
            rolling.save(state, tmp_path / "state")
        saved = rolling.load(tmp_path / "state", day=day)
        assert saved is not None
        for name in ("keys", "closing", "net", "dispensed", "stockouts", "moved", "totals"):
            assert np.array_equal(getattr(saved, name), getattr(state, name)), (day, name)
        expected = columnar.compute(tmp_path, day=day, policies=policies)
        assert computed.daily.to_pylist() == expected.daily.to_pylist(), day
        assert computed.abasto.to_pylist() == expected.abasto.to_pylist(), day
        # The rolled state is the one the full computation leaves, array for array.
        fresh = rolling.State.of_computed(expected, day=day)
        for name in ("keys", "closing", "net", "dispensed", "stockouts", "moved", "totals"):
            assert np.array_equal(getattr(state, name), getattr(fresh, name)), (day, name)
        seen |= {row["level"] for row in computed.daily.to_pylist()}
        outs[day] = {
            (r["unit_id"], r["clave_id"]): r["stockout_days"] for r in computed.daily.to_pylist()
        }
    # The roll crossed what the rules distinguish, and the week of stock-out of pair (2, 5)
    # entered the first window and left it; pair (7, 9) appeared on the way.
    assert {"stockout", "below_min", "above_max", "ok"} <= seen, seen
    rows = {(r["unit_id"], r["clave_id"]): r for r in computed.daily.to_pylist()}
    assert (7, 9) in rows
    assert (7, 9) not in outs[first]
    # The week out of stock (July 10 to 17) leaves the window from October 8 to 15.
    assert outs[first][(2, 5)] >= 8
    leaving = [outs[d][(2, 5)] - outs[d - timedelta(days=1)][(2, 5)] for d in _days(10, 8, 15)]
    assert min(leaving) < 0, leaving
    # And stock-outs enter: some pair's count grows on some day.
    assert any(
        outs[d][pair] > outs[d - timedelta(days=1)].get(pair, 90)
        for d in _days(9, 21, 30)
        for pair in outs[d]
    )


def _days(month: int, first: int, last: int) -> list[date]:
    return [date(2026, month, d) for d in range(first, last + 1)]


def _state(tmp_path: Path, day: date) -> rolling.State:
    moves = _moves(3)
    _files(tmp_path, moves, day)
    state = rolling.State.of_computed(
        columnar.compute(tmp_path, day=day, policies=POLICIES), day=day
    )
    rolling.save(state, tmp_path / "state")
    return state


def test_a_state_of_another_day_or_damaged_is_refused(tmp_path: Path) -> None:
    day = date(2026, 10, 1)
    _state(tmp_path, day)
    assert rolling.load(tmp_path / "elsewhere", day=day) is None
    with pytest.raises(rolling.StateError, match="es del 2026-10-01"):
        rolling.load(tmp_path / "state", day=day + timedelta(days=1))
    assert rolling.load(tmp_path / "state", day=day) is not None
    path = tmp_path / "state" / rolling.FILE
    intact = path.read_bytes()
    raw = bytearray(intact)
    raw[len(raw) // 2] ^= 0xFF  # inside an array
    path.write_bytes(bytes(raw))
    with pytest.raises(rolling.StateError, match="dañado: Bad CRC-32"):
        rolling.load(tmp_path / "state", day=day)
    raw = bytearray(intact)
    raw[-30] ^= 0xFF  # in the zip's directory
    path.write_bytes(bytes(raw))
    with pytest.raises(rolling.StateError):
        rolling.load(tmp_path / "state", day=day)
    path.write_bytes(b"not a state")
    with pytest.raises(rolling.StateError, match="no se pudo leer"):
        rolling.load(tmp_path / "state", day=day)


def test_a_state_is_written_narrow_where_its_values_fit_and_read_back_as_it_was(
    tmp_path: Path,
) -> None:
    day = date(2026, 10, 1)
    state = _state(tmp_path, day)
    path = tmp_path / "state" / rolling.FILE
    with np.load(path) as found:
        assert {found[n].dtype for n in ("closing", "net", "dispensed")} == {np.dtype(np.int32)}
        assert found["keys"].dtype == np.int64
    loaded = rolling.load(tmp_path / "state", day=day)
    assert loaded is not None
    for name in ("keys", "closing", "net", "dispensed", "stockouts", "moved", "totals"):
        assert getattr(loaded, name).dtype == getattr(state, name).dtype, name
        assert np.array_equal(getattr(loaded, name), getattr(state, name)), name
    # A value past 32 bits keeps its array wide; the others stay narrow.
    huge = state.closing.copy()
    huge[-1] = (1 << 31) + 5
    wide = replace(state, closing=huge, net=state.net - 1)
    rolling.save(wide, tmp_path / "wide")
    with np.load(tmp_path / "wide" / rolling.FILE) as found:
        assert found["closing"].dtype == np.int64
        assert found["net"].dtype == np.int32
    loaded = rolling.load(tmp_path / "wide", day=day)
    assert loaded is not None
    assert loaded.closing[-1] == (1 << 31) + 5
    assert np.array_equal(loaded.net, state.net - 1)
    assert loaded.net.dtype == np.int64


def test_a_state_the_facts_contradict_is_refused(tmp_path: Path) -> None:
    day = date(2026, 10, 1)
    state = _state(tmp_path, day)
    units, entering, leaving = _files(tmp_path, _moves(3), day + timedelta(days=1))
    lots = columnar.lots_at_end(tmp_path)

    def roll(state: rolling.State, leaving: pa.Table = leaving, later: int = 1) -> None:
        rolling.roll(
            state,
            day=day + timedelta(days=later),
            lots=lots,
            entering=entering,
            leaving=leaving,
            units=units,
            policies=POLICIES,
        )

    roll(state)  # the untouched state rolls
    closing = state.closing.copy()
    closing[3] += 1  # a movement of an earlier day the state never saw
    with pytest.raises(rolling.StateError, match="1 claves-unidad no cuadran"):
        roll(replace(state, closing=closing))
    # The day that leaves changed after it entered (its total no longer matches).
    changed = leaving.set_column(
        2, "dispensed", pa.array([x + 1 for x in leaving["dispensed"].to_pylist()], pa.int64())
    )
    with pytest.raises(rolling.StateError, match="cambiaron desde que entraron"):
        roll(state, changed)
    with pytest.raises(rolling.StateError, match="no del día anterior"):
        roll(state, later=2)


@pytest.mark.parametrize("seed", [1, 4])
def test_the_window_rebuilt_a_day_at_a_time_equals_the_full_recomputation(
    tmp_path: Path, seed: int
) -> None:
    """``rebuild`` (backwards from the day's stock, a day's facts at a time) gives the rows and
    the state ``columnar.compute`` gives, including a pair with movements but no lot left."""
    moves = _moves(seed)
    moves[(2, 11)] = {date(2026, 9, 1): (0, 5), date(2026, 9, 3): (5, -5)}
    for day in (date(2026, 9, 20), date(2026, 10, 20)):
        units, _, _ = _files(tmp_path, moves, day)
        lots = pq.read_table(tmp_path / "lots.parquet")
        pq.write_table(lots.filter(pc.not_equal(lots["clave_id"], 11)), tmp_path / "lots.parquet")

        def facts(of: date) -> pa.Table:
            rows = [(u, c, *found[of]) for (u, c), found in sorted(moves.items()) if of in found]
            names = ["unit_id", "clave_id", "dispensed", "net"]
            return pa.table(
                {n: pa.array([r[i] for r in rows], pa.int64()) for i, n in enumerate(names)}
            )

        computed, state = rolling.rebuild(
            day=day,
            lots=columnar.lots_at_end(tmp_path),
            facts=facts,
            units=units,
            policies=POLICIES,
        )
        expected = columnar.compute(tmp_path, day=day, policies=POLICIES)
        assert computed.daily.to_pylist() == expected.daily.to_pylist()
        assert computed.abasto.to_pylist() == expected.abasto.to_pylist()
        fresh = rolling.State.of_computed(expected, day=day)
        for name in ("keys", "closing", "net", "dispensed", "stockouts", "moved", "totals"):
            assert np.array_equal(getattr(state, name), getattr(fresh, name)), (day, name)
        listed = {(r["unit_id"], r["clave_id"]) for r in computed.daily.to_pylist()}
        assert (2, 11) in listed  # listed for its movements, without a lot


def _in_heap(array: np.ndarray) -> bool:
    """Whether ``array``'s memory lies in the process's heap (not a mapping of its own)."""
    for line in Path("/proc/self/maps").read_text().splitlines():
        if line.endswith("[heap]"):
            low, high = (int(x, 16) for x in line.split()[0].split("-"))
            return low <= array.ctypes.data < high
    return False


def _hugepages() -> bool:
    """Whether NumPy asks for huge pages now (its switch returns the setting it replaces)."""
    assert rolling._HUGEPAGES is not None
    now = rolling._HUGEPAGES(True)
    rolling._HUGEPAGES(now)
    return now


@pytest.mark.skipif(
    rolling._LIBC is None or rolling._HUGEPAGES is None, reason="glibc's mallopt, NumPy's switch"
)
def test_a_roll_takes_large_arrays_from_the_heap_in_plain_pages_and_gives_them_back() -> None:
    switch = rolling._HUGEPAGES
    assert switch is not None
    size = 64 << 20  # above the 32 MB that glibc maps on its own
    before = _hugepages()
    seen: list[tuple[bool, bool]] = []

    @rolling._heap_for_large_arrays()
    def rolling_step(nested: bool) -> None:
        if nested:
            rolling_step(False)  # an inner block leaving does not end the outer one
        seen.append((_in_heap(np.ones(size, dtype=np.uint8)), _hugepages()))

    for asked in (True, False):  # whatever NumPy did before, it does again after
        switch(asked)
        seen.clear()
        rolling_step(True)
        assert seen == [(True, False), (True, False)]
        assert rolling._heap_users == 0
        assert not _in_heap(np.ones(size, dtype=np.uint8))
        assert _hugepages() is asked
    switch(before)


def test_pairs_are_keyed_from_columns_however_they_are_chunked() -> None:
    expected = [(1 << 32) | 5, (2 << 32) | 6, (3 << 32) | 7]
    units = pa.chunked_array([[1, 2], [3]], pa.int64())
    for claves in (
        pa.chunked_array([[5, 6], [7]], pa.int64()),  # as Parquet's row groups give them
        pa.chunked_array([[5], [6, 7]], pa.int32()),  # other chunks, another type
        pa.array([5, 6, 7]),
    ):
        assert rolling._keys(units, claves).tolist() == expected
    assert rolling._keys(pa.array([1, None]), pa.array([None, 2])).tolist() == [1 << 32, 2]
    with pytest.raises(rolling.StateError, match="fuera de rango"):  # in a later chunk
        rolling._keys(pa.chunked_array([[1], [1 << 31]]), pa.chunked_array([[1], [1]]))
    with pytest.raises(rolling.StateError, match="fuera de rango"):
        rolling._keys(pa.chunked_array([[1], [1]]), pa.chunked_array([[1], [-1]]))


@pytest.mark.parametrize("statistics", [True, False])
def test_the_lots_at_the_days_end_take_back_what_moved_after_it_by_either_join(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, statistics: bool
) -> None:
    """Lots in many row groups (sorted by unit, as exported); what moved after the day matched
    in the row groups that may hold its units, or by DuckDB over the file: the same answer."""
    lots = [(u, c, lot, 10 * u + c) for u in range(1, 9) for c in (1, 2) for lot in ("A", "B")]
    pq.write_table(
        pa.table(
            {
                "unit_id": pa.array([r[0] for r in lots], pa.int64()),
                "clave_id": pa.array([r[1] for r in lots], pa.int64()),
                "lot": pa.array([r[2] for r in lots]),
                "expiry": pa.array([date(2027, 1, 1)] * len(lots), pa.date32()),
                "quantity": pa.array([r[3] for r in lots], pa.int64()),
            }
        ),
        tmp_path / "lots.parquet",
        row_group_size=3,
        write_statistics=statistics,
    )
    moved = {(2, 1, "B"): 5, (7, 2, "A"): -4, (7, 2, "Z"): 9, (99, 1, "A"): 1}  # Z, 99: no lot
    pq.write_table(
        pa.table(
            {
                "unit_id": pa.array([k[0] for k in moved], pa.int64()),
                "clave_id": pa.array([k[1] for k in moved], pa.int64()),
                "lot": pa.array([k[2] for k in moved]),
                "total": pa.array(list(moved.values()), pa.int64()),
            }
        ),
        tmp_path / "after.parquet",
    )
    expected = [q - moved.get((u, c, lot), 0) for u, c, lot, q in lots]
    by_groups = columnar.lots_at_end(tmp_path)
    monkeypatch.setattr(columnar, "AFTER_BY_ROW_GROUPS", 0)
    by_duckdb = columnar.lots_at_end(tmp_path)
    assert by_groups["quantity"].to_pylist() == expected
    assert by_duckdb["quantity"].to_pylist() == expected
    assert by_groups.equals(by_duckdb)
