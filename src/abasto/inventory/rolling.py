"""The daily indicators rolled a day at a time from a per-pair state, with NumPy arrays.

The national path of the nightly snapshot (docs/scale.md). ``columnar.compute`` reads the whole
90-day window; this module keeps, per unit × clave (a *pair*), what the window adds up to and
moves it by one day: the day that enters is added, the day that leaves is taken away. Per pair,
for the window that ends on the state's day:

* ``closing`` — the stock at the day's end;
* ``net`` and ``dispensed`` — the window's net change of stock and units dispensed;
* ``stockouts`` — the window's stock-out days (``rules.Day.stockout``);
* ``moved`` — the window's days with movements (a pair is listed while it has a lot or one).

The closing of the day that leaves follows from the state alone: the window's opening is
``closing − net``, and that day's closing is the opening plus its own net. So a roll reads the
lots (stock and expiries), the facts (``unit_id, clave_id, dispensed, net``) of the day that
enters and of the day that leaves, and the state: two days of facts instead of ninety.

Pairs are numbered by position: the state's pairs are sorted by ``unit_id << 32 | clave_id`` and
every array is indexed by that position; the facts and the lots, sorted the same way, find their
pairs by binary search, never through a hash table. New pairs (a unit's first lot of a clave)
are merged in order.

**A state is used only when it is provably the one before.** It is saved in one file, written
aside and renamed (a NumPy ``.npz``: a zip whose every array carries its CRC-32, checked as it
is read), with its day, the window's length and the window's per-day totals (pairs, dispensed,
net). ``load`` refuses (``StateError``) a file of another day or window, or whose arrays do not
match their CRCs, shapes or bounds; ``roll`` refuses one the
facts contradict: the stock at the day's end from the lots must be the state's closing plus the
entering day's net for every pair, and the leaving day's facts must add up to the totals the
state kept for that day. The caller then recomputes the window in full (``columnar.compute``),
whose result becomes the next state (``State.of_computed``).
"""

from __future__ import annotations

import ctypes
import json
import os
import threading
import zipfile
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from abasto.inventory import rules
from abasto.inventory.columnar import Computed

FILE = "state.npz"
VERSION = 1
WINDOW = rules.CONSUMPTION_WINDOW_DAYS
MAX_PAIRS = 200_000_000
"""A bound on the pairs a state may hold (15,000,000 at national scale)."""
MAX_LOTS = 4 * MAX_PAIRS
_MAX_META = 1 << 16
_MONTH = int(rules.DAYS_PER_MONTH * 10_000)
_LEVELS = ("stockout", "unknown", "below_min", "above_max", "ok")
_ARRAYS = {
    "keys": np.int64,
    "closing": np.int64,
    "net": np.int64,
    "dispensed": np.int64,
    "stockouts": np.int16,
    "moved": np.int16,
}
_NARROW = ("closing", "net", "dispensed")
"""The state's arrays ``save`` writes as 32-bit integers when every value fits."""
_INT32 = np.iinfo(np.int32)
Ints = npt.NDArray[np.int64]


class StateError(Exception):
    """The state cannot be used for this day; the message says why (the window is recomputed)."""


@dataclass(frozen=True, slots=True)
class State:
    """Per pair (sorted ``keys``), the window ending on ``day``; ``totals[i]`` holds the pairs
    with movements, units dispensed and net change of the window's day ``i`` (oldest first)."""

    day: date
    keys: Ints
    closing: Ints
    net: Ints
    dispensed: Ints
    stockouts: npt.NDArray[np.int16]
    moved: npt.NDArray[np.int16]
    totals: Ints
    watermark: int = 0
    """The last movement id the state had seen (``service`` checks nothing older came after)."""

    @classmethod
    def of_computed(cls, computed: Computed, *, day: date, watermark: int = 0) -> State:
        """The state a full computation (``columnar.compute``) leaves for ``day``."""
        if computed.state is None or computed.totals is None:
            raise StateError("El cálculo completo no dejó el estado por clave-unidad.")
        found = computed.state
        totals = np.zeros((WINDOW, 3), dtype=np.int64)
        start = day - timedelta(days=WINDOW - 1)
        for row in computed.totals.to_pylist():
            totals[(row["day"] - start).days] = (row["pairs"], row["dispensed"], row["net"])
        return cls(
            day=day,
            keys=_keys(found["unit_id"], found["clave_id"]),
            closing=_ints(found["closing"]),
            net=_ints(found["net"]),
            dispensed=_ints(found["dispensed"]),
            stockouts=_ints(found["stockout_days"]).astype(np.int16),
            moved=_ints(found["moved"]).astype(np.int16),
            totals=totals,
            watermark=watermark,
        )


