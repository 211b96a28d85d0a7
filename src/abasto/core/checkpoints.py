"""The ledger as a transparency log: signed checkpoints, inclusion and consistency proofs.

A hash chain only proves that the ledger agrees with itself: an insider who rewrites an entry
and recomputes every later hash and the head, or cuts the tail and moves the head back, leaves a
valid chain. So the entries are also the leaves of a Merkle tree (RFC 9162, ``core.merkle``)
whose root is signed now and then in a checkpoint (``core.signed_note``) that anyone may keep;
``verify`` then checks that the ledger today is an extension of a checkpoint kept earlier.

Checkpoints are made by the tick, on demand (``abasto audit checkpoint``) and with each fallo,
never per bid: a bid's receipt carries its entry (seq, hash) and the latest checkpoint, and its
inclusion proof is served once a checkpoint covers it, as Sigstore's Rekor does.

Interior nodes of complete 256-leaf tiles and above are stored (``ledger_tree_nodes``) as each
checkpoint is made, so a proof reads O(log n) of them plus at most two tiles of entry hashes.
Making checkpoints is serialised by the ``ledger_tree`` row lock, not the ledger head's: bids
keep appending while a checkpoint is computed over what was committed.
"""

from __future__ import annotations

import base64
import binascii
import json
import threading
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import (
    Connection,
    Integer,
    LargeBinary,
    String,
    Text,
    insert,
    select,
)
from sqlalchemy.orm import Mapped, Session, mapped_column

from abasto.core import ledger, merkle
from abasto.core.config import Settings
from abasto.core.db import Base, UTCDateTime
from abasto.core.errors import NotFound
from abasto.core.signed_note import Checkpoint, NoteError, Signer, Verifier, unverified


class LedgerCheckpoint(Base):
    """A signed checkpoint as published: anyone who kept it can hold the ledger to it."""

    __tablename__ = "ledger_checkpoints"

    tree_size: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    root_hash: Mapped[str] = mapped_column(String(64), nullable=False)
    at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    note: Mapped[str] = mapped_column(Text, nullable=False)
    verifier: Mapped[str] = mapped_column(String(300), nullable=False)


class LedgerTreeNode(Base):
    """The hash of the perfect subtree ``index`` at ``level`` (its 2**level leaves start at leaf
    ``index << level``); only levels from ``merkle.TILE_LEVEL`` up are stored."""

    __tablename__ = "ledger_tree_nodes"

    level: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    index: Mapped[int] = mapped_column("idx", Integer, primary_key=True, autoincrement=False)
    hash: Mapped[bytes] = mapped_column(LargeBinary(32), nullable=False)


class LedgerTree(Base):
    """One row: how many leaves the stored nodes cover. Its lock serialises checkpoint makers."""

    __tablename__ = "ledger_tree"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    size: Mapped[int] = mapped_column(Integer, nullable=False)


class LogKeyMissing(RuntimeError):
    """No ``ABASTO_LOG_KEY``: checkpoints are not signed (the operator must configure one)."""


def signer_from_settings(settings: Settings) -> Signer | None:
    if not settings.log_key:
        return None
    try:
        seed = base64.b64decode(settings.log_key + "=" * (-len(settings.log_key) % 4), b"-_")
    except binascii.Error:
        seed = b""
    if len(seed) != 32:
        raise ValueError("ABASTO_LOG_KEY must be the base64 of a 32-byte Ed25519 seed")
    return Signer.from_seed(settings.log_origin, seed)


# ----- making checkpoints ---------------------------------------------------------------------


