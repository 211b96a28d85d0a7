"""The DuckDB snapshot over Parquet equals the rules' snapshot (``service.snapshot``), row for
row, on a sector with stock-outs, expiries, movements after the day and a max-min per kind."""

from __future__ import annotations

import random
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from sqlalchemy import delete, select

from abasto.core.context import Context
from abasto.core.errors import Conflict
from abasto.inventory import columnar, service
from abasto.inventory.models import DailyAbasto, DailyStock
from abasto.inventory.rules import Kind
from abasto.inventory.service import HistoryRow, IssueLine
from tests.inventory.factories import (
    ASPIRINA,
    METFORMINA,
    PARACETAMOL,
    build_sector,
    stock,
    unit,
)


def _history(today: date, seed: int) -> list[HistoryRow]:
    """About 130 days of one unit × clave: receipts of lots (some expiring soon), dispensing
    that sometimes empties the shelf and stays empty for days, the last days after the
    snapshot's day too."""
    rng = random.Random(seed)
    held: dict[str, tuple[date, int]] = {}
    rows = []
    for back in range(130, -1, -1):
        day = today - timedelta(days=back)
        if rng.random() < 0.06 or (not held and rng.random() < 0.02):
            lot = f"L{back}"
            expiry = day + timedelta(days=rng.choice([20, 60, 100, 400]))
            quantity = 400 if seed % 4 == 0 else rng.randint(5, 60)
            held[lot] = (expiry, quantity)
            rows.append(HistoryRow(day, "", lot, expiry, Kind.receipt, quantity))
        for lot, (expiry, quantity) in sorted(held.items()):
            if quantity and rng.random() < 0.5:
                taken = rng.randint(1, min(quantity, 6))
                held[lot] = (expiry, quantity - taken)
                rows.append(HistoryRow(day, "", lot, expiry, Kind.dispense, -taken))
                break
    return rows


def _rows(ctx: Context, day: date) -> tuple[list[Any], list[Any]]:
    daily = [
        (
            *(r.unit_id, r.clave_id, r.on_hand, r.amc, r.months),
            *(r.stockout_days, r.expiring, r.expired, r.level),
        )
        for r in ctx.db.scalars(
            select(DailyStock).where(DailyStock.day == day).order_by("unit_id", "clave_id")
        )
    ]
    abasto = [
        (r.scope, r.key, r.listed, r.with_stock, r.at_minimum, r.below_min, r.above_max, r.expiring)
        for r in ctx.db.scalars(
            select(DailyAbasto).where(DailyAbasto.day == day).order_by("scope", "key")
        )
    ]
    return daily, abasto


def _sector(ctx: Context) -> date:
    """The sector with about 130 days of history of every unit × clave; today."""
    build_sector(ctx)
    today = service.today(ctx)
    seed = 0
    for institution, code in (("IMSS", "HGZ-1"), ("IMSS", "UMF-2"), ("ISSSTE", "CMF-1")):
        where = unit(ctx, institution, code)
        rows = []
        for clave in (PARACETAMOL, ASPIRINA, METFORMINA):
            seed += 1
            rows += [
                HistoryRow(r.day, clave, r.lot, r.expiry, r.kind, r.quantity)
                for r in _history(today, seed)
            ]
        service.post_history(ctx, unit=where, rows=rows, source=f"historia:{code}")
    service.set_policy(ctx, unit_kind="clinica", min_months=Decimal(2), max_months=Decimal(4))
    return today


def _by_rules(ctx: Context, day: date) -> tuple[list[Any], list[Any]]:
    """The rules' snapshot of ``day`` (stored rows), then removed again."""
    service.snapshot(ctx, day=day)
    expected = _rows(ctx, day)
    ctx.db.execute(delete(DailyStock).where(DailyStock.day == day))
    ctx.db.execute(delete(DailyAbasto).where(DailyAbasto.day == day))
    return expected


@pytest.mark.parametrize("back", [0, 7])
def test_duckdb_over_parquet_gives_the_rules_snapshot(
    ctx: Context, tmp_path: Path, back: int
) -> None:
    today = _sector(ctx)
    day = today - timedelta(days=back)
    # Lots on both sides of the expiry horizon's last day.
    stock(ctx, unit(ctx), ASPIRINA, ("EDGE", day + timedelta(days=90), 3))
    stock(ctx, unit(ctx), ASPIRINA, ("PAST", day + timedelta(days=91), 4))

    by_rules = service.snapshot(ctx, day=day)
    expected = _rows(ctx, day)
    ctx.db.execute(delete(DailyStock).where(DailyStock.day == day))
    ctx.db.execute(delete(DailyAbasto).where(DailyAbasto.day == day))
    by_duckdb = service.snapshot_columnar(ctx, day=day, directory=tmp_path)

    assert by_duckdb == by_rules
    assert _rows(ctx, day) == expected
    daily, abasto = expected
    # The case exercises what the rules distinguish: stock-outs, known and unknown consumption,
    # levels on both sides of the max-min, lots expiring within the horizon.
    levels = {row[-1] for row in daily}
    assert {"stockout", "below_min", "above_max"} <= levels, levels
    assert any(row[5] and row[3] is not None for row in daily)  # stock-out days and an AMC
    assert any(row[6] for row in daily)
    assert {r[0] for r in abasto} == {"unit", "institution", "state", "nation"}


