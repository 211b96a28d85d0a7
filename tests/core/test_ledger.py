"""The hash-chained ledger: appends, the pure verifier, and `abasto audit verify` on tampering."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

from sqlalchemy import Connection, select

from abasto.core import ledger, merkle
from abasto.core.context import Context, operator
from abasto.core.db import make_engine, session_factory, transaction
from abasto.core.ledger import GENESIS_HASH, LedgerEntry, Record, canonical_json, verify_rows
from tests.conftest import run_abasto

AT = datetime(2026, 11, 2, 16, 0, tzinfo=UTC)


def _rows(n: int) -> list[tuple[int, str, str, str]]:
    rows, prev = [], GENESIS_HASH
    for seq in range(1, n + 1):
        content = ledger.entry_content(
            seq, AT + timedelta(seconds=seq), "cli:a", "test.write", f"x:{seq}", True, '{"n":1}'
        )
        digest = ledger.entry_hash(prev, content)
        rows.append((seq, content, prev, digest))
        prev = digest
    return rows


def test_canonical_json_is_one_text_per_value() -> None:
    assert canonical_json({"b": Decimal("1.50"), "a": [AT]}) == (
        '{"a":["2026-11-02T16:00:00.000000+00:00"],"b":"1.50"}'
    )
    assert canonical_json({"x": "ñ"}) == '{"x":"ñ"}'


def test_an_object_of_encoded_members_is_its_canonical_json() -> None:
    value = {
        "zeta": [1, {"b": None, "a": "x"}],
        "Árbol": "ñandú",
        "a b": Decimal("2.50"),
        "": True,
        "lines": [{"partida": 2, "unit_price": "8.00"}, {"partida": 10, "unit_price": "9.10"}],
    }
    encoded = {name: canonical_json(member) for name, member in value.items()}
    assert ledger.canonical_object(encoded) == canonical_json(value)
    assert ledger.canonical_object({}) == "{}"


def test_intact_chain_verifies() -> None:
    rows = _rows(5)
    result = verify_rows(rows, 5, rows[-1][3])
    assert result.ok
    assert result.checked == 5


def test_altered_content_is_caught() -> None:
    rows = _rows(5)
    seq, content, prev, digest = rows[2]
    rows[2] = (seq, content.replace("cli:a", "cli:b"), prev, digest)
    result = verify_rows(rows, 5, rows[-1][3])
    assert result.first_bad_seq == 3
    assert result.checked == 2


def test_relinked_entry_is_caught() -> None:
    rows = _rows(5)
    seq, content, _prev, digest = rows[3]
    rows[3] = (seq, content, GENESIS_HASH, digest)
    assert verify_rows(rows, 5, rows[-1][3]).first_bad_seq == 4


def test_removed_entry_is_caught() -> None:
    rows = _rows(5)
    del rows[1]
    assert verify_rows(rows, 5, rows[-1][3]).first_bad_seq == 2


def test_removed_tail_is_caught_against_the_head() -> None:
    rows = _rows(5)
    head_hash = rows[-1][3]
    result = verify_rows(rows[:4], 5, head_hash)
    assert result.first_bad_seq == 5
    assert "cabeza" in (result.reason or "")


def test_appends_chain_from_the_head(ctx: Context, connection: Connection) -> None:
    first = ctx.record("test.write", "x:1", {"n": 1})
    last = ctx.record_many(
        [Record("test.write", "x:2", {"n": 2}), Record("test.write", "x:3", {"n": 3}, public=False)]
    )
    assert last == first + 2
    ctx.db.flush()
    entries = ctx.db.scalars(
        select(LedgerEntry).where(LedgerEntry.seq >= first).order_by(LedgerEntry.seq)
    ).all()
    assert [e.prev_hash for e in entries[1:]] == [e.hash for e in entries[:-1]]
    assert ledger.head(ctx.db) == (last, entries[-1].hash)
    assert ledger.verify(ctx.db.connection()).ok


def test_one_entry_hashes_as_python_does(ctx: Context) -> None:
    """One record at a time takes PostgreSQL's one-statement append; its hashes are the ones
    Python computes for the same content (non-ASCII text, both visibilities)."""
    seqs = [
        ctx.record("test.write", "x:ñandú", {"texto": "Año 2027 — «São Paulo» 💊"}, public=False),
        ctx.record("test.write", "x:2", {"n": Decimal("1.50")}, actor="licitante"),
    ]
    entries = ctx.db.scalars(
        select(LedgerEntry).where(LedgerEntry.seq.in_(seqs)).order_by(LedgerEntry.seq)
    ).all()
    assert [e.seq for e in entries] == seqs == [seqs[0], seqs[0] + 1]
    for entry in entries:
        assert entry.hash == ledger.entry_hash(entry.prev_hash, _content(entry))
    assert (entries[1].actor, entries[1].prev_hash) == ("licitante", entries[0].hash)
    assert ledger.head(ctx.db) == (seqs[1], entries[1].hash)


def test_database_concatenates_the_content_exactly_as_python_does(ctx: Context) -> None:
    ctx.record("test.write", "x:ñ", {"texto": 'línea\ncon \\ y "comillas"', "n": 1}, public=False)
    ctx.db.flush()
    stored = {seq: content for seq, content, _, _ in ledger.stored_contents(ctx.db.connection())}
    for entry in ctx.db.scalars(select(LedgerEntry)):
        assert stored[entry.seq] == _content(entry)


def _content(entry: LedgerEntry) -> str:
    """What the entry's hash covers, computed in Python from its stored columns."""
    return ledger.entry_content(
        entry.seq, entry.at, entry.actor, entry.action, entry.entity, entry.public, entry.payload
    )


