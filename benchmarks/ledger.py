"""Ledger benchmarks: appends per second, and `audit verify` over a million entries."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine, text

from abasto.core import ledger
from abasto.core.context import Context, operator
from abasto.core.db import session_factory, transaction
from abasto.core.ledger import GENESIS_HASH, Record, canonical_json, entry_content, entry_hash

START = datetime(2026, 1, 1, tzinfo=UTC)
COLUMNS = "seq, at, actor, action, entity, public, payload, prev_hash, hash"
ACTIONS = ("clave.create", "supplier.register", "bid.commit", "award.publish")


def synthetic_chain(n: int) -> Iterator[tuple[int, datetime, str, str, str, bool, str, str, str]]:
    """A valid chain of n entries whose payloads look like real ones (about 200 bytes)."""
    prev = GENESIS_HASH
    for seq in range(1, n + 1):
        at = START + timedelta(milliseconds=seq)
        action = ACTIONS[seq % len(ACTIONS)]
        entity = f"clave:010.000.{seq % 10000:04d}.00"
        payload = canonical_json(
            {
                "clave": entity[6:],
                "description": f"Medicamento de prueba {seq}. Tableta. Envase con 20 tabletas.",
                "unit": "Envase",
                "iva_rate": "0.0000",
                "cucop": 25300000 + seq % 99999,
            }
        )
        content = entry_content(seq, at, "usuario:bench", action, entity, True, payload)
        digest = entry_hash(prev, content)
        yield seq, at, "usuario:bench", action, entity, True, payload, prev, digest
        prev = digest


def fill(engine: Engine, n: int) -> float:
    """Write a valid n-entry chain as fast as the database takes it; returns seconds."""
    began = time.perf_counter()
    last_seq, last_hash = 0, GENESIS_HASH
    if engine.dialect.name == "postgresql":
        raw = engine.raw_connection()
        try:
            cursor = raw.cursor()
            copy_sql = f"COPY ledger_entries ({COLUMNS}) FROM STDIN"
            with cursor.copy(copy_sql) as copy:
                for row in synthetic_chain(n):
                    copy.write_row(row)
                    last_seq, last_hash = row[0], row[8]
            cursor.execute(
                "UPDATE ledger_head SET seq = %s, hash = %s WHERE id = 1", (last_seq, last_hash)
            )
            raw.commit()
        finally:
            raw.close()
    else:
        with engine.begin() as conn:
            batch: list[dict[str, object]] = []
            insert = text(
                f"INSERT INTO ledger_entries ({COLUMNS}) VALUES "
                "(:seq, :at, :actor, :action, :entity, :public, :payload, :prev_hash, :hash)"
            )
            for seq, at, actor, action, entity, public, payload, prev, digest in synthetic_chain(n):
                batch.append(
                    {
                        "seq": seq,
                        "at": at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f"),
                        "actor": actor,
                        "action": action,
                        "entity": entity,
                        "public": public,
                        "payload": payload,
                        "prev_hash": prev,
                        "hash": digest,
                    }
                )
                last_seq, last_hash = seq, digest
                if len(batch) == 50_000:
                    conn.execute(insert, batch)
                    batch = []
            if batch:
                conn.execute(insert, batch)
            conn.execute(
                text("UPDATE ledger_head SET seq = :s, hash = :h WHERE id = 1"),
                {"s": last_seq, "h": last_hash},
            )
    elapsed = time.perf_counter() - began
    settle(engine)
    return elapsed


def settle(engine: Engine) -> None:
    """Bring a freshly loaded ledger to the state of one that grew over months: on PostgreSQL,
    vacuumed and analyzed (autovacuum's work). Otherwise the first reads after a bulk load pay
    for setting every row's visibility hints, and autovacuum runs beside the timed pass."""
    if engine.dialect.name != "postgresql":
        return
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM (ANALYZE) ledger_entries"))


def verify_rate(engine: Engine) -> tuple[int, float]:
    """Entries verified and seconds taken by `abasto audit verify`'s code path."""
    began = time.perf_counter()
    with engine.connect() as conn:
        result = ledger.verify(conn)
    elapsed = time.perf_counter() - began
    if not result.ok:
        raise RuntimeError(f"benchmark chain failed verification: {result.reason}")
    return result.checked, elapsed


def append_rate(engine: Engine, *, transactions: int, per_transaction: int) -> float:
    """Appends per second through the service path (lock the head, hash, insert, move the head)."""
    factory = session_factory(engine)
    began = time.perf_counter()
    for i in range(transactions):
        with transaction(factory) as db:
            ctx = Context(db=db, actor=operator("bench"), now=datetime.now(UTC))
            ctx.record_many(
                [
                    Record(
                        "bench.append", f"x:{i}:{j}", {"i": i, "j": j, "note": "entrada de prueba"}
                    )
                    for j in range(per_transaction)
                ]
            )
    return transactions * per_transaction / (time.perf_counter() - began)