def publish(session: Session, signer: Signer | None, *, now: datetime) -> LedgerCheckpoint:
    """Sign a checkpoint of the ledger as this transaction sees it (the latest one again when
    nothing was appended since). The caller's transaction commits it."""
    if signer is None:
        raise LogKeyMissing(
            "No hay llave para firmar puntos de control: configure ABASTO_LOG_KEY "
            "(base64 de 32 bytes; véase docs/security.md)."
        )
    state = session.execute(
        select(LedgerTree).where(LedgerTree.id == 1).with_for_update()
    ).scalar_one()
    size, _ = ledger.head(session)
    last = latest(session)
    if last is not None and last.tree_size == size:
        return last
    _extend(session, state, size)
    root = TreeReader(session.connection(), size).range_hash(0, size)
    note = signer.sign(Checkpoint(signer.name, size, root, now))
    row = LedgerCheckpoint(
        tree_size=size, root_hash=root.hex(), at=now, note=note, verifier=signer.verifier.encoded()
    )
    session.add(row)
    session.flush()
    return row


def due(session: Session, *, now: datetime, every_seconds: float) -> bool:
    """Whether the tick should sign one: the ledger grew and the last one is old enough."""
    size, _ = ledger.head(session)
    last = latest(session)
    if last is None:
        return size > 0
    return size > last.tree_size and (now - last.at).total_seconds() >= every_seconds


def _extend(session: Session, state: LedgerTree, size: int) -> None:
    """Store the nodes of the tiles completed since the last checkpoint, and those above."""
    first, end = state.size >> merkle.TILE_LEVEL, size >> merkle.TILE_LEVEL
    state.size = size
    if end <= first:
        return
    connection = session.connection()
    new: dict[int, list[bytes]] = {merkle.TILE_LEVEL: []}
    step = 256
    for start in range(first, end, step):
        stop = min(start + step, end)
        hashes = _leaves(connection, start << merkle.TILE_LEVEL, stop << merkle.TILE_LEVEL)
        new[merkle.TILE_LEVEL].extend(
            merkle.reduce_perfect(hashes[i : i + merkle.TILE])
            for i in range(0, len(hashes), merkle.TILE)
        )
    rows: list[dict[str, object]] = []
    level, lo = merkle.TILE_LEVEL, first
    while True:
        nodes = new[level]
        rows.extend({"level": level, "index": lo + i, "hash": h} for i, h in enumerate(nodes))
        hi = lo + len(nodes)
        if hi // 2 <= lo // 2:
            break
        children = nodes
        if lo % 2:
            # The new nodes start with a right child: its left sibling was stored before.
            children = [_stored_node(connection, level, lo - 1), *nodes]
        new[level + 1] = [
            merkle.node_hash(children[i], children[i + 1]) for i in range(0, len(children) - 1, 2)
        ]
        level, lo = level + 1, lo // 2
    session.execute(insert(LedgerTreeNode), rows)


def _leaves(connection: Connection, lo: int, hi: int) -> list[bytes]:
    """Leaf hashes of leaves ``[lo, hi)`` (entries ``lo + 1`` to ``hi``)."""
    found = connection.execute(
        select(ledger.LedgerEntry.hash)
        .where(ledger.LedgerEntry.seq > lo, ledger.LedgerEntry.seq <= hi)
        .order_by(ledger.LedgerEntry.seq)
    ).scalars()
    hashes = [merkle.leaf_hash(bytes.fromhex(h)) for h in found]
    if len(hashes) != hi - lo:
        raise RuntimeError(f"ledger entries {lo + 1}-{hi} are not all there")
    return hashes


def _stored_node(connection: Connection, level: int, index: int) -> bytes:
    found = connection.execute(
        select(LedgerTreeNode.hash).where(
            LedgerTreeNode.level == level, LedgerTreeNode.index == index
        )
    ).scalar_one_or_none()
    if found is None:
        raise RuntimeError(f"tree node {level}/{index} is not stored")
    return bytes(found)


