"""The flat input of the indicators: a few relational tables, the same whoever published the data.

Both loaders (Abasto's own database in ``source_abasto``, another publisher's OCDS file in
``source_ocds``) fill these tables as Arrow columns (the contracts' execution — signatures against
their deadline, convenios against the original amount, deliveries, the fill rate, penalties against
the guarantee — only from Abasto's database); ``connect`` registers them in an in-memory
DuckDB connection, where every indicator is one SQL query over whole tables.

A *process* is a contracting process (an ocid; an Abasto tender). A *lot* is what bids compete
for: an Abasto partida, or the whole process for OCDS data without lots. Bids and awards belong
to a lot. Several tenderers of one bid (a consortium), or several suppliers of one award, are
kept as their ids joined by ``|`` with ``tenderers``/``suppliers`` counting them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from typing import Any

import duckdb
import pyarrow as pa

MONEY = pa.decimal128(18, 4)
"""Amounts as read: exact to 1/100 of a centavo (OCDS amounts are rounded to it on loading)."""
INSTANT = pa.timestamp("us", tz="UTC")

SCHEMAS: dict[str, pa.Schema] = {
    "processes": pa.schema(
        [
            ("process_id", pa.string()),
            ("title", pa.string()),
            ("buyer_id", pa.string()),
            ("buyer_name", pa.string()),
            ("method", pa.string()),
            ("method_details", pa.string()),
            ("tender_start", INSTANT),
            ("tender_end", INSTANT),
        ]
    ),
    "lots": pa.schema(
        [
            ("lot_id", pa.string()),
            ("process_id", pa.string()),
            ("label", pa.string()),
            ("number_of_tenderers", pa.int32()),
        ]
    ),
    "bids": pa.schema(
        [
            ("bid_id", pa.string()),
            ("lot_id", pa.string()),
            ("tenderer_id", pa.string()),
            ("tenderers", pa.int32()),
            ("status", pa.string()),
            ("submitted_at", INSTANT),
            ("amount", MONEY),
            ("currency", pa.string()),
            ("reason", pa.string()),
        ]
    ),
    "awards": pa.schema(
        [
            ("award_id", pa.string()),
            ("lot_id", pa.string()),
            ("supplier_id", pa.string()),
            ("suppliers", pa.int32()),
            ("status", pa.string()),
            ("award_date", INSTANT),
            ("amount", MONEY),
            ("currency", pa.string()),
        ]
    ),
    "award_items": pa.schema(
        [
            ("award_id", pa.string()),
            ("classification", pa.string()),
            ("quantity", pa.float64()),
            ("unit_price", MONEY),
            ("amount", MONEY),
            ("currency", pa.string()),
            ("reference_price", MONEY),
        ]
    ),
    "contracts": pa.schema(
        [
            ("contract_id", pa.string()),
            ("process_id", pa.string()),
            ("buyer_id", pa.string()),
            ("supplier_id", pa.string()),
            ("amount", MONEY),
            ("currency", pa.string()),
            ("signed_at", INSTANT),
        ]
    ),
    "parties": pa.schema(
        [("party_id", pa.string()), ("name", pa.string()), ("registered_on", pa.date32())]
    ),
    # After the fallo (Abasto's own data only: OCDS does not carry these figures).
    "signed_contracts": pa.schema(
        [
            ("contract_id", pa.string()),
            ("process_id", pa.string()),
            ("buyer_id", pa.string()),
            ("supplier_id", pa.string()),
            ("currency", pa.string()),
            ("original_amount", MONEY),
            ("max_amount", MONEY),
            ("convenios", pa.int32()),
            ("signing_deadline", pa.date32()),
            ("signed_at", INSTANT),
            ("guarantee_amount", MONEY),
            ("penalties", MONEY),
        ]
    ),
    "deliveries": pa.schema(
        [
            ("delivery_id", pa.string()),
            ("contract_id", pa.string()),
            ("supplier_id", pa.string()),
            ("clave", pa.string()),
            ("due_on", pa.date32()),
            ("received_at", INSTANT),
            ("accepted", pa.int64()),
            ("rejected", pa.int64()),
        ]
    ),
    "fill_rates": pa.schema(
        [
            ("supplier_id", pa.string()),
            ("ordered_due", pa.int64()),
            ("on_time_accepted", pa.int64()),
        ]
    ),
    "sanctions": pa.schema(
        [
            ("party_id", pa.string()),
            ("starts_on", pa.date32()),
            ("ends_on", pa.date32()),
            ("detail", pa.string()),
        ]
    ),
}


def table(name: str, rows: Iterable[Mapping[str, Any]] | Mapping[str, Sequence[Any]]) -> pa.Table:
    """One flat table from row dicts or from columns, checked against its schema."""
    schema = SCHEMAS[name]
    if isinstance(rows, Mapping):
        return pa.Table.from_pydict(dict(rows), schema=schema)
    return pa.Table.from_pylist(list(rows), schema=schema)


def _empty(name: str) -> pa.Table:
    return SCHEMAS[name].empty_table()


@dataclass
class Frames:
    """The flat tables, and the currency every compared amount must be in."""

    currency: str = "MXN"
    processes: pa.Table = field(default_factory=lambda: _empty("processes"))
    lots: pa.Table = field(default_factory=lambda: _empty("lots"))
    bids: pa.Table = field(default_factory=lambda: _empty("bids"))
    awards: pa.Table = field(default_factory=lambda: _empty("awards"))
    award_items: pa.Table = field(default_factory=lambda: _empty("award_items"))
    contracts: pa.Table = field(default_factory=lambda: _empty("contracts"))
    parties: pa.Table = field(default_factory=lambda: _empty("parties"))
    sanctions: pa.Table = field(default_factory=lambda: _empty("sanctions"))
    signed_contracts: pa.Table = field(default_factory=lambda: _empty("signed_contracts"))
    deliveries: pa.Table = field(default_factory=lambda: _empty("deliveries"))
    fill_rates: pa.Table = field(default_factory=lambda: _empty("fill_rates"))

    def tables(self) -> dict[str, pa.Table]:
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name in SCHEMAS}


def connect(frames: Frames, *, threads: int | None = None) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB connection with the frames as tables (Arrow, no copy)."""
    con = duckdb.connect(":memory:", config={"autoinstall_known_extensions": False})
    if threads:
        con.execute(f"SET threads = {int(threads)}")
    con.execute("SET TimeZone = 'UTC'")
    for name, data in frames.tables().items():
        if data.schema != SCHEMAS[name]:
            data = data.cast(SCHEMAS[name])
        con.register(name, data)
    return con
