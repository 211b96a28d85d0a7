"""Writing the public tables as CSV and Parquet, their datapackage.json, and exporting them all
to a folder at once.

Rows are read in batches straight from the query (no ORM object per row) and written as they
come. Money stays exact: a decimal string in CSV, a decimal column in Parquet. A CSV starts with
the UTF-8 BOM, so Excel opens its accents right.
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
from abasto.core.spreadsheet import UTF8_BOM, CsvWriter
from abasto.transparency.opendata.tables import (
    BOOLEAN,
    BY_NAME,
    DATE,
    DATETIME,
    DECIMAL,
    INTEGER,
    JSON,
    NUMBER,
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


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":"))


def _text(column: Column) -> Callable[[Any], str]:
    """How a column's values are written in CSV: exact decimals, ISO 8601 instants in UTC,
    ``true``/``false``, JSON objects."""
    if column.kind == DECIMAL:
        scale = column.scale[1]
        return lambda v: "" if v is None else f"{Decimal(v):.{scale}f}"
    if column.kind == DATETIME:
        return lambda v: "" if v is None else v.astimezone(UTC).isoformat()
    if column.kind == DATE:
        return lambda v: "" if v is None else v.isoformat()
    if column.kind == BOOLEAN:
        return lambda v: "" if v is None else ("true" if v else "false")
    if column.kind == JSON:
        return lambda v: "" if v is None else _json(v)
    return lambda v: "" if v is None else str(v)


def write_csv(db: Session, table: Table, out: IO[str], progress: Progress | None = None) -> int:
    """The table as CSV (UTF-8 with its BOM, a header row) into ``out``; returns the rows
    written."""
    out.write(UTF8_BOM)
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
    if column.kind == NUMBER:
        return pa.float64()
    if column.kind == BOOLEAN:
        return pa.bool_()
    if column.kind == DATETIME:
        return pa.timestamp("us", tz="UTC")
    if column.kind == DATE:
        return pa.date32()
    return pa.string()


def arrow_schema(table: Table) -> pa.Schema:
    return pa.schema(
        [
            pa.field(
                c.name, _arrow_type(c), metadata={"title": c.title, "description": c.description}
            )
            for c in table.columns
        ],
        metadata={"title": table.title, "description": table.description},
    )


def _arrow_values(column: Column) -> Callable[[Sequence[Any]], Sequence[Any]]:
    """A JSON column is a string in Parquet (as in CSV); every other value goes as it is."""
    if column.kind == JSON:
        return lambda values: [None if v is None else _json(v) for v in values]
    return lambda values: values


def write_parquet(
    db: Session, table: Table, out: str | Path | IO[bytes], progress: Progress | None = None
) -> int:
    """The table as Parquet into ``out``, one row group per batch; returns the rows written."""
    schema = arrow_schema(table)
    converts = [_arrow_values(c) for c in table.columns]
    written = 0
    with pq.ParquetWriter(out, schema) as writer:
        for batch in _batches(db, table):
            columns = list(zip(*batch, strict=True))
            writer.write_batch(
                pa.record_batch(
                    [
                        pa.array(convert(values), type=f.type)
                        for values, f, convert in zip(columns, schema, converts, strict=True)
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


FRICTIONLESS_TYPES = {
    DECIMAL: "number",
    NUMBER: "number",
    INTEGER: "integer",
    BOOLEAN: "boolean",
    DATETIME: "datetime",
    DATE: "date",
    JSON: "object",
}


def _field(column: Column) -> dict[str, Any]:
    field: dict[str, Any] = {
        "name": column.name,
        "type": FRICTIONLESS_TYPES.get(column.kind, "string"),
        "title": column.title,
        "description": column.description,
    }
    if column.kind == DATETIME:
        # ISO 8601 with an offset and, where the instant has them, microseconds.
        field["format"] = "any"
    return field


def resource_name(table: str, fmt: str) -> str:
    return f"{table}-{fmt}"


def table_schema(table: Table, fmt: str) -> dict[str, Any]:
    """The Frictionless table schema of ``table``: its fields, primary key and foreign keys
    (to the resource of the same format of the table they name)."""
    schema: dict[str, Any] = {"fields": [_field(c) for c in table.columns]}
    if table.key:
        schema["primaryKey"] = list(table.key)
    if table.links:
        schema["foreignKeys"] = [
            {
                "fields": list(link.fields),
                "reference": {
                    "resource": resource_name(link.table, fmt),
                    "fields": list(link.reference),
                },
            }
            for link in table.links
        ]
    return schema


def datapackage(files: Sequence[tuple[str, str, str, int | None]], now: datetime) -> dict[str, Any]:
    """A Frictionless tabular data package of ``files`` (table, format, path, rows)."""
    return {
        "profile": "tabular-data-package",
        "name": "abasto",
        "title": "Datos abiertos de Abasto",
        "description": "Open data of Abasto, the platform of Mexico's consolidated purchase of "
        "health supplies: tenders, bids once opened, awards, contracts, supply orders, "
        "deliveries, penalties, the catalog, institutions and units, red flags and the daily "
        "abasto indicator. Titles are in Spanish, descriptions in English.",
        "created": now.astimezone(UTC).isoformat(),
        "resources": [
            {
                "profile": "tabular-data-resource",
                "name": resource_name(name, fmt),
                "path": path,
                "format": fmt,
                "mediatype": MEDIA_TYPES[fmt].split(";")[0],
                **({"encoding": "utf-8"} if fmt == CSV else {}),
                "title": BY_NAME[name].title,
                "description": BY_NAME[name].description,
                **({"rows": rows} if rows is not None else {}),
                "schema": table_schema(BY_NAME[name], fmt),
            }
            for name, fmt, path, rows in files
        ],
    }


def _manifest(written: Sequence[Written], now: datetime) -> dict[str, Any]:
    return datapackage([(w.table, w.fmt, w.path.name, w.rows) for w in written], now)


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
