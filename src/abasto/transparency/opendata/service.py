"""Writing the public tables as CSV and Parquet, and exporting them all to a folder at once.

Rows are read in batches straight from the query (no ORM object per row) and written as they
come. Money stays exact: a decimal string in CSV, a decimal column in Parquet.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import IO, Any

import pyarrow as pa
import pyarrow.parquet as pq
from sqlalchemy import Row, func, select
from sqlalchemy.orm import Session

from abasto.core import folders
from abasto.core.errors import ValidationFailed
from abasto.core.spreadsheet import CsvWriter
from abasto.transparency.opendata.tables import (
    BY_NAME,
    DATE,
    DATETIME,
    DECIMAL,
    INTEGER,
    TABLES,
    Column,
    Table,
)

CSV, PARQUET = "csv", "parquet"
FORMATS = (CSV, PARQUET)
MEDIA_TYPES = {CSV: "text/csv; charset=utf-8", PARQUET: "application/vnd.apache.parquet"}
BATCH = 10_000
MANIFEST = "datapackage.json"
"""A Frictionless Data Package: every file with its columns described; it marks an export."""

Progress = Callable[[int], None]
"""Told how many more rows were written."""


def row_counts(db: Session) -> dict[str, int]:
    """How many rows each table has now."""
    return {
        table.name: int(db.scalar(select(func.count()).select_from(table.query().subquery())) or 0)
        for table in TABLES
    }


def _batches(db: Session, table: Table) -> Iterator[Sequence[Row[Any]]]:
    result = db.execute(table.query().execution_options(yield_per=BATCH))
    yield from result.partitions()


# ----- CSV -----------------------------------------------------------------------------------


def _text(column: Column) -> Callable[[Any], str]:
    """How a column's values are written in CSV: exact decimals, ISO 8601 instants in UTC."""
    if column.kind == DECIMAL:
        scale = column.scale[1]
        return lambda v: "" if v is None else f"{Decimal(v):.{scale}f}"
    if column.kind == DATETIME:
        return lambda v: "" if v is None else v.astimezone(UTC).isoformat()
    if column.kind == DATE:
        return lambda v: "" if v is None else v.isoformat()
    return lambda v: "" if v is None else str(v)


def write_csv(db: Session, table: Table, out: IO[str], progress: Progress | None = None) -> int:
    """The table as CSV (UTF-8, a header row) into ``out``; returns the rows written."""
    # Text that starts like a formula is neutralised; a negative amount stays a number.
    writer = CsvWriter(out, lineterminator="\n")
    writer.writerow([c.name for c in table.columns])
    formats = [_text(c) for c in table.columns]
    written = 0
    for batch in _batches(db, table):
        writer.writerows([f(v) for f, v in zip(formats, row, strict=True)] for row in batch)
        written += len(batch)
        if progress:
            progress(len(batch))
    return written


# ----- Parquet -------------------------------------------------------------------------------


def _arrow_type(column: Column) -> pa.DataType:
    if column.kind == DECIMAL:
        return pa.decimal128(*column.scale)
    if column.kind == INTEGER:
        return pa.int64()
    if column.kind == DATETIME:
        return pa.timestamp("us", tz="UTC")
    if column.kind == DATE:
        return pa.date32()
    return pa.string()


def arrow_schema(table: Table) -> pa.Schema:
    return pa.schema(
        [
            pa.field(c.name, _arrow_type(c), metadata={"description": c.description})
            for c in table.columns
        ],
        metadata={"title": table.title, "description": table.description},
    )


def write_parquet(
    db: Session, table: Table, out: str | Path | IO[bytes], progress: Progress | None = None
) -> int:
    """The table as Parquet into ``out``, one row group per batch; returns the rows written."""
    schema = arrow_schema(table)
    written = 0
    with pq.ParquetWriter(out, schema) as writer:
        for batch in _batches(db, table):
            columns = list(zip(*batch, strict=True))
            writer.write_batch(
                pa.record_batch(
                    [
                        pa.array(values, type=f.type)
                        for values, f in zip(columns, schema, strict=True)
                    ],
                    schema=schema,
                )
            )
            written += len(batch)
            if progress:
                progress(len(batch))
        if not written:
            writer.write_table(schema.empty_table())
    return written


def write(
    db: Session, table: Table, fmt: str, out: IO[bytes], progress: Progress | None = None
) -> int:
    """The table in ``fmt`` into a binary file."""
    if fmt == PARQUET:
        return write_parquet(db, table, out, progress)
    text = io.TextIOWrapper(out, encoding="utf-8", newline="", write_through=True)
    try:
        return write_csv(db, table, text, progress)
    finally:
        text.detach()


# ----- the export to a folder ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Written:
    table: str
    fmt: str
    path: Path
    rows: int


def formats_of(choice: str) -> tuple[str, ...]:
    if choice == "both":
        return FORMATS
    if choice in FORMATS:
        return (choice,)
    raise ValidationFailed(
        f"Formato desconocido «{choice}»", expected="csv, parquet o both (los dos)"
    )


def _manifest(written: Sequence[Written], now: datetime) -> dict[str, Any]:
    frictionless = {DECIMAL: "number", INTEGER: "integer", DATETIME: "datetime", DATE: "date"}
    return {
        "name": "abasto",
        "title": "Datos abiertos de Abasto",
        "created": now.astimezone(UTC).isoformat(),
        "resources": [
            {
                "name": f"{w.table}-{w.fmt}",
                "path": w.path.name,
                "format": w.fmt,
                "mediatype": MEDIA_TYPES[w.fmt].split(";")[0],
                **({"encoding": "utf-8"} if w.fmt == CSV else {}),
                "title": BY_NAME[w.table].title,
                "description": BY_NAME[w.table].description,
                "rows": w.rows,
                "schema": {
                    "fields": [
                        {
                            "name": c.name,
                            "type": frictionless.get(c.kind, "string"),
                            "description": c.description,
                        }
                        for c in BY_NAME[w.table].columns
                    ]
                },
            }
            for w in written
        ],
    }


def export(
    db: Session,
    *,
    directory: Path,
    formats: Sequence[str],
    now: datetime,
    progress: Callable[[Table, str], Progress] | None = None,
) -> list[Written]:
    """Every table in every format into ``directory``, all or nothing.

    The files are written in a hidden folder next to it, which then takes its place: a reader
    sees the whole earlier export or the whole new one, and a failure leaves no trace.
    """
    target = directory.absolute()
    target.parent.mkdir(parents=True, exist_ok=True)
    with folders.replacing(target, marker=MANIFEST, what="de datos abiertos") as staging:
        written = []
        for table in TABLES:
            for fmt in formats:
                path = staging / f"{table.name}.{fmt}"
                with path.open("wb") as out:
                    rows = write(db, table, fmt, out, progress(table, fmt) if progress else None)
                written.append(Written(table.name, fmt, target / path.name, rows))
        (staging / MANIFEST).write_text(
            json.dumps(_manifest(written, now), ensure_ascii=False, indent=2), encoding="utf-8"
        )
    return written