def _fill(url: str, n: int) -> None:
    engine = make_engine(url)
    with transaction(session_factory(engine)) as db:
        ctx = Context(db=db, actor=operator("pruebas"), now=AT)
        ctx.record_many([Record("test.write", f"x:{i}", {"n": i}) for i in range(1, n + 1)])
    engine.dispose()


def _tamper(url: str, *statements: str) -> None:
    engine = make_engine(url)
    with engine.begin() as conn:
        for statement in statements:
            conn.exec_driver_sql(statement)
    engine.dispose()


def test_cli_verify_passes_on_an_untouched_ledger(fresh_database_url: str, tmp_path: Path) -> None:
    _fill(fresh_database_url, 6)
    done = run_abasto(fresh_database_url, tmp_path, "audit", "verify")
    assert done.returncode == 0, done.stderr
    assert "6 entradas verificadas" in done.stdout


def test_cli_verify_names_an_altered_entry(fresh_database_url: str, tmp_path: Path) -> None:
    _fill(fresh_database_url, 6)
    _tamper(fresh_database_url, "UPDATE ledger_entries SET payload = '{\"n\":999}' WHERE seq = 4")
    done = run_abasto(fresh_database_url, tmp_path, "audit", "verify")
    assert done.returncode == 1
    assert "entrada 4" in done.stderr
    assert "alterada" in done.stderr


def test_cli_verify_names_a_removed_entry(fresh_database_url: str, tmp_path: Path) -> None:
    _fill(fresh_database_url, 6)
    _tamper(fresh_database_url, "DELETE FROM ledger_entries WHERE seq = 3")
    done = run_abasto(fresh_database_url, tmp_path, "audit", "verify")
    assert done.returncode == 1
    assert "entrada 3" in done.stderr


def test_cli_verify_catches_a_changed_actor(fresh_database_url: str, tmp_path: Path) -> None:
    _fill(fresh_database_url, 6)
    _tamper(fresh_database_url, "UPDATE ledger_entries SET actor = 'cli:otro' WHERE seq = 6")
    done = run_abasto(fresh_database_url, tmp_path, "audit", "verify")
    assert done.returncode == 1
    assert "entrada 6" in done.stderr


def test_cli_verify_names_swapped_entries(fresh_database_url: str, tmp_path: Path) -> None:
    _fill(fresh_database_url, 6)
    _tamper(
        fresh_database_url,
        "UPDATE ledger_entries SET seq = -1 WHERE seq = 2",
        "UPDATE ledger_entries SET seq = 2 WHERE seq = 5",
        "UPDATE ledger_entries SET seq = 5 WHERE seq = -1",
    )
    done = run_abasto(fresh_database_url, tmp_path, "audit", "verify")
    assert done.returncode == 1
    assert "entrada 2" in done.stderr


def test_the_tree_over_the_chain_has_each_signed_root() -> None:
    rows = _rows(4200)
    leaves = [merkle.leaf_hash(bytes.fromhex(digest)) for _, _, _, digest in rows]
    roots = {n: merkle.root_of_leaves(leaves[:n]) for n in (1, 3, 4096, 4097, 4200)}
    assert verify_rows(rows, 4200, rows[-1][3], roots=roots).ok
    # A chain recomputed after a rewrite of entry 10 is valid, but not under those roots.
    rewritten, prev = [], GENESIS_HASH
    for seq, content, _, _ in rows:
        content = content.replace('{"n":1}', '{"n":2}') if seq == 10 else content
        digest = ledger.entry_hash(prev, content)
        rewritten.append((seq, content, prev, digest))
        prev = digest
    assert verify_rows(rewritten, 4200, prev).ok
    caught = verify_rows(rewritten, 4200, prev, roots={4097: roots[4097]})
    assert not caught.ok
    assert "no extiende el punto de control firmado de 4,097 entradas" in (caught.reason or "")
    assert verify_rows(rewritten, 4200, prev, roots={3: roots[3]}).ok
    cut = verify_rows(rows[:4150], 4150, rows[4149][3], roots={4200: roots[4200]})
    assert not cut.ok
    assert "se eliminaron entradas ya publicadas" in (cut.reason or "")