def _ints(column: pa.ChunkedArray | pa.Array) -> Ints:
    return np.asarray(_int64_chunks(column).to_numpy(), dtype=np.int64)


def _keys(units: pa.ChunkedArray | pa.Array, claves: pa.ChunkedArray | pa.Array) -> Ints:
    """``unit_id << 32 | clave_id`` per row, written chunk by chunk into the one array (the
    columns, as Parquet gives them, are a chunk per row group: never joined into copies)."""
    u_column, c_column = _int64_chunks(units), _int64_chunks(claves)
    if [len(x) for x in u_column.chunks] != [len(x) for x in c_column.chunks]:
        u_column, c_column = (pa.chunked_array([x.combine_chunks()]) for x in (u_column, c_column))
    keys = np.empty(len(u_column), dtype=np.int64)
    at = 0
    for u_chunk, c_chunk in zip(u_column.chunks, c_column.chunks, strict=True):
        u, c = u_chunk.to_numpy(), c_chunk.to_numpy()
        if len(u) and (u.min() < 0 or u.max() >= 1 << 31 or c.min() < 0 or c.max() >= 1 << 31):
            raise StateError("Un identificador de unidad o de clave está fuera de rango.")
        out = keys[at : at + len(u)]
        np.left_shift(u, 32, out=out)
        out |= c
        at += len(u)
    return keys


def _int64_chunks(column: pa.ChunkedArray | pa.Array) -> pa.ChunkedArray:
    """The column as int64 chunks without nulls (a null as 0)."""
    found = column if isinstance(column, pa.ChunkedArray) else pa.chunked_array([column])
    if found.null_count:
        found = pc.fill_null(found, 0)
    return found if found.type == pa.int64() else found.cast(pa.int64())


# ----- the memory -------------------------------------------------------------------------------

_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3
_HEAP_WHILE_ROLLING = (1 << 31) - 1
"""While rolling: every allocation comes from the heap, and nothing freed is handed back."""
_MMAP_AFTER, _TRIM_AFTER = 32 << 20, 64 << 20
"""Afterwards: where glibc's own adjustment of both thresholds ends (allocations above 32 MB
mapped afresh, the heap's free top handed back above 64 MB)."""
_heap_lock = threading.Lock()
_heap_users = 0


def _libc() -> Any:
    try:
        libc = ctypes.CDLL(None)
        return libc if hasattr(libc, "mallopt") and hasattr(libc, "malloc_trim") else None
    except OSError:  # not a system with a C library to load
        return None


_LIBC = _libc()


def _hugepage_switch() -> Callable[[bool], bool] | None:
    """NumPy's switch for asking the kernel for huge pages for its large arrays, which returns
    the previous setting (not public: ``NUMPY_MADVISE_HUGEPAGE`` is read only at import)."""
    core = getattr(np, "_core", None)
    return getattr(getattr(core, "multiarray", None), "_set_madvise_hugepage", None)


_HUGEPAGES = _hugepage_switch()
_hugepages_before = False


@contextmanager
def _heap_for_large_arrays() -> Iterator[None]:
    """Large arrays reused instead of mapped afresh, in plain pages, while the block runs.

    glibc maps every allocation above its threshold (at most 32 MB) with its own ``mmap`` and
    unmaps it when it is freed, so each of a national roll's temporaries (15,000,000 pairs ×
    8 bytes: 120 MB) is faulted in again page by page, zeroed by the kernel (docs/scale.md).
    Inside the block they come from the heap, and what is freed stays there for the next one;
    on leaving, the thresholds go back to where glibc's own adjustment takes them and the
    heap's free memory is handed back (``malloc_trim``). NumPy also asks the kernel for huge
    pages for its large arrays, which, with the kernel's defragmentation on demand and the
    memory fragmented by a day's load, compacts memory on the spot: a gigabyte took 0.1 to
    2.6 s to fault in, plain pages 0.4 s, on the bench machine; inside the block it does not
    ask. The settings are the process's, so nested or concurrent blocks put them back when the
    last one leaves; without glibc's ``mallopt`` only NumPy's is changed."""
    global _heap_users, _hugepages_before
    with _heap_lock:
        if _heap_users == 0:
            if _LIBC is not None:
                _LIBC.mallopt(_M_MMAP_THRESHOLD, _HEAP_WHILE_ROLLING)
                _LIBC.mallopt(_M_TRIM_THRESHOLD, _HEAP_WHILE_ROLLING)
            if _HUGEPAGES is not None:
                _hugepages_before = _HUGEPAGES(False)
        _heap_users += 1
    try:
        yield
    finally:
        with _heap_lock:
            _heap_users -= 1
            if _heap_users == 0:
                if _HUGEPAGES is not None:
                    _HUGEPAGES(_hugepages_before)
                if _LIBC is not None:
                    _LIBC.mallopt(_M_MMAP_THRESHOLD, _MMAP_AFTER)
                    _LIBC.mallopt(_M_TRIM_THRESHOLD, _TRIM_AFTER)
                    _LIBC.malloc_trim(0)


