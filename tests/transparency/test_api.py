"""The public routes of the transparency log: checkpoint, proofs, and verification by anyone."""

from __future__ import annotations

import json

from fastapi.testclient import TestClient

from abasto.core import checkpoints, merkle
from abasto.core.context import Context
from abasto.core.ledger import Record
from abasto.core.signed_note import Signer
from tests.core.test_checkpoints import _cover_tracks, _rewrite


def _grow(ctx: Context, n: int) -> None:
    ctx.record_many([Record("test.write", f"x:{i}", {"n": i}) for i in range(n)])
    ctx.db.flush()


def test_anyone_verifies_the_ledger(client: TestClient, ctx: Context, signer: Signer) -> None:
    _grow(ctx, 5)
    checkpoints.publish(ctx.db, signer, now=ctx.now)
    answer = client.get("/api/v1/ledger/verify")
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"ok": True, "checked": 5, "first_bad_seq": None, "reason": None}


def test_the_latest_checkpoint_is_published_for_anyone_to_keep(
    client: TestClient, ctx: Context, signer: Signer
) -> None:
    assert client.get("/api/v1/ledger/checkpoint").status_code == 404
    _grow(ctx, 9)
    made = checkpoints.publish(ctx.db, signer, now=ctx.now)
    answer = client.get("/api/v1/ledger/checkpoint")
    assert answer.status_code == 200
    body = answer.json()
    assert body["tree_size"] == 9
    assert body["verifier"] == signer.verifier.encoded()
    assert body["key_id"] == signer.verifier.key_id.hex()
    opened = signer.verifier.open(body["note"])
    assert opened.root.hex() == body["root_hash"] == made.root_hash


def test_an_inclusion_proof_from_the_api_verifies(
    client: TestClient, ctx: Context, signer: Signer
) -> None:
    _grow(ctx, 300)
    made = checkpoints.publish(ctx.db, signer, now=ctx.now)
    proof = client.get("/api/v1/ledger/proof/123", params={"tree_size": made.tree_size}).json()
    root = bytes.fromhex(proof["checkpoint"]["root_hash"])
    leaf = merkle.leaf_hash(bytes.fromhex(proof["entry_hash"]))
    assert leaf.hex() == proof["leaf_hash"]
    path = [bytes.fromhex(h) for h in proof["path"]]
    assert merkle.verify_inclusion(proof["leaf_index"], proof["tree_size"], leaf, path, root)
    assert not merkle.verify_inclusion(
        proof["leaf_index"] + 1, proof["tree_size"], leaf, path, root
    )
    later = client.get("/api/v1/ledger/proof/301")
    assert later.status_code == 404
    assert "punto de control" in later.json()["detail"]


def test_a_consistency_proof_from_the_api_verifies(
    client: TestClient, ctx: Context, signer: Signer
) -> None:
    _grow(ctx, 17)
    checkpoints.publish(ctx.db, signer, now=ctx.now)
    _grow(ctx, 260)
    checkpoints.publish(ctx.db, signer, now=ctx.now)
    body = client.get("/api/v1/ledger/consistency", params={"first": 17, "second": 277}).json()
    roots = [bytes.fromhex(body["first_root"]), bytes.fromhex(body["second_root"])]
    path = [bytes.fromhex(h) for h in body["path"]]
    assert merkle.verify_consistency(17, 277, roots[0], roots[1], path)
    assert not merkle.verify_consistency(17, 277, roots[1], roots[0], path)


def test_anyone_verifies_against_a_checkpoint_they_kept(
    client: TestClient, ctx: Context, signer: Signer
) -> None:
    _grow(ctx, 20)
    checkpoints.publish(ctx.db, signer, now=ctx.now)
    kept = client.get("/api/v1/ledger/checkpoint").json()
    sent = {"note": kept["note"], "verifier": kept["verifier"]}
    assert client.post("/api/v1/ledger/verify", json=sent).json()["ok"] is True

    _rewrite(ctx, 4)
    _cover_tracks(ctx)
    assert client.get("/api/v1/ledger/verify").json()["ok"] is True
    caught = client.post("/api/v1/ledger/verify", json=sent).json()
    assert caught["ok"] is False
    assert "no extiende el punto de control" in caught["reason"]

    unreadable = client.post("/api/v1/ledger/verify", json={"note": json.dumps({"x": 1})})
    assert unreadable.status_code == 422
