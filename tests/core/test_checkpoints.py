"""The ledger as a transparency log: signed checkpoints, proofs from stored nodes, and the two
insider attacks a hash chain cannot see (issue 14, item 8), caught against a kept checkpoint."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import delete, select, update
from typer.testing import CliRunner, Result

from abasto.cli import app
from abasto.core import checkpoints, ledger, merkle
from abasto.core.checkpoints import LedgerCheckpoint, LedgerTree, LedgerTreeNode
from abasto.core.context import Context
from abasto.core.ledger import LedgerEntry, LedgerHead, Record
from abasto.core.signed_note import Signer
from tests.conftest import LOG_KEY, served
from tests.core.test_ledger import _fill, _tamper


def _append(ctx: Context, n: int, action: str = "test.write") -> None:
    ctx.record_many([Record(action, f"x:{i}", {"n": i}) for i in range(n)])
    ctx.db.flush()


def _entry_leaves(ctx: Context) -> list[bytes]:
    hashes = ctx.db.scalars(select(LedgerEntry.hash).order_by(LedgerEntry.seq))
    return [merkle.leaf_hash(bytes.fromhex(h)) for h in hashes]


def _kept(row: LedgerCheckpoint) -> checkpoints.Kept:
    return checkpoints.read_kept(json.dumps(checkpoints.document(row), default=str))


def _rewrite(ctx: Context, seq: int) -> None:
    """The insider's first attack: change an entry, recompute every later hash and the head."""
    entries = list(
        ctx.db.scalars(select(LedgerEntry).where(LedgerEntry.seq >= seq).order_by(LedgerEntry.seq))
    )
    prev = entries[0].prev_hash
    entries[0].payload = ledger.canonical_json({"n": "reescrito"})
    for entry in entries:
        content = ledger.entry_content(
            entry.seq,
            entry.at,
            entry.actor,
            entry.action,
            entry.entity,
            entry.public,
            entry.payload,
        )
        entry.prev_hash, entry.hash = prev, ledger.entry_hash(prev, content)
        prev = entry.hash
        ctx.db.flush()
    ctx.db.execute(update(LedgerHead).values(seq=entries[-1].seq, hash=prev))
    ctx.db.flush()


def _drop_last_seals(ctx: Context, count: int = 5) -> None:
    """The second attack: delete the last ``count`` bid.seal entries and move the head back."""
    last = ctx.db.scalars(
        select(LedgerEntry.seq)
        .where(LedgerEntry.action == "bid.seal")
        .order_by(LedgerEntry.seq.desc())
        .limit(count)
    ).all()
    assert len(last) == count
    ctx.db.execute(delete(LedgerEntry).where(LedgerEntry.seq >= min(last)))
    seq, digest = ctx.db.execute(
        select(LedgerEntry.seq, LedgerEntry.hash).order_by(LedgerEntry.seq.desc()).limit(1)
    ).one()
    ctx.db.execute(update(LedgerHead).values(seq=seq, hash=digest))
    ctx.db.flush()


def _cover_tracks(ctx: Context) -> None:
    """What an insider with the database also does: forget the checkpoints stored in it."""
    ctx.db.execute(delete(LedgerCheckpoint))
    ctx.db.execute(delete(LedgerTreeNode))
    ctx.db.execute(update(LedgerTree).values(size=0))
    ctx.db.flush()


def test_a_checkpoint_signs_the_rfc_root_of_every_entry(ctx: Context, signer: Signer) -> None:
    _append(ctx, 700)
    made = checkpoints.publish(ctx.db, signer, now=ctx.now)
    leaves = _entry_leaves(ctx)
    assert made.tree_size == len(leaves) == ledger.head(ctx.db)[0]
    assert bytes.fromhex(made.root_hash) == merkle.root_of_leaves(leaves)
    opened = signer.verifier.open(made.note)
    assert (opened.size, opened.root.hex(), opened.origin) == (
        made.tree_size,
        made.root_hash,
        signer.name,
    )
    # Nothing appended since: the same checkpoint, not a new one.
    assert checkpoints.publish(ctx.db, signer, now=ctx.now + timedelta(minutes=1)) is made
    # Nodes of complete 256-leaf tiles are stored (2 tiles and their parent), none below.
    levels = ctx.db.execute(select(LedgerTreeNode.level, LedgerTreeNode.index)).all()
    assert sorted(levels) == [(8, 0), (8, 1), (9, 0)]