# ----- the file ---------------------------------------------------------------------------------


def save(state: State, directory: Path) -> Path:
    """Write the state to ``directory/FILE``: aside first, then renamed over the old one.

    ``closing``, ``net`` and ``dispensed`` are written as 32-bit integers when every value
    fits (always, short of a pair moving two billion units in a window), else as they are:
    the national state's file is 360 MB instead of 540 MB, and writing it was the longer of
    the roll's last two steps (the indicators are computed beside it). ``load`` widens them."""
    directory.mkdir(parents=True, exist_ok=True)
    meta = {
        "version": VERSION,
        "day": state.day.isoformat(),
        "window": WINDOW,
        "pairs": len(state.keys),
        "watermark": int(state.watermark),
    }
    target = directory / FILE
    aside = directory / f".{FILE}.{os.getpid()}.tmp"
    # What ``np.savez`` writes (a zip of ``.npy`` members, stored, each with its CRC-32), the
    # narrowed arrays converted a block at a time rather than copied whole.
    with aside.open("wb") as out:
        with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED, allowZip64=True) as archive:
            _write_array(archive, "meta", np.frombuffer(json.dumps(meta).encode(), np.uint8))
            for name in _ARRAYS:
                _write_array(archive, name, getattr(state, name), narrow=name in _NARROW)
            _write_array(archive, "totals", state.totals)
        out.flush()
        os.fsync(out.fileno())
    aside.replace(target)
    return target


def _write_array(
    archive: zipfile.ZipFile, name: str, values: npt.NDArray[Any], *, narrow: bool = False
) -> None:
    """``values`` as the member ``name.npy`` of ``archive`` (as ``np.savez`` names it), in
    32-bit integers if ``narrow`` and they fit, a block at a time."""
    dtype = values.dtype
    if narrow and (not len(values) or (values.min() >= _INT32.min and values.max() <= _INT32.max)):
        dtype = np.dtype(np.int32)
    header = {
        "descr": np.lib.format.dtype_to_descr(dtype),
        "fortran_order": False,
        "shape": values.shape,
    }
    flat = np.ascontiguousarray(values).reshape(-1)
    with archive.open(f"{name}.npy", "w", force_zip64=True) as member:
        np.lib.format.write_array_header_1_0(member, header)
        for at in range(0, len(flat), _BLOCK):
            member.write(flat[at : at + _BLOCK].astype(dtype, copy=False).data.cast("B"))


@_heap_for_large_arrays()
def load(directory: Path, *, day: date) -> State | None:
    """The state saved for ``day``, checked; None when there is none. Raises ``StateError`` for
    a state of another day or window, a corrupt file, or arrays out of their bounds."""
    path = directory / FILE
    if not path.exists():
        return None
    try:
        with np.load(path, allow_pickle=False) as found:
            raw = found["meta"]
            if raw.dtype != np.uint8 or raw.size > _MAX_META:
                raise StateError("El encabezado del estado no es válido.")
            meta = json.loads(raw.tobytes())
            if meta.get("version") != VERSION or meta.get("window") != WINDOW:
                raise StateError("El estado es de otra versión o de otra ventana de consumo.")
            if meta.get("day") != day.isoformat():
                raise StateError(f"El estado es del {meta.get('day')}, no del {day.isoformat()}.")
            pairs = int(meta["pairs"])
            if not 0 <= pairs <= MAX_PAIRS:
                raise StateError("El estado tiene demasiadas claves-unidad.")
            arrays: dict[str, Any] = {}
            for name, dtype in {**_ARRAYS, "totals": np.int64}.items():
                array = found[name]
                shape = (WINDOW, 3) if name == "totals" else (pairs,)
                narrowed = name in _NARROW and array.dtype == np.int32
                if (array.dtype != dtype and not narrowed) or array.shape != shape:
                    raise StateError(f"El arreglo «{name}» del estado no tiene la forma esperada.")
                arrays[name] = array.astype(np.int64) if narrowed else array
    except zipfile.BadZipFile as exc:  # the zip's CRC-32 of an array does not match it
        raise StateError(f"El archivo del estado está dañado: {exc}") from exc
    except (OSError, ValueError, KeyError, TypeError, json.JSONDecodeError) as exc:
        raise StateError(f"El archivo del estado no se pudo leer: {exc}") from exc
    state = State(day=day, watermark=int(meta["watermark"]), **arrays)
    _check_bounds(state)
    return state