class TreeReader:
    """MTH of any range of the first ``size`` leaves, from stored nodes and at most a few tiles
    of entry hashes; one per proof, so it caches what it read."""

    def __init__(self, connection: Connection, size: int) -> None:
        self.connection = connection
        self.size = size
        self._tiles: dict[int, list[bytes]] = {}

    def range_hash(self, lo: int, hi: int) -> bytes:
        n = hi - lo
        if n == 0:
            return merkle.EMPTY_ROOT
        if n & (n - 1) == 0 and lo % n == 0:
            return self._perfect(n.bit_length() - 1, lo)
        k = merkle.split_point(n)
        return merkle.node_hash(self.range_hash(lo, lo + k), self.range_hash(lo + k, hi))

    def _perfect(self, level: int, lo: int) -> bytes:
        if level >= merkle.TILE_LEVEL:
            return _stored_node(self.connection, level, lo >> level)
        tile = lo >> merkle.TILE_LEVEL
        leaves = self._tiles.get(tile)
        if leaves is None:
            start = tile << merkle.TILE_LEVEL
            leaves = _leaves(self.connection, start, min(start + merkle.TILE, self.size))
            self._tiles[tile] = leaves
        offset = lo - (tile << merkle.TILE_LEVEL)
        return merkle.reduce_perfect(leaves[offset : offset + (1 << level)])


# ----- reading them ---------------------------------------------------------------------------


def latest(session: Session) -> LedgerCheckpoint | None:
    return session.execute(
        select(LedgerCheckpoint).order_by(LedgerCheckpoint.tree_size.desc()).limit(1)
    ).scalar_one_or_none()


def latest_note(session: Session, *, before: int | None = None) -> str | None:
    """The latest checkpoint's note only (one indexed read): what a bid receipt carries; with
    ``before``, the latest of those that do not cover entry ``before``."""
    query = select(LedgerCheckpoint.note)
    if before is not None:
        query = query.where(LedgerCheckpoint.tree_size < before)
    return session.execute(
        query.order_by(LedgerCheckpoint.tree_size.desc()).limit(1)
    ).scalar_one_or_none()


def at_size(session: Session, size: int) -> LedgerCheckpoint | None:
    return session.get(LedgerCheckpoint, size)


def covering(session: Session, seq: int) -> LedgerCheckpoint | None:
    """The first checkpoint that covers entry ``seq``."""
    return session.execute(
        select(LedgerCheckpoint)
        .where(LedgerCheckpoint.tree_size >= seq)
        .order_by(LedgerCheckpoint.tree_size)
        .limit(1)
    ).scalar_one_or_none()


def stored_size(session: Session) -> int:
    """Leaves the stored nodes cover: proofs can be made for any tree up to this size."""
    return session.execute(select(LedgerTree.size).where(LedgerTree.id == 1)).scalar_one()


# ----- proofs ---------------------------------------------------------------------------------


class ProofUnavailable(NotFound):
    """A proof was asked for a tree that no checkpoint covers yet."""


@dataclass(frozen=True, slots=True)
class InclusionProof:
    seq: int
    tree_size: int
    entry_hash: str
    leaf_hash: bytes
    path: list[bytes]
    root: bytes


@dataclass(frozen=True, slots=True)
class ConsistencyProof:
    first: int
    second: int
    first_root: bytes
    second_root: bytes
    path: list[bytes]


def _require_covered(session: Session, size: int) -> None:
    covered = stored_size(session)
    if size > covered:
        raise ProofUnavailable(
            f"Ningún punto de control cubre aún {size:,} entradas (el último cubre {covered:,}); "
            "se firma uno periódicamente."
        )


def inclusion(session: Session, *, seq: int, tree_size: int | None = None) -> InclusionProof:
    """The proof that entry ``seq`` is leaf ``seq - 1`` of the tree of ``tree_size`` leaves
    (by default the latest checkpoint's)."""
    size = tree_size if tree_size is not None else stored_size(session)
    _require_covered(session, size)
    if not 1 <= seq <= size:
        raise ProofUnavailable(
            f"La entrada {seq} no está en un árbol de {size:,} entradas; pida un tamaño mayor "
            "o espere el siguiente punto de control."
        )
    entry_hash = session.execute(
        select(ledger.LedgerEntry.hash).where(ledger.LedgerEntry.seq == seq)
    ).scalar_one()
    reader = TreeReader(session.connection(), size)
    path = merkle.inclusion_path(seq - 1, size, reader.range_hash)
    return InclusionProof(
        seq,
        size,
        entry_hash,
        merkle.leaf_hash(bytes.fromhex(entry_hash)),
        path,
        reader.range_hash(0, size),
    )


