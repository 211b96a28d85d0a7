"""The daily indicators of every unit × clave, and their abasto, by DuckDB over Parquet files.

The national path of the daily snapshot (docs/scale.md): ``service.snapshot_columnar`` exports
four narrow tables to Parquet and ``compute`` answers in one DuckDB query what
``service.snapshot`` computes pair by pair in Python with the rules, to the cent:

* ``lots.parquet`` — every lot's balance (``unit_id, clave_id, lot, expiry, quantity``);
* ``after.parquet`` — each lot's net movement after the day (``unit_id, clave_id, lot, total``),
  taken back from the balance to get the stock at the day's end;
* ``days.parquet`` — each pair's day in the consumption window with movements
  (``unit_id, clave_id, day, dispensed, net``), from which the closing stock of every day of
  the window follows (days without movements carry the previous closing);
* ``units.parquet`` — ``unit_id, kind, state, institution``.

The rules, as integer arithmetic (so DuckDB and ``decimal`` agree to the cent): a stock-out day
ends with no stock and nothing dispensed (``rules.Day.stockout``); the AMC is what was dispensed
÷ days with stock × 30.4375, rounded half up to cents (``rules.adjusted_monthly_consumption``);
months of stock is on hand ÷ AMC, to cents (``rules.months_of_stock``); the level follows
``rules.level`` with the unit kind's max-min; the abasto of a scope follows ``rules.abasto``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import duckdb
import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.parquet as pq

from abasto.inventory import rules

TABLES = ("lots", "after", "days", "units")
_MONTH = int(rules.DAYS_PER_MONTH * 10_000)  # 30.4375 as 304375 ten-thousandths


@dataclass(frozen=True, slots=True)
class Computed:
    """What ``compute`` answers: one row per unit × clave (``inventory_daily``'s columns) and
    one per unit, institution, state and the nation (``abasto_daily``'s)."""

    daily: pa.Table
    abasto: pa.Table
    state: pa.Table | None = None
    """Per pair, what ``rolling`` keeps to roll the window a day: ``unit_id, clave_id`` and the
    window's ``closing`` (stock at the day's end), ``net``, ``dispensed``, ``stockout_days``
    and ``moved`` (days with movements), in the daily rows' order."""
    totals: pa.Table | None = None
    """Per day of the window with movements: ``day, pairs, dispensed, net``."""


def _cents(value: Decimal) -> int:
    return int(value * 100)


def compute(
    directory: Path,
    *,
    day: date,
    policies: Mapping[str, rules.StockPolicy],
    threads: int | None = None,
    memory_limit: str | None = None,
    spill: Path | None = None,
) -> Computed:
    """The day's indicators from the Parquet files in ``directory`` (the module's layout);
    ``memory_limit`` (DuckDB's, e.g. ``"5GB"``) and ``spill`` (a folder for what does not fit)
    bound a national window."""
    start = day - timedelta(days=rules.CONSUMPTION_WINDOW_DAYS - 1)
    horizon = day + timedelta(days=rules.EXPIRY_HORIZON_DAYS)
    db = duckdb.connect()
    try:
        if threads:
            db.execute(f"SET threads = {int(threads)}")
        if memory_limit:
            db.execute("SET memory_limit = $limit", {"limit": memory_limit})
        if spill:
            db.execute("SET temp_directory = $path", {"path": str(spill)})
        for name in TABLES:
            path = str(directory / f"{name}.parquet").replace("'", "''")
            db.execute(f"CREATE VIEW {name} AS SELECT * FROM read_parquet('{path}')")
        kinds = pa.table(
            {
                "kind": list(policies),
                "low": [_cents(p.min_months) for p in policies.values()],
                "high": [_cents(p.max_months) for p in policies.values()],
            },
            schema=pa.schema([("kind", pa.string()), ("low", pa.int64()), ("high", pa.int64())]),
        )
        db.register("kinds", kinds)
        default = rules.DEFAULT_POLICY
        values = {
            "day": day,
            "start": start,
            "horizon": horizon,
            "span": rules.CONSUMPTION_WINDOW_DAYS,
            "month": _MONTH,
            "low": _cents(default.min_months),
            "high": _cents(default.max_months),
        }
        db.execute(_DAILY, values)
        daily = db.sql(
            "SELECT day, unit_id, clave_id, on_hand, amc, months, stockout_days, expiring,"
            " expired, level FROM daily ORDER BY unit_id, clave_id"
        ).to_arrow_table()
        abasto = db.sql(_ABASTO, params={"day": day}).to_arrow_table()
        state = db.sql(
            "SELECT unit_id, clave_id, on_hand::BIGINT AS closing, net, dispensed,"
            " stockout_days, moved FROM daily ORDER BY unit_id, clave_id"
        ).to_arrow_table()
        totals = db.sql(
            "SELECT day, count(*)::BIGINT AS pairs, sum(dispensed)::BIGINT AS dispensed,"
            " sum(net)::BIGINT AS net FROM days WHERE day BETWEEN $start AND $day"
            " GROUP BY day ORDER BY day",
            params={"start": start, "day": day},
        ).to_arrow_table()
    finally:
        db.close()
    return Computed(daily, abasto, state, totals)


_DAILY = """
CREATE TEMP TABLE daily AS
WITH lots_then AS (
    SELECT l.unit_id, l.clave_id, l.expiry, l.quantity - coalesce(a.total, 0) AS quantity
    FROM lots l LEFT JOIN after a USING (unit_id, clave_id, lot)
),
stock AS (
    SELECT unit_id, clave_id,
        sum(quantity)::BIGINT AS on_hand,
        sum(CASE WHEN expiry BETWEEN $day AND $horizon AND quantity > 0 THEN quantity ELSE 0 END)
            ::BIGINT AS expiring,
        sum(CASE WHEN expiry < $day AND quantity > 0 THEN quantity ELSE 0 END)::BIGINT AS expired
    FROM lots_then GROUP BY unit_id, clave_id
),
moved AS (
    SELECT unit_id, clave_id, day, dispensed, net,
        sum(net) OVER (PARTITION BY unit_id, clave_id ORDER BY day) AS running,
        sum(net) OVER (PARTITION BY unit_id, clave_id) AS total,
        lead(day) OVER (PARTITION BY unit_id, clave_id ORDER BY day) AS next_day,
        min(day) OVER (PARTITION BY unit_id, clave_id) AS first_day
    FROM days WHERE day BETWEEN $start AND $day
),
series AS (
    -- Per pair: the window's net change, what was dispensed, and the stock-out days among the
    -- days with movements and the runs of days after each (which keep its closing); the
    -- closing of a day is the opening (on hand less the window's net) plus the net so far.
    SELECT m.unit_id, m.clave_id,
        any_value(m.total)::BIGINT AS net,
        sum(m.dispensed)::BIGINT AS dispensed,
        count(*)::BIGINT AS moved,
        sum(
            (CASE WHEN m.closing <= 0 AND m.dispensed = 0 THEN 1 ELSE 0 END)
            + (CASE WHEN m.closing <= 0
                THEN date_diff('day', m.day, coalesce(m.next_day, $day + 1)) - 1 ELSE 0 END)
        )::BIGINT AS after_days,
        date_diff('day', $start, any_value(m.first_day))::BIGINT AS lead_days
    FROM (
        SELECT moved.*, coalesce(s.on_hand, 0) - moved.total + moved.running AS closing
        FROM moved LEFT JOIN stock s USING (unit_id, clave_id)
    ) m
    GROUP BY m.unit_id, m.clave_id
),
measured AS (
    -- Every pair with a lot (a movement always leaves its lot's balance row) or with
    -- movements in the window.
    SELECT coalesce(s.unit_id, w.unit_id) AS unit_id, coalesce(s.clave_id, w.clave_id) AS clave_id,
        coalesce(s.on_hand, 0) AS on_hand,
        coalesce(s.expiring, 0) AS expiring,
        coalesce(s.expired, 0) AS expired,
        coalesce(w.dispensed, 0) AS dispensed,
        coalesce(w.net, 0) AS net,
        coalesce(w.moved, 0) AS moved,
        CASE
            WHEN w.unit_id IS NULL THEN
                CASE WHEN coalesce(s.on_hand, 0) <= 0 THEN $span ELSE 0 END
            ELSE w.after_days
                + CASE WHEN coalesce(s.on_hand, 0) - w.net <= 0 THEN w.lead_days ELSE 0 END
        END AS stockout_days
    FROM stock s FULL JOIN series w USING (unit_id, clave_id)
),
rated AS (
    SELECT m.*, $span - m.stockout_days AS stocked,
        CASE WHEN $span - m.stockout_days > 0
            THEN (2 * m.dispensed * $month + 100 * ($span - m.stockout_days))
                // (200 * ($span - m.stockout_days))
        END AS amc_cents
    FROM measured m
),
leveled AS (
    SELECT r.*,
        CASE WHEN r.amc_cents > 0 THEN
            sign(r.on_hand) * ((2 * abs(r.on_hand) * 10000 + r.amc_cents) // (2 * r.amc_cents))
        END AS months_cents,
        coalesce(k.low, $low) AS low, coalesce(k.high, $high) AS high
    FROM rated r
    JOIN units u USING (unit_id)
    LEFT JOIN kinds k ON k.kind = u.kind
)
SELECT $day::DATE AS day, unit_id, clave_id, on_hand::INTEGER AS on_hand,
    (amc_cents::DECIMAL(18, 0) * 0.01)::DECIMAL(14, 2) AS amc,
    (months_cents::DECIMAL(18, 0) * 0.01)::DECIMAL(12, 2) AS months,
    stockout_days::INTEGER AS stockout_days, expiring::INTEGER AS expiring,
    expired::INTEGER AS expired, dispensed::BIGINT AS dispensed, net::BIGINT AS net,
    moved::INTEGER AS moved,
    CASE
        WHEN on_hand <= 0 THEN 'stockout'
        WHEN months_cents IS NULL THEN 'unknown'
        WHEN months_cents < low THEN 'below_min'
        WHEN months_cents > high THEN 'above_max'
        ELSE 'ok'
    END AS level
FROM leveled
"""

_ABASTO = """
WITH scoped AS (
    SELECT d.*, u.institution, coalesce(u.state, '') AS state
    FROM daily d JOIN units u USING (unit_id)
),
grouped AS (
    SELECT 'unit' AS scope, unit_id::VARCHAR AS key, level, expiring FROM scoped
    UNION ALL SELECT 'institution', institution, level, expiring FROM scoped
    UNION ALL SELECT 'state', state, level, expiring FROM scoped
    UNION ALL SELECT 'nation', '', level, expiring FROM scoped
)
SELECT $day::DATE AS day, scope, key,
    count(*)::INTEGER AS listed,
    count(*) FILTER (WHERE level <> 'stockout')::INTEGER AS with_stock,
    count(*) FILTER (WHERE level IN ('ok', 'above_max', 'unknown'))::INTEGER AS at_minimum,
    count(*) FILTER (WHERE level = 'below_min')::INTEGER AS below_min,
    count(*) FILTER (WHERE level = 'above_max')::INTEGER AS above_max,
    sum(expiring)::INTEGER AS expiring
FROM grouped
GROUP BY scope, key
ORDER BY scope, key
"""


AFTER_BY_ROW_GROUPS = 100_000
"""Up to this many lots moved after the day (the night's few, as a roll finds them), they are
matched by Arrow in the lots file's row groups whose statistics may hold their units; past it
(a full recomputation's whole day), by one DuckDB join over the file."""


def lots_at_end(directory: Path) -> pa.Table:
    """``lots.parquet`` with each lot's quantity at the day's end (``after.parquet`` taken
    back), in the file's order: the lots a roll (``rolling.roll``) reads. Only the lots that
    moved after the day are matched, and corrected by their row number."""
    lots_path, after_path = directory / "lots.parquet", directory / "after.parquet"
    lots = pq.read_table(lots_path, columns=_LOT_COLUMNS)
    moved = pq.ParquetFile(after_path).metadata.num_rows
    if moved == 0:
        return lots
    if moved <= AFTER_BY_ROW_GROUPS:
        rows, totals = _moved_in_row_groups(pq.ParquetFile(lots_path), pq.read_table(after_path))
    else:
        rows, totals = _moved_by_duckdb(lots_path, after_path)
    quantity = np.asarray(lots["quantity"].to_numpy(), dtype=np.int64).copy()
    np.subtract.at(quantity, rows, totals)
    return lots.set_column(lots.schema.get_field_index("quantity"), "quantity", pa.array(quantity))


_KEY = ["unit_id", "clave_id", "lot"]
_Ints = npt.NDArray[np.int64]


def _moved_in_row_groups(lots: pq.ParquetFile, after: pa.Table) -> tuple[_Ints, _Ints]:
    """The row numbers of the lots that moved after the day and what moved, from the row
    groups whose ``unit_id`` statistics may hold a unit of ``after`` (the file is written
    sorted by unit: the night's few units read a few groups, not the 15 M lots)."""
    units = np.unique(np.asarray(after["unit_id"].drop_null().to_numpy(), dtype=np.int64))
    column = lots.schema_arrow.get_field_index("unit_id")
    groups, numbers, first = [], [], 0
    for group in range(lots.num_row_groups):
        meta = lots.metadata.row_group(group)
        stats = meta.column(column).statistics
        if stats is None or not stats.has_min_max:
            hit = True
        else:
            at = np.searchsorted(units, stats.min)
            hit = bool(at < len(units) and units[at] <= stats.max)
        if hit:
            groups.append(group)
            numbers.append(np.arange(first, first + meta.num_rows, dtype=np.int64))
        first += meta.num_rows
    if not groups:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    read = lots.read_row_groups(groups, columns=_KEY)
    read = read.append_column("row", pa.array(np.concatenate(numbers)))
    moved = after.select([*_KEY, "total"]).cast(
        pa.schema([read.schema.field(k) for k in _KEY] + [pa.field("total", pa.int64())])
    )
    joined = read.join(moved, keys=_KEY, join_type="inner")
    return (
        np.asarray(joined["row"].to_numpy(), dtype=np.int64),
        np.asarray(joined["total"].to_numpy(), dtype=np.int64),
    )


def _moved_by_duckdb(lots_path: Path, after_path: Path) -> tuple[_Ints, _Ints]:
    """The same as ``_moved_in_row_groups`` by one join over the whole lots file."""
    db = duckdb.connect()
    try:
        lots_name = str(lots_path).replace("'", "''")
        after_name = str(after_path).replace("'", "''")
        rows, totals = (
            db.sql(
                "SELECT l.file_row_number AS row, a.total"
                f" FROM read_parquet('{lots_name}', file_row_number = true) l"
                f" JOIN read_parquet('{after_name}') a USING (unit_id, clave_id, lot)"
            )
            .fetchnumpy()
            .values()
        )
    finally:
        db.close()
    return np.asarray(rows, dtype=np.int64), np.asarray(totals, dtype=np.int64)


_LOT_COLUMNS = ["unit_id", "clave_id", "expiry", "quantity"]