def _check_bounds(state: State) -> None:
    if len(state.keys) > 1 and not bool(np.all(state.keys[1:] > state.keys[:-1])):
        raise StateError("Las claves-unidad del estado no están ordenadas.")
    _check_counts(state)


def _check_counts(state: State) -> None:
    for name in ("stockouts", "moved"):
        values = getattr(state, name)
        if len(values) and (values.min() < 0 or values.max() > WINDOW):
            raise StateError(f"«{name}» del estado está fuera de 0 a {WINDOW} días.")


# ----- the roll ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Facts:
    """One day's movements per pair, sorted by pair: ``keys`` and the day's dispensed and net."""

    keys: Ints
    dispensed: Ints
    net: Ints

    @classmethod
    def of(cls, table: pa.Table) -> Facts:
        """From a table of ``unit_id, clave_id, dispensed, net`` (one row per pair)."""
        if table.num_rows > MAX_PAIRS:
            raise StateError("Los hechos del día tienen demasiadas claves-unidad.")
        keys = _keys(table["unit_id"], table["clave_id"])
        dispensed, net = _ints(table["dispensed"]), _ints(table["net"])
        if len(keys) > 1 and not bool(np.all(keys[1:] > keys[:-1])):
            order = np.argsort(keys, kind="stable")
            keys, dispensed, net = keys[order], dispensed[order], net[order]
            if not bool(np.all(keys[1:] > keys[:-1])):
                raise StateError("Los hechos del día repiten una clave-unidad.")
        return cls(keys, dispensed, net)

    def totals(self) -> tuple[int, int, int]:
        return len(self.keys), int(self.dispensed.sum()), int(self.net.sum())


_BLOCK = 1 << 20
"""Elements compared at a time where a whole-length temporary is not needed."""


def _positions(keys: Ints, wanted: Ints) -> tuple[Ints, bool]:
    """Where each of the sorted ``wanted`` keys sits in ``keys``, and whether all are there
    (checked a block at a time: no second array of their length)."""
    found = np.searchsorted(keys, wanted)
    if not len(wanted):
        return found, True
    if found[-1] >= len(keys):  # sorted: the last is the furthest
        return found, False
    return found, all(
        np.array_equal(keys[found[at : at + _BLOCK]], wanted[at : at + _BLOCK])
        for at in range(0, len(wanted), _BLOCK)
    )


@dataclass(frozen=True, slots=True)
class _Lots:
    keys: Ints
    on_hand: Ints
    expiring: Ints
    expired: Ints


def _lots_by_pair(lots: pa.Table, *, day: date) -> _Lots:
    """Each pair's stock, units expiring within the horizon and units expired, from a table of
    ``unit_id, clave_id, expiry, quantity`` (the lots at the day's end)."""
    if lots.num_rows > MAX_LOTS:
        raise StateError("Demasiados lotes.")
    keys = _keys(lots["unit_id"], lots["clave_id"])
    quantity = _ints(lots["quantity"])
    expiry = pc.fill_null(lots["expiry"], day).cast(pa.int32()).to_numpy()
    if len(keys) > 1 and not bool(np.all(keys[1:] >= keys[:-1])):
        order = np.argsort(keys, kind="stable")
        keys, quantity, expiry = keys[order], quantity[order], expiry[order]
    if not len(keys):
        empty = np.zeros(0, dtype=np.int64)
        return _Lots(empty, empty, empty, empty)
    starts = _starts(keys)
    today = (day - date(1970, 1, 1)).days
    held = quantity if quantity.min() >= 0 else np.maximum(quantity, 0)
    soon = (expiry >= today) & (expiry <= today + rules.EXPIRY_HORIZON_DAYS)
    expiring, expired = np.where(soon, held, 0), np.where(expiry < today, held, 0)
    if len(starts) == len(keys):  # a lot per pair: nothing to add up
        return _Lots(keys, quantity, expiring, expired)
    return _Lots(
        keys=keys[starts],
        on_hand=np.add.reduceat(quantity, starts),
        expiring=np.add.reduceat(expiring, starts),
        expired=np.add.reduceat(expired, starts),
    )