def test_rolled_snapshots_give_the_rules_snapshot_day_after_day(
    ctx: Context, tmp_path: Path
) -> None:
    """The nightly path: a full computation once, then each day rolled from the day before's
    state, equal to the rules' snapshot every day; a movement posted afterwards with an earlier
    date makes the state stale, and the window is recomputed, never rolled from it."""
    today = _sector(ctx)
    first = today - timedelta(days=6)
    expected = _by_rules(ctx, first)
    summary = service.snapshot_incremental(ctx, day=first, directory=tmp_path)
    assert not summary.rolled
    assert summary.recomputed == "No hay estado del día anterior."
    assert _rows(ctx, first) == expected
    for back in range(5, 0, -1):
        day = today - timedelta(days=back)
        expected = _by_rules(ctx, day)
        summary = service.snapshot_incremental(ctx, day=day, directory=tmp_path)
        assert summary.rolled, summary.recomputed
        assert _rows(ctx, day) == expected
    # A dispensing dated three days ago, posted now: the state of yesterday did not see it.
    where = unit(ctx, "IMSS", "UMF-2")
    held = service.unit_stock(ctx.db, where, clave=PARACETAMOL)
    assert held
    assert held[0].on_hand > 0
    service.dispense(
        ctx, unit=where, lines=[IssueLine(PARACETAMOL, 1)], day=today - timedelta(days=3)
    )
    expected = _by_rules(ctx, today)
    summary = service.snapshot_incremental(ctx, day=today, directory=tmp_path)
    assert not summary.rolled
    assert (today - timedelta(days=3)).isoformat() in summary.recomputed
    assert _rows(ctx, today) == expected
    # The recomputation left a fresh state: tomorrow rolls again.
    tomorrow = today + timedelta(days=1)
    expected = _by_rules(ctx, tomorrow)
    assert service.snapshot_incremental(ctx, day=tomorrow, directory=tmp_path).rolled
    assert _rows(ctx, tomorrow) == expected
    # A damaged state is refused, never rolled from: the window is recomputed.
    path = tmp_path / service.STATE_DIRECTORY / "state.npz"
    damaged = bytearray(path.read_bytes())
    damaged[-100] ^= 0xFF
    path.write_bytes(bytes(damaged))
    after = tomorrow + timedelta(days=1)
    expected = _by_rules(ctx, after)
    summary = service.snapshot_incremental(ctx, day=after, directory=tmp_path)
    assert not summary.rolled
    assert "estado" in summary.recomputed
    assert _rows(ctx, after) == expected


def test_a_days_rows_go_in_batches_and_a_second_writing_of_them_is_refused(
    ctx: Context, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The computed rows (Arrow columns) are written a batch at a time, by COPY on PostgreSQL;
    the day's rows written meanwhile by another computation make this one a Conflict that
    leaves them as they were."""
    today = _sector(ctx)
    expected = _by_rules(ctx, today)
    monkeypatch.setattr(service, "STORE_BATCH_ROWS", 2)
    service.snapshot_columnar(ctx, day=today, directory=tmp_path)
    assert len(expected[0]) > 2 * service.STORE_BATCH_ROWS
    assert _rows(ctx, today) == expected
    computed = columnar.compute(tmp_path, day=today, policies=service.policies(ctx.db))
    with pytest.raises(Conflict, match="Otro cálculo"):
        service._store_snapshot(ctx, today, computed.daily, [])
    assert _rows(ctx, today) == expected


def test_rows_of_a_unit_deleted_meanwhile_are_refused_as_such(ctx: Context, tmp_path: Path) -> None:
    """A row naming a unit that is gone (deleted while the day was computed) is refused with
    that said, not taken for another computation's rows, and nothing of the day is written."""
    today = _sector(ctx)
    service.snapshot_columnar(ctx, day=today, directory=tmp_path)
    for table in (DailyStock, DailyAbasto):
        ctx.db.execute(delete(table).where(table.day == today))
    computed = columnar.compute(tmp_path, day=today, policies=service.policies(ctx.db))
    units = computed.daily["unit_id"].to_pylist()
    gone = pa.array([max(units) + 1_000, *units[1:]], type=pa.int64())
    daily = computed.daily.set_column(
        computed.daily.schema.get_field_index("unit_id"), "unit_id", gone
    )
    with pytest.raises(Conflict, match="se borró mientras se calculaban"):
        service._store_snapshot(ctx, today, daily, [])
    assert _rows(ctx, today) == ([], [])