def test_without_a_key_no_checkpoint_is_signed(ctx: Context) -> None:
    _append(ctx, 3)
    with pytest.raises(checkpoints.LogKeyMissing, match="ABASTO_LOG_KEY"):
        checkpoints.publish(ctx.db, None, now=ctx.now)
    assert checkpoints.latest(ctx.db) is None


def test_inclusion_proofs_of_every_entry_verify_against_the_signed_root(
    ctx: Context, signer: Signer
) -> None:
    _append(ctx, 300)
    first = checkpoints.publish(ctx.db, signer, now=ctx.now)
    _append(ctx, 250)
    second = checkpoints.publish(ctx.db, signer, now=ctx.now + timedelta(minutes=1))
    for made in (first, second):
        root = signer.verifier.open(made.note).root
        edges = {1, 2, 255, 256, 257, 512, made.tree_size - 1, made.tree_size}
        sampled = {seq for seq in edges if seq <= made.tree_size} | set(range(3, 550, 23))
        for seq in sorted(seq for seq in sampled if seq <= made.tree_size):
            proof = checkpoints.inclusion(ctx.db, seq=seq, tree_size=made.tree_size)
            assert proof.root == root
            assert merkle.verify_inclusion(
                seq - 1, made.tree_size, proof.leaf_hash, proof.path, root
            )
    proof = checkpoints.inclusion(ctx.db, seq=17, tree_size=second.tree_size)
    tampered = [*proof.path[:-1], bytes(32)]
    assert not merkle.verify_inclusion(16, second.tree_size, proof.leaf_hash, tampered, proof.root)
    other = merkle.leaf_hash(bytes(32))
    assert not merkle.verify_inclusion(16, second.tree_size, other, proof.path, proof.root)


def test_a_proof_waits_for_a_checkpoint_that_covers_the_entry(ctx: Context, signer: Signer) -> None:
    _append(ctx, 10)
    made = checkpoints.publish(ctx.db, signer, now=ctx.now)
    _append(ctx, 5)
    with pytest.raises(checkpoints.ProofUnavailable):
        checkpoints.inclusion(ctx.db, seq=made.tree_size + 2)
    with pytest.raises(checkpoints.ProofUnavailable):
        checkpoints.inclusion(ctx.db, seq=3, tree_size=made.tree_size + 5)


def test_consistency_proofs_between_checkpoints(ctx: Context, signer: Signer) -> None:
    sizes = []
    for i, n in enumerate((5, 251, 300, 1)):
        _append(ctx, n)
        sizes.append(
            checkpoints.publish(ctx.db, signer, now=ctx.now + timedelta(minutes=i)).tree_size
        )
    roots = {size: bytes.fromhex(checkpoints.at_size(ctx.db, size).root_hash) for size in sizes}  # type: ignore[union-attr]
    for old in sizes:
        for new in sizes:
            if old > new:
                continue
            proof = checkpoints.consistency(ctx.db, first=old, second=new)
            assert (proof.first_root, proof.second_root) == (roots[old], roots[new])
            assert merkle.verify_consistency(old, new, roots[old], roots[new], proof.path)
            if old < new:
                bad = [bytes(32), *proof.path[1:]]
                assert not merkle.verify_consistency(old, new, roots[old], roots[new], bad)


@pytest.mark.parametrize("attack", ["rewrite", "truncate"])
def test_both_insider_attacks_pass_the_chain_but_not_a_kept_checkpoint(
    ctx: Context, signer: Signer, attack: str
) -> None:
    _append(ctx, 40)
    _append(ctx, 8, action="bid.seal")
    kept = _kept(checkpoints.publish(ctx.db, signer, now=ctx.now))
    connection = ctx.db.connection()
    assert checkpoints.verify(connection, against=kept).ok

    if attack == "rewrite":
        _rewrite(ctx, 12)
    else:
        _drop_last_seals(ctx)
    _cover_tracks(ctx)

    # The chain agrees with itself: what `audit verify` checked before this item.
    assert ledger.verify(connection).ok
    assert checkpoints.verify(connection).ok
    caught = checkpoints.verify(connection, against=kept)
    assert not caught.ok
    expected = "no extiende el punto de control" if attack == "rewrite" else "se eliminaron"
    assert expected in (caught.reason or "")


def test_the_stored_checkpoint_catches_an_attack_that_leaves_it(
    ctx: Context, signer: Signer
) -> None:
    _append(ctx, 30)
    checkpoints.publish(ctx.db, signer, now=ctx.now)
    _rewrite(ctx, 3)
    result = checkpoints.verify(ctx.db.connection())
    assert not result.ok
    assert "no extiende" in (result.reason or "")