def _merged(state: State, *others: Ints) -> State:
    """The state with the pairs of ``others`` it lacks added in order, as pairs with no stock
    and no movement in the whole window (what the rules say of a pair never seen)."""
    missing = [k[~_member(state.keys, k)] for k in others]
    new = np.unique(np.concatenate(missing)) if missing else np.zeros(0, dtype=np.int64)
    if not len(new):
        return state
    keys, spread = _spread(state.keys, new)
    return replace(
        state,
        keys=keys,
        closing=spread(state.closing, 0),
        net=spread(state.net, 0),
        dispensed=spread(state.dispensed, 0),
        stockouts=spread(state.stockouts, WINDOW),
        moved=spread(state.moved, 0),
    )


def _starts(values: Ints) -> Ints:
    """Where each run of equal values starts in the sorted ``values``."""
    if not len(values):
        return np.zeros(0, dtype=np.int64)
    return np.flatnonzero(np.concatenate(([True], values[1:] != values[:-1])))


def _member(keys: Ints, wanted: Ints) -> npt.NDArray[np.bool_]:
    found = np.searchsorted(keys, wanted)
    inside = found < len(keys)
    out = np.zeros(len(wanted), dtype=bool)
    out[inside] = keys[found[inside]] == wanted[inside]
    return out


@_heap_for_large_arrays()
def roll(
    state: State,
    *,
    day: date,
    lots: pa.Table,
    entering: pa.Table,
    leaving: pa.Table,
    units: pa.Table,
    policies: Mapping[str, rules.StockPolicy],
    watermark: int = 0,
    save_to: Path | None = None,
) -> tuple[Computed, State]:
    """The indicators of ``day`` from the state of the day before, the lots at ``day``'s end,
    the facts of ``day`` (``entering``) and of the day that leaves the window (``leaving``,
    ``WINDOW`` days before ``day``), and the units (``unit_id, kind, state, institution``):
    the same rows as ``columnar.compute``, and the state of ``day``. With ``save_to``, that
    state is also saved there (``save``), written on a second thread while the indicators are
    computed; nothing is saved when the facts contradict the state."""
    if state.day != day - timedelta(days=1):
        raise StateError(f"El estado es del {state.day.isoformat()}, no del día anterior.")
    # Independent steps go in pairs, on a second thread: NumPy and Arrow leave the interpreter
    # free while they work on whole arrays.
    with ThreadPoolExecutor(max_workers=1) as pool:
        stocking = pool.submit(_lots_by_pair, lots, day=day)
        enter, leave = Facts.of(entering), Facts.of(leaving)
        if leave.totals() != tuple(int(x) for x in state.totals[0]):
            raise StateError(
                "Los movimientos del día que sale de la ventana cambiaron desde que entraron."
            )
        stocked = stocking.result()
        leaving_at = pool.submit(_positions, state.keys, leave.keys)
        same = np.array_equal(stocked.keys, state.keys)
        enter_at, whole = _positions(state.keys, enter.keys)
        leave_at, left_whole = leaving_at.result()
    if not (same and whole):
        state = _merged(state, stocked.keys, enter.keys)
        same = np.array_equal(stocked.keys, state.keys)
        enter_at, _ = _positions(state.keys, enter.keys)
        leave_at, left_whole = _positions(state.keys, leave.keys)
    if not left_whole:
        raise StateError("El día que sale de la ventana tiene claves-unidad sin estado.")
    n = len(state.keys)
    if same:  # the common case: every pair has its lots, and no other pair is listed
        on_hand, expiring, expired = stocked.on_hand, stocked.expiring, stocked.expired
        has_lot = np.ones(n, dtype=bool)
    else:
        lot_at, _ = _positions(state.keys, stocked.keys)
        on_hand, expiring, expired = (np.zeros(n, dtype=np.int64) for _ in range(3))
        has_lot = np.zeros(n, dtype=bool)
        on_hand[lot_at], expiring[lot_at], expired[lot_at] = (
            stocked.on_hand,
            stocked.expiring,
            stocked.expired,
        )
        has_lot[lot_at] = True
    expected = state.closing.copy()
    expected[enter_at] += enter.net
    broken = np.count_nonzero(expected != on_hand)
    if broken:
        raise StateError(
            f"{broken:,} claves-unidad no cuadran: la existencia al cierre no es la del "
            "día anterior más los movimientos del día (hubo movimientos con fecha pasada)."
        )
    # The day that leaves was a stock-out when it closed with nothing and gave nothing; its
    # closing is the window's opening (closing − net) plus its own net.
    left = np.subtract(state.closing, state.net, out=expected)  # its buffer, done with
    left[leave_at] += leave.net
    left_out = left <= 0
    left_out[leave_at] &= leave.dispensed == 0
    entered_out = on_hand <= 0
    entered_out[enter_at] &= enter.dispensed == 0
    stockouts = state.stockouts - left_out + entered_out
    net, dispensed, moved = state.net.copy(), state.dispensed.copy(), state.moved.copy()
    net[leave_at] -= leave.net
    dispensed[leave_at] -= leave.dispensed
    moved[leave_at] -= 1
    net[enter_at] += enter.net
    dispensed[enter_at] += enter.dispensed
    moved[enter_at] += 1
    after = State(
        day=day,
        keys=state.keys,
        closing=on_hand,
        net=net,
        dispensed=dispensed,
        stockouts=stockouts.astype(np.int16, copy=False),
        moved=moved,
        totals=np.vstack([state.totals[1:], np.array([enter.totals()], dtype=np.int64)]),
        watermark=watermark,
    )
    # The day's facts, where they sit and the window's scratch are done with: freed before the
    # indicators' arrays are made, which then reuse their memory (``_heap_for_large_arrays``)
    # instead of faulting in as much again (the benchmark's national roll: 3.0 GB faulted in
    # instead of 3.4, by ``getrusage``; with the columns below made early, 2.67 GB).
    del stocked, enter, leave, enter_at, leave_at, expected, left, left_out, entered_out
    return _finish(after, has_lot, on_hand, expiring, expired, units, policies, save_to)


