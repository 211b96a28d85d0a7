"""The Merkle tree of RFC 9162: roots, inclusion and consistency proofs, checked against a
reference written straight from the RFC's recursive definitions."""

from __future__ import annotations

import hashlib

import pytest

from abasto.core import merkle


def _leaves(n: int) -> list[bytes]:
    return [merkle.leaf_hash(hashlib.sha256(str(i).encode()).digest()) for i in range(n)]


def _mth(leaves: list[bytes]) -> bytes:
    """MTH(D[n]) of RFC 9162 section 2.1.1, literally."""
    if not leaves:
        return hashlib.sha256(b"").digest()
    if len(leaves) == 1:
        return leaves[0]
    k = 1
    while k * 2 < len(leaves):
        k *= 2
    return hashlib.sha256(b"\x01" + _mth(leaves[:k]) + _mth(leaves[k:])).digest()


def _range(leaves: list[bytes]) -> merkle.RangeHash:
    return lambda lo, hi: _mth(leaves[lo:hi])


def test_hashes_follow_rfc_9162_domain_separation() -> None:
    data = bytes(32)
    assert merkle.leaf_hash(data) == hashlib.sha256(b"\x00" + data).digest()
    assert merkle.node_hash(data, data) == hashlib.sha256(b"\x01" + data + data).digest()
    assert merkle.root_of_leaves([]) == hashlib.sha256(b"").digest()


@pytest.mark.parametrize("n", [1, 2, 3, 5, 7, 8, 9, 255, 256, 257, 300, 1000])
def test_root_of_leaves_is_the_rfc_tree_hash(n: int) -> None:
    leaves = _leaves(n)
    assert merkle.root_of_leaves(leaves) == _mth(leaves)


def test_every_inclusion_proof_verifies_and_tampering_fails() -> None:
    leaves = _leaves(40)
    for size in range(1, 41):
        root = _mth(leaves[:size])
        for index in range(size):
            path = merkle.inclusion_path(index, size, _range(leaves))
            assert merkle.verify_inclusion(index, size, leaves[index], path, root)
            other = leaves[(index + 1) % 40]
            assert not merkle.verify_inclusion(index, size, other, path, root)
            if path:
                bad = [*path[:-1], bytes(32)]
                assert not merkle.verify_inclusion(index, size, leaves[index], bad, root)
                assert not merkle.verify_inclusion(index, size, leaves[index], path[:-1], root)
            assert not merkle.verify_inclusion(index, size, leaves[index], [*path, root], root)


def test_every_consistency_proof_verifies_and_tampering_fails() -> None:
    leaves = _leaves(34)
    for new in range(1, 35):
        new_root = _mth(leaves[:new])
        for old in range(1, new + 1):
            old_root = _mth(leaves[:old])
            proof = merkle.consistency_path(old, new, _range(leaves))
            assert merkle.verify_consistency(old, new, old_root, new_root, proof), (old, new)
            if old == new:
                continue
            assert not merkle.verify_consistency(old, new, bytes(32), new_root, proof)
            assert not merkle.verify_consistency(old, new, old_root, bytes(32), proof)
            bad = [bytes(32), *proof[1:]]
            assert not merkle.verify_consistency(old, new, old_root, new_root, bad)


def test_a_rewritten_leaf_is_not_consistent_with_the_old_root() -> None:
    leaves = _leaves(20)
    old_root = _mth(leaves[:12])
    rewritten = [*leaves[:5], merkle.leaf_hash(b"otra"), *leaves[6:]]
    proof = merkle.consistency_path(12, 20, _range(rewritten))
    assert not merkle.verify_consistency(12, 20, old_root, _mth(rewritten), proof)


def test_the_compact_range_folds_to_the_root() -> None:
    leaves = _leaves(300)
    perfect = [_mth(leaves[:256]), _mth(leaves[256:288]), _mth(leaves[288:296])]
    assert merkle.fold_right(perfect, _mth(leaves[296:300])) == _mth(leaves)
