"""The tamper-evident ledger: every write appends a hash-chained entry in the same transaction.

Each entry's hash covers the previous entry's hash and the entry's whole content, not only its
payload, so changing who did what, when, or the order of entries breaks the chain as surely as
changing the payload:

    hash = sha256(prev_hash_bytes ‖ "seq\\nat\\nactor\\naction\\nentity\\npublic\\npayload")

where ``payload`` is canonical JSON (sorted keys, no spaces, UTF-8) and ``at`` is ISO 8601 UTC
with microseconds. ``ledger_head`` holds the last seq and hash; appenders lock that row, which
serialises them, and verification compares the chain's end with it so a truncated tail shows.

A chain only proves the ledger agrees with itself; the entries' hashes are also the leaves of a
Merkle tree whose signed checkpoints pin what was published (``core.checkpoints``), and
``verify_rows`` recomputes that tree in the same pass when it is given their roots.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    Boolean,
    Connection,
    Integer,
    LargeBinary,
    String,
    Text,
    bindparam,
    func,
    insert,
    select,
    text,
    update,
)
from sqlalchemy.orm import Mapped, Session, mapped_column

from abasto.core import merkle
from abasto.core.db import Base, UTCDateTime

GENESIS_HASH = "0" * 64


class LedgerEntry(Base):
    __tablename__ = "ledger_entries"

    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    actor: Mapped[str] = mapped_column(String(200), nullable=False)
    action: Mapped[str] = mapped_column(String(100), nullable=False, index=True)
    entity: Mapped[str] = mapped_column(String(300), nullable=False, index=True)
    public: Mapped[bool] = mapped_column(Boolean, nullable=False)
    payload: Mapped[str] = mapped_column(Text, nullable=False)
    prev_hash: Mapped[str] = mapped_column(String(64), nullable=False)
    hash: Mapped[str] = mapped_column(String(64), nullable=False, unique=True)

    def data(self) -> Any:
        return json.loads(self.payload)


class LedgerHead(Base):
    """The single row that names the end of the chain."""

    __tablename__ = "ledger_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    seq: Mapped[int] = mapped_column(Integer, nullable=False)
    hash: Mapped[str] = mapped_column(String(64), nullable=False)


def _default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime):
        return format_instant(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, (set, frozenset)):
        return sorted(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable in a ledger payload")


def canonical_json(value: Any) -> str:
    """One text per value: sorted keys, no insignificant spaces, Decimals as strings."""
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=_default
    )


def canonical_object(members: Mapping[str, str]) -> str:
    """``canonical_json`` of an object whose members are given already in canonical JSON: a
    large value (a bid's lines) is encoded once for each of the documents that hold it."""
    pairs = (f"{canonical_json(name)}:{value}" for name, value in sorted(members.items()))
    return "{" + ",".join(pairs) + "}"


def format_instant(at: datetime) -> str:
    if at.tzinfo is None:
        raise ValueError("ledger instants must be timezone-aware")
    return at.astimezone(UTC).isoformat(timespec="microseconds")


def entry_content(
    seq: int, at: datetime, actor: str, action: str, entity: str, public: bool, payload: str
) -> str:
    """The exact text an entry's hash covers, after the previous hash."""
    return f"{seq}\n{format_instant(at)}\n{actor}\n{action}\n{entity}\n{int(public)}\n{payload}"


def entry_hash(prev_hash: str, content: str) -> str:
    return hashlib.sha256(bytes.fromhex(prev_hash) + content.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class Record:
    """What a service wants written to the ledger; seq and hashes are assigned on append."""

    action: str
    entity: str
    payload: Mapping[str, Any]
    public: bool = True


def append(session: Session, *, actor: str, at: datetime, records: Sequence[Record]) -> int:
    """Append records in order within the caller's transaction; returns the last seq."""
    return append_entries(session, actor=actor, at=at, records=records)[0]


def append_entries(
    session: Session, *, actor: str, at: datetime, records: Sequence[Record]
) -> tuple[int, str]:
    """``append``, returning the last entry's seq and hash (a receipt names its leaf)."""
    if not records:
        raise ValueError("nothing to append")
    if len(records) == 1 and session.get_bind().dialect.name == "postgresql":
        return _append_one_in_postgres(session, actor=actor, at=at, record=records[0])
    # Locking the head row serialises appenders (SQLite is already serialised by BEGIN IMMEDIATE).
    head = session.execute(
        select(LedgerHead.seq, LedgerHead.hash).where(LedgerHead.id == 1).with_for_update()
    ).one()
    seq: int = head.seq
    prev: str = head.hash
    rows = []
    for record in records:
        seq += 1
        fields = _fields(actor, at, record)
        digest = entry_hash(prev, entry_content(seq, **fields))
        rows.append({**fields, "seq": seq, "prev_hash": prev, "hash": digest})
        prev = digest
    session.execute(insert(LedgerEntry), rows)
    session.execute(update(LedgerHead).where(LedgerHead.id == 1).values(seq=seq, hash=prev))
    return seq, prev


def _fields(actor: str, at: datetime, record: Record) -> dict[str, Any]:
    """An entry's columns other than its place in the chain (seq, prev_hash, hash)."""
    return {
        "at": at,
        "actor": actor,
        "action": record.action,
        "entity": record.entity,
        "public": record.public,
        "payload": canonical_json(record.payload),
    }


_APPEND_ONE = text(
    """
    WITH head AS (
        SELECT seq + 1 AS seq, hash AS prev_hash FROM ledger_head WHERE id = 1 FOR UPDATE
    ), entry AS (
        INSERT INTO ledger_entries
            (seq, at, actor, action, entity, public, payload, prev_hash, hash)
        SELECT seq, :at, :actor, :action, :entity, :public, :payload, prev_hash,
               encode(sha256(decode(prev_hash, 'hex') || convert_to(seq::text, 'UTF8') || :rest),
                      'hex')
        FROM head
        RETURNING seq, hash
    )
    UPDATE ledger_head SET seq = entry.seq, hash = entry.hash FROM entry
    WHERE ledger_head.id = 1
    RETURNING entry.seq, entry.hash
    """
).bindparams(bindparam("at", type_=UTCDateTime()), bindparam("rest", type_=LargeBinary()))


def _append_one_in_postgres(
    session: Session, *, actor: str, at: datetime, record: Record
) -> tuple[int, str]:
    """The same entry as the general path, in one statement: the head stays locked for one
    round trip and the commit, not three (every bid of a rush waits its turn at this lock).

    PostgreSQL hashes ``prev_hash ‖ seq ‖ rest``, where ``rest`` is the entry's content after
    its seq, exactly as ``entry_content`` writes it; ``verify`` recomputes it in Python.
    """
    fields = _fields(actor, at, record)
    rest = entry_content(0, **fields).encode()[1:]
    seq, digest = session.execute(_APPEND_ONE, {**fields, "rest": rest}).one()
    return int(seq), str(digest)


def head(session: Session) -> tuple[int, str]:
    row = session.execute(select(LedgerHead.seq, LedgerHead.hash).where(LedgerHead.id == 1)).one()
    return row.seq, row.hash


@dataclass(frozen=True, slots=True)
class Verification:
    checked: int
    first_bad_seq: int | None = None
    reason: str | None = None

    @property
    def ok(self) -> bool:
        return self.first_bad_seq is None and self.reason is None


def verify_rows(
    rows: Iterable[tuple[int, str, str, str]],
    head_seq: int,
    head_hash: str,
    *,
    roots: Mapping[int, bytes] | None = None,
) -> Verification:
    """Recompute the chain over ``(seq, content, prev_hash, hash)`` rows in seq order.

    ``roots`` maps tree sizes to the Merkle roots that checkpoints signed for them
    (``core.checkpoints``): the tree over the recomputed entries must have that root at that
    size, which no rewrite or truncation can keep, even one that recomputes the whole chain.
    Reports the first entry that does not fit. Pure, so it is tested without a database.
    """
    expected_seq, prev_hex, prev_bytes = 1, GENESIS_HASH, bytes.fromhex(GENESIS_HASH)
    sha256 = hashlib.sha256
    targets = sorted(roots or {})
    track = bool(targets)
    target = targets.pop(0) if targets else 0
    # The chain's digests are kept a batch at a time; a full batch (aligned, so a perfect
    # subtree) is hashed into leaves and reduced in comprehensions, which cost a fraction of
    # per-row Python, and joins the compact range (frontier) of the tree so far.
    batch: list[bytes] = []
    keep = batch.append
    frontier: list[tuple[bytes, int]] = []
    for seq, content, prev_hash, digest in rows:
        if seq != expected_seq:
            missing = "faltan entradas" if seq > expected_seq else "entrada fuera de orden"
            return Verification(
                expected_seq - 1,
                expected_seq,
                f"se esperaba la entrada {expected_seq} y sigue la {seq}: {missing}",
            )
        if prev_hash != prev_hex:
            return Verification(
                seq - 1,
                seq,
                f"la entrada {seq} no enlaza con la anterior (prev_hash distinto): "
                "la entrada anterior fue eliminada, cambiada o reordenada",
            )
        computed = sha256(prev_bytes + content.encode()).digest()
        prev_hex = computed.hex()
        if prev_hex != digest:
            return Verification(
                seq - 1,
                seq,
                f"el contenido de la entrada {seq} no corresponde a su hash: fue alterada",
            )
        prev_bytes = computed
        expected_seq += 1
        if track:
            keep(computed)
            if not seq & _BATCH_MASK:
                _push(frontier, merkle.reduce_perfect(_leaf_hashes(batch)), _BATCH)
                batch.clear()
            if seq == target:
                failure = _compare_root(seq, frontier, batch, (roots or {})[seq])
                if failure is not None:
                    return failure
                track = bool(targets)
                target = targets.pop(0) if targets else 0
    last = expected_seq - 1
    if track and target > last:
        return Verification(
            last,
            None,
            f"un punto de control firmado cubre {target:,} entradas y la bitácora tiene "
            f"{last:,}: se eliminaron entradas ya publicadas",
        )
    if last != head_seq or prev_hex != head_hash:
        return Verification(
            last,
            min(last, head_seq) + 1,
            f"la cadena termina en la entrada {last} pero la cabeza registrada es la {head_seq}: "
            "se eliminaron entradas del final o la cabeza fue alterada",
        )
    return Verification(last)


_BATCH = 4096
_BATCH_MASK = _BATCH - 1


def _leaf_hashes(digests: list[bytes]) -> list[bytes]:
    sha256 = hashlib.sha256
    return [sha256(b"\x00" + digest).digest() for digest in digests]


def _push(frontier: list[tuple[bytes, int]], subtree: bytes, size: int) -> None:
    while frontier and frontier[-1][1] == size:
        left, _ = frontier.pop()
        subtree, size = merkle.node_hash(left, subtree), size * 2
    frontier.append((subtree, size))


def _compare_root(
    size: int, frontier: list[tuple[bytes, int]], pending: list[bytes], signed: bytes
) -> Verification | None:
    partial = merkle.root_of_leaves(_leaf_hashes(pending)) if pending else None
    root = merkle.fold_right([subtree for subtree, _ in frontier], partial)
    if root == signed:
        return None
    return Verification(
        size,
        None,
        f"la bitácora no extiende el punto de control firmado de {size:,} entradas: su raíz "
        f"Merkle con esas entradas es {root.hex()} y el punto de control firmó {signed.hex()}; "
        "alguna de esas entradas se reescribió o se eliminó, aunque la cadena se haya recalculado",
    )


# The hashed content, concatenated by the database: one string per row instead of seven values
# makes `audit verify` about twice as fast. Each must equal `entry_content` exactly; the ledger
# tests check it on both databases.
_CONTENT_SQL = {
    "postgresql": (
        "seq::text || E'\\n' || to_char(at AT TIME ZONE 'UTC', "
        "'YYYY-MM-DD\"T\"HH24:MI:SS.US\"+00:00\"') || E'\\n' || actor || E'\\n' || action "
        "|| E'\\n' || entity || E'\\n' || (CASE WHEN public THEN '1' ELSE '0' END) || E'\\n' "
        "|| payload"
    ),
    "sqlite": (
        "seq || char(10) || replace(at, ' ', 'T') || '+00:00' || char(10) || actor || char(10) "
        "|| action || char(10) || entity || char(10) || (CASE WHEN public THEN '1' ELSE '0' END) "
        "|| char(10) || payload"
    ),
}


def stored_contents(
    connection: Connection, *, batch: int = 50_000
) -> Iterator[tuple[int, str, str, str]]:
    """``(seq, content, prev_hash, hash)`` of every entry in seq order, streamed.

    Read through the driver itself: SQLAlchemy's row objects would cost more than the hashing.
    On PostgreSQL a binary COPY streams rows while they are hashed, so the server and this
    process work at the same time instead of taking turns batch by batch.
    """
    content = _CONTENT_SQL[connection.dialect.name]
    query = f"SELECT seq, {content} AS content, prev_hash, hash FROM ledger_entries ORDER BY seq"
    driver: Any = connection.connection.dbapi_connection
    if driver is None:
        raise RuntimeError("the connection is closed")
    cursor = driver.cursor()
    try:
        if connection.dialect.name == "postgresql":
            with cursor.copy(f"COPY ({query}) TO STDOUT (FORMAT BINARY)") as copy:
                copy.set_types(["int4", "text", "text", "text"])
                yield from copy.rows()
        else:
            cursor.execute(query)
            while rows := cursor.fetchmany(batch):
                yield from rows
    finally:
        cursor.close()


def verify(connection: Connection) -> Verification:
    """``abasto audit verify``: stream the whole ledger and recompute the chain."""
    head_row = connection.execute(select(LedgerHead.seq, LedgerHead.hash)).one()
    return verify_rows(stored_contents(connection), head_row.seq, head_row.hash)


def count_public(session: Session) -> int:
    return (
        session.scalar(select(func.count()).select_from(LedgerEntry).where(LedgerEntry.public)) or 0
    )