def _finish(
    state: State,
    has_lot: npt.NDArray[np.bool_],
    on_hand: Ints,
    expiring: Ints,
    expired: Ints,
    units: pa.Table,
    policies: Mapping[str, rules.StockPolicy],
    save_to: Path | None = None,
) -> tuple[Computed, State]:
    """The indicators of the pairs listed (with a lot, or movements in the window), and the
    state of those pairs, saved in ``save_to`` (when given) while the indicators are computed:
    the file's writing, its CRC-32s and its ``fsync`` mostly leave the interpreter free."""
    _check_counts(state)
    listed = has_lot | (state.moved > 0)
    if not listed.all():
        state = _select(state, listed)
        on_hand, expiring, expired = on_hand[listed], expiring[listed], expired[listed]
    if save_to is None:
        return _indicators(state, on_hand, expiring, expired, units, policies), state
    with ThreadPoolExecutor(max_workers=1) as pool:
        saved = pool.submit(save, state, save_to)
        computed = _indicators(state, on_hand, expiring, expired, units, policies)
        saved.result()  # the save's error, if any, is raised here
    return computed, state


@_heap_for_large_arrays()
def rebuild(
    *,
    day: date,
    lots: pa.Table,
    facts: Callable[[date], pa.Table],
    units: pa.Table,
    policies: Mapping[str, rules.StockPolicy],
    watermark: int = 0,
) -> tuple[Computed, State]:
    """The indicators of ``day`` and its state recomputed over the whole window, in memory
    bounded by the pairs (never by the window's pair-days): from the stock at the day's end
    (``lots``) backwards, a day's facts (``facts(d)``: ``unit_id, clave_id, dispensed, net``)
    at a time — a day is a stock-out when it closed with nothing and gave nothing, and the day
    before closed with its closing less its net. The same rows as ``columnar.compute``."""
    stocked = _lots_by_pair(lots, day=day)
    keys, n = stocked.keys, len(stocked.keys)
    on_hand, expiring, expired = stocked.on_hand, stocked.expiring, stocked.expired
    has_lot = np.ones(n, dtype=bool)
    closing = on_hand.copy()
    net, dispensed = np.zeros(n, dtype=np.int64), np.zeros(n, dtype=np.int64)
    stockouts, moved = np.zeros(n, dtype=np.int16), np.zeros(n, dtype=np.int16)
    totals = np.zeros((WINDOW, 3), dtype=np.int64)
    for back in range(WINDOW):
        found = Facts.of(facts(day - timedelta(days=back)))
        at, whole = _positions(keys, found.keys)
        if not whole:  # pairs with movements but no lot left: no stock at the day's end
            added = found.keys[~_member(keys, found.keys)]
            keys, spread = _spread(keys, added)
            closing, net, dispensed, on_hand, expiring, expired = (
                spread(a, 0) for a in (closing, net, dispensed, on_hand, expiring, expired)
            )
            stockouts = spread(stockouts, back)  # each later day closed with nothing
            moved, has_lot = spread(moved, 0), spread(has_lot, False)
            at, _ = _positions(keys, found.keys)
        out = closing <= 0
        out[at] &= found.dispensed == 0
        stockouts += out
        closing[at] -= found.net
        net[at] += found.net
        dispensed[at] += found.dispensed
        moved[at] += 1
        totals[WINDOW - 1 - back] = found.totals()
    state = State(
        day=day,
        keys=keys,
        closing=on_hand,
        net=net,
        dispensed=dispensed,
        stockouts=stockouts,
        moved=moved,
        totals=totals,
        watermark=watermark,
    )
    return _finish(state, has_lot, on_hand, expiring, expired, units, policies)