def test_a_forged_checkpoint_is_refused(ctx: Context, signer: Signer) -> None:
    _append(ctx, 20)
    made = checkpoints.publish(ctx.db, signer, now=ctx.now)
    forged = made.note.replace(f"\n{made.tree_size}\n", f"\n{made.tree_size - 1}\n")
    kept = checkpoints.read_kept(forged, verifier=made.verifier)
    result = checkpoints.verify(ctx.db.connection(), against=kept)
    assert not result.ok
    assert "firma" in (result.reason or "")


def _abasto(url: str, tmp_path: Path, *args: str) -> Result:
    """The `abasto` command in-process against the database at ``url``."""
    env = {
        "ABASTO_DATABASE_URL": url,
        "ABASTO_DATA_DIR": str(tmp_path / "data"),
        "ABASTO_SECRET_KEY": "test-secret",
        "ABASTO_LOG_KEY": LOG_KEY,
        "COLUMNS": "200",
    }
    return CliRunner().invoke(app, list(args), env=env)


def test_cli_verify_against_a_kept_file(fresh_database_url: str, tmp_path: Path) -> None:
    _fill(fresh_database_url, 30)
    kept = tmp_path / "punto.json"
    made = _abasto(fresh_database_url, tmp_path, "audit", "checkpoint", "--out", str(kept))
    assert made.exit_code == 0, made.output
    assert json.loads(kept.read_text())["tree_size"] == 30
    done = _abasto(fresh_database_url, tmp_path, "audit", "verify", "--against", str(kept))
    assert done.exit_code == 0, done.output

    # Rewrite entry 7 and recompute every hash after it and the head; forget the checkpoints.
    engine_rows = _recomputed_from(fresh_database_url, 7)
    _tamper(
        fresh_database_url,
        *engine_rows,
        "DELETE FROM ledger_checkpoints",
        "DELETE FROM ledger_tree_nodes",
    )

    plain = _abasto(fresh_database_url, tmp_path, "audit", "verify")
    assert plain.exit_code == 0, plain.output
    against = _abasto(fresh_database_url, tmp_path, "audit", "verify", "--against", str(kept))
    assert against.exit_code == 1
    assert "no extiende el punto de control" in against.output


def test_cli_verify_against_a_published_url(fresh_database_url: str, tmp_path: Path) -> None:
    _fill(fresh_database_url, 12)
    with served(fresh_database_url, tmp_path / "srv") as base:
        url = f"{base}/api/v1/ledger/checkpoint"
        _publish(fresh_database_url)
        done = _abasto(fresh_database_url, tmp_path, "audit", "verify", "--against", url)
        assert done.exit_code == 0, done.output
        # The last five entries go and the head moves back: the published checkpoint stays.
        _tamper(
            fresh_database_url,
            "DELETE FROM ledger_entries WHERE seq > 7",
            "UPDATE ledger_head SET seq = 7, "
            "hash = (SELECT hash FROM ledger_entries WHERE seq = 7)",
        )
        against = _abasto(fresh_database_url, tmp_path, "audit", "verify", "--against", url)
    assert against.exit_code == 1
    assert "se eliminaron entradas ya publicadas" in against.output


def _publish(url: str) -> None:
    from abasto.core.db import make_engine, session_factory, transaction
    from tests.core.test_ledger import AT

    engine = make_engine(url)
    signer = Signer.from_seed("abasto.local/bitacora", bytes(range(32)))
    with transaction(session_factory(engine)) as db:
        checkpoints.publish(db, signer, now=AT)
    engine.dispose()


def _recomputed_from(url: str, seq: int) -> list[str]:
    """SQL that rewrites entry ``seq`` and recomputes the chain after it and the head."""
    from abasto.core.db import make_engine

    engine = make_engine(url)
    with engine.connect() as conn:
        rows = conn.execute(
            select(LedgerEntry).where(LedgerEntry.seq >= seq).order_by(LedgerEntry.seq)
        ).all()
    engine.dispose()
    statements, prev = [], rows[0].prev_hash
    for i, row in enumerate(rows):
        payload = '{"n":999}' if i == 0 else row.payload
        content = ledger.entry_content(
            row.seq, row.at, row.actor, row.action, row.entity, row.public, payload
        )
        digest = ledger.entry_hash(prev, content)
        statements.append(
            f"UPDATE ledger_entries SET payload = '{payload}', prev_hash = '{prev}', "
            f"hash = '{digest}' WHERE seq = {row.seq}"
        )
        prev = digest
    statements.append(f"UPDATE ledger_head SET seq = {rows[-1].seq}, hash = '{prev}'")
    return statements