def consistency(session: Session, *, first: int, second: int) -> ConsistencyProof:
    """The proof that the tree of ``second`` leaves extends the tree of ``first``."""
    if not 0 < first <= second:
        raise ProofUnavailable(
            f"No hay prueba de consistencia de {first} a {second}: se espera 0 < primero ≤ segundo."
        )
    _require_covered(session, second)
    reader = TreeReader(session.connection(), second)
    return ConsistencyProof(
        first,
        second,
        reader.range_hash(0, first),
        reader.range_hash(0, second),
        merkle.consistency_path(first, second, reader.range_hash) if first < second else [],
    )


# ----- verification ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Kept:
    """A checkpoint someone kept: its note and the key that must have signed it."""

    note: str
    verifier: Verifier

    def open(self) -> Checkpoint:
        return self.verifier.open(self.note)


def read_kept(text: str, *, verifier: str | None = None) -> Kept:
    """A kept checkpoint from what ``/api/v1/ledger/checkpoint`` serves (JSON with ``note`` and
    ``verifier``) or a bare note; ``verifier`` (a note verifier key) overrides the one in the
    document, for whoever got the key elsewhere."""
    stripped = text.lstrip()
    key = verifier
    if stripped.startswith("{"):
        try:
            document = json.loads(stripped)
            note = str(document["note"])
            key = key or document.get("verifier")
        except (ValueError, KeyError, TypeError):
            raise NoteError("El documento del punto de control no trae «note».") from None
    else:
        note = text
    if not key:
        raise NoteError(
            "Falta la llave de verificación del punto de control (--llave, o el documento JSON "
            "de /api/v1/ledger/checkpoint que la incluye)."
        )
    return Kept(note, Verifier.parse(key))


_verifying = threading.Lock()


def verify(connection: Connection, *, against: Kept | None = None) -> ledger.Verification:
    """``abasto audit verify``: recompute the chain, and hold the ledger to the latest stored
    checkpoint and to ``against`` (one kept outside, the check an insider cannot defeat).

    One verification at a time per process: the route is public, and each one reads the whole
    ledger, so concurrent requests wait their turn instead of taking every core."""
    roots: dict[int, bytes] = {}
    stored = connection.execute(
        select(LedgerCheckpoint.note, LedgerCheckpoint.verifier)
        .order_by(LedgerCheckpoint.tree_size.desc())
        .limit(1)
    ).one_or_none()
    try:
        mine = Kept(stored.note, Verifier.parse(stored.verifier)) if stored else None
        for kept in filter(None, (mine, against)):
            checkpoint = kept.open()
            if checkpoint.size in roots and roots[checkpoint.size] != checkpoint.root:
                return ledger.Verification(
                    0,
                    None,
                    f"dos puntos de control firmados de {checkpoint.size:,} entradas tienen raíces "
                    "distintas: la bitácora se bifurcó",
                )
            roots[checkpoint.size] = checkpoint.root
    except NoteError as error:
        return ledger.Verification(0, None, str(error))
    with _verifying:
        head_seq, head_hash = connection.execute(
            select(ledger.LedgerHead.seq, ledger.LedgerHead.hash)
        ).one()
        return ledger.verify_rows(
            ledger.stored_contents(connection), head_seq, head_hash, roots=roots
        )


def describe(note: str) -> Checkpoint:
    """What a stored note says, for pages and the API (it was checked when it was signed)."""
    return unverified(note)


def document(row: LedgerCheckpoint) -> dict[str, object]:
    """What ``/api/v1/ledger/checkpoint`` serves and ``audit verify --against`` reads back."""
    return {
        "origin": describe(row.note).origin,
        "tree_size": row.tree_size,
        "root_hash": row.root_hash,
        "at": row.at,
        "key_id": Verifier.parse(row.verifier).key_id.hex(),
        "verifier": row.verifier,
        "note": row.note,
    }