def _spread(keys: Ints, added: Ints) -> tuple[Ints, Callable[[Any, Any], Any]]:
    """``keys`` with ``added`` merged in order, and how to widen an array of the old keys to
    the new (the added pairs get ``fill``)."""
    merged = np.union1d(keys, added)
    if len(merged) > MAX_PAIRS:
        raise StateError("Demasiadas claves-unidad.")
    at = np.searchsorted(merged, keys)

    def spread(values: Any, fill: Any) -> Any:
        out = np.full(len(merged), fill, dtype=values.dtype)
        out[at] = values
        return out

    return merged, spread


def _select(state: State, keep: npt.NDArray[np.bool_]) -> State:
    return replace(
        state,
        keys=state.keys[keep],
        closing=state.closing[keep],
        net=state.net[keep],
        dispensed=state.dispensed[keep],
        stockouts=state.stockouts[keep],
        moved=state.moved[keep],
    )


def _decimal(cents: Ints, valid: npt.NDArray[np.bool_], precision: int) -> pa.Array:
    """Cents as ``decimal(precision, 2)``: the 128-bit integers written directly."""
    wide = np.empty((len(cents), 2), dtype=np.int64)
    np.multiply(cents, valid, out=wide[:, 0])  # a null's value is 0
    np.right_shift(wide[:, 0], 63, out=wide[:, 1])  # the high word: all ones when negative
    validity = None if valid.all() else pa.py_buffer(np.packbits(valid, bitorder="little"))
    return pa.Array.from_buffers(
        pa.decimal128(precision, 2), len(cents), [validity, pa.py_buffer(wide)]
    )


def _indicators(
    state: State,
    on_hand: Ints,
    expiring: Ints,
    expired: Ints,
    units: pa.Table,
    policies: Mapping[str, rules.StockPolicy],
) -> Computed:
    """``columnar.compute``'s rows from a rolled state: the rules in integer arithmetic."""
    # The pairs are sorted by unit: each unit is a run of positions, looked up once.
    ids = _ints(units["unit_id"])
    order = np.argsort(ids, kind="stable")
    known = ids[order]
    unit_ids = state.keys >> 32
    starts = _starts(unit_ids)
    where, whole = _positions(known, unit_ids[starts])
    if not whole:  # a pair of a unit no longer registered is left out, as the query's join does
        present = _member(known, unit_ids)
        state = _select(state, present)
        on_hand, expiring, expired = on_hand[present], expiring[present], expired[present]
        unit_ids = unit_ids[present]
        starts = _starts(unit_ids)
        where = np.searchsorted(known, unit_ids[starts])
    runs = np.diff(np.append(starts, len(unit_ids)))
    kinds = units["kind"].to_pylist()
    default = rules.DEFAULT_POLICY
    low_of, high_of = (
        np.array([_cents(getattr(policies.get(kinds[i], default), side)) for i in order])
        for side in ("min_months", "max_months")
    )
    low, high = (
        # one policy for every unit (the default, or a single kind): no array per pair
        bounds[0] if len(bounds) and (bounds == bounds[0]).all() else np.repeat(bounds, runs)
        for bounds in (low_of[where], high_of[where])
    )
    # Each step over the 15 M pairs writes into an array it made (a new one is faulted in).
    safe = np.subtract(WINDOW, state.stockouts, dtype=np.int64)  # the days with stock
    has_amc = safe > 0
    np.maximum(safe, 1, out=safe)
    # (2·dispensed·month + 100·safe) // (200·safe)
    amc = state.dispensed * (2 * _MONTH)
    safe *= 100
    amc += safe
    safe *= 2
    amc //= safe
    del safe
    has_months = has_amc & (amc > 0)
    divisor = np.where(has_months, amc, 1)
    # Each column made as soon as its values are final, and the values let go: the next
    # array takes their memory.
    amc_column = _decimal(amc, has_amc, 14)
    del amc
    if len(on_hand) and on_hand.min() < 0:
        months = np.sign(on_hand) * ((2 * np.abs(on_hand) * 10000 + divisor) // (2 * divisor))
    else:  # no stock below zero (the common case): the same without the signs
        months = on_hand * 20000
        months += divisor
        divisor *= 2
        months //= divisor
    level = np.full(len(on_hand), 4, dtype=np.int8)  # ok
    level[has_months & (months > high)] = 3
    level[has_months & (months < low)] = 2
    level[~has_months] = 1
    level[on_hand <= 0] = 0
    months_column = _decimal(months, has_months, 12)
    del months, divisor
    n = len(on_hand)
    daily = pa.table(
        {
            "day": pa.Array.from_buffers(
                pa.date32(),
                n,
                [None, pa.py_buffer(np.full(n, (state.day - date(1970, 1, 1)).days, np.int32))],
            ),
            "unit_id": pa.array(unit_ids),
            "clave_id": pa.array(state.keys & 0xFFFFFFFF),
            "on_hand": _int32(on_hand, "existencia"),
            "amc": amc_column,
            "months": months_column,
            "stockout_days": pa.array(state.stockouts.astype(np.int32)),
            "expiring": _int32(expiring, "por caducar"),
            "expired": _int32(expired, "caducada"),
            "level": pa.DictionaryArray.from_arrays(pa.array(level), pa.array(_LEVELS)),
        }
    )
    return Computed(daily, _abasto(state.day, order[where], starts, level, expiring, units))


def _int32(values: Ints, what: str) -> pa.Array:
    """The column ``inventory_daily`` stores as an integer; never wrapped around."""
    if len(values) and (values.min() < -(1 << 31) or values.max() >= 1 << 31):
        raise StateError(f"Una cantidad {what} no cabe en la columna de los indicadores.")
    return pa.array(values.astype(np.int32))


def _cents(value: Any) -> int:
    return int(value * 100)


def _abasto(
    day: date,
    rows: Ints,
    starts: Ints,
    level: npt.NDArray[np.int8],
    expiring: Ints,
    units: pa.Table,
) -> pa.Table:
    """``abasto_daily``'s rows: per unit from sums over its run of pairs (``starts``; ``rows``
    its row in ``units``), then per institution, state and nation from the units' rows."""
    listed = np.diff(np.append(starts, len(level)))
    sums = [
        np.add.reduceat(values, starts, dtype=np.int64) if len(starts) else listed
        for values in (
            level != 0,
            (level == 1) | (level >= 3),
            level == 2,
            level == 3,
            expiring,
        )
    ]
    ids = units["unit_id"].to_pylist()
    institutions = units["institution"].to_pylist()
    states = units["state"].to_pylist()
    groups: dict[tuple[str, str], list[int]] = {}
    for at, i in enumerate(rows.tolist()):
        values = [int(listed[at]), *(int(found[at]) for found in sums)]
        for group in (
            ("unit", str(ids[i])),
            ("institution", institutions[i]),
            ("state", states[i] or ""),
            ("nation", ""),
        ):
            total = groups.setdefault(group, [0] * 6)
            for k, v in enumerate(values):
                total[k] += v
    ordered = sorted(groups.items())
    names = ("listed", "with_stock", "at_minimum", "below_min", "above_max", "expiring")
    return pa.table(
        {
            "day": pa.array([day] * len(ordered), pa.date32()),
            "scope": pa.array([g[0] for g, _ in ordered], pa.string()),
            "key": pa.array([g[1] for g, _ in ordered], pa.string()),
            **{
                name: pa.array([v[k] for _, v in ordered], pa.int32())
                for k, name in enumerate(names)
            },
        }
    )
