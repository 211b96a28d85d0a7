"""The ledger's Merkle tree (RFC 9162, section 2.1): hashes, proofs and their verification.

Pure: values in, values out. A leaf is an entry's chain hash (32 bytes), which already covers
the entry's whole content and its place in the chain:

    leaf = SHA-256(0x00 ‖ entry hash)        node = SHA-256(0x01 ‖ left ‖ right)

Proofs are produced from a ``range_hash`` function that the caller backs with whatever it has
stored (``core.checkpoints`` reads interior nodes from the database), so a proof over a million
entries reads O(log n) stored hashes instead of rehashing every leaf.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence

HASH_SIZE = 32
EMPTY_ROOT = hashlib.sha256(b"").digest()
"""MTH of the empty list (RFC 9162: the hash of an empty string)."""

TILE_LEVEL = 8
TILE = 1 << TILE_LEVEL
"""Leaves per tile: interior nodes of complete tiles and above are stored, those below are
recomputed from at most 256 entry hashes when a proof needs them (as Go's tlog tiles)."""

RangeHash = Callable[[int, int], bytes]
"""MTH of the leaves ``[lo, hi)``."""


def leaf_hash(data: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def split_point(n: int) -> int:
    """The largest power of two smaller than n (n ≥ 2): where RFC 9162 splits a tree."""
    return 1 << ((n - 1).bit_length() - 1)


def reduce_perfect(hashes: list[bytes]) -> bytes:
    """The root of a perfect subtree (its length a power of two) given its leaf hashes:
    level by level in comprehensions, the fastest way Python hashes many pairs."""
    sha256 = hashlib.sha256
    level = hashes
    while len(level) > 1:
        level = [
            sha256(b"\x01" + left + right).digest()
            for left, right in zip(level[0::2], level[1::2], strict=True)
        ]
    return level[0]


def root_of_leaves(hashes: Sequence[bytes]) -> bytes:
    """MTH of a list of leaf hashes (any length)."""
    n = len(hashes)
    if n == 0:
        return EMPTY_ROOT
    if n & (n - 1) == 0:
        return reduce_perfect(list(hashes))
    k = split_point(n)
    return node_hash(reduce_perfect(list(hashes[:k])), root_of_leaves(hashes[k:]))


def fold_right(perfect: Sequence[bytes], last: bytes | None) -> bytes:
    """The root of a tree given its perfect subtrees from left to right, largest first (the
    compact range of its leaves): each one is the left child of everything after it."""
    root = last
    for subtree in reversed(perfect):
        root = subtree if root is None else node_hash(subtree, root)
    return EMPTY_ROOT if root is None else root


def inclusion_path(index: int, size: int, range_hash: RangeHash) -> list[bytes]:
    """PATH(index, D[0:size]) of RFC 9162 section 2.1.3.1, leaf to root."""
    if not 0 <= index < size:
        raise ValueError(f"leaf {index} is not in a tree of {size}")
    path: list[bytes] = []
    lo, hi = 0, size
    while hi - lo > 1:
        k = split_point(hi - lo)
        if index < lo + k:
            path.append(range_hash(lo + k, hi))
            hi = lo + k
        else:
            path.append(range_hash(lo, lo + k))
            lo += k
    path.reverse()
    return path


def consistency_path(old: int, new: int, range_hash: RangeHash) -> list[bytes]:
    """PROOF(old, D[0:new]) of RFC 9162 section 2.1.4.1 (SUBPROOF with b = true)."""
    if not 0 < old <= new:
        raise ValueError(f"no consistency proof from {old} to {new}")
    proof: list[bytes] = []
    lo, hi, m, whole = 0, new, old, True
    while m != hi - lo:
        k = split_point(hi - lo)
        if m <= k:
            proof.append(range_hash(lo + k, hi))
            hi = lo + k
        else:
            proof.append(range_hash(lo, lo + k))
            lo, m, whole = lo + k, m - k, False
    if not whole:
        proof.append(range_hash(lo, hi))
    proof.reverse()
    return proof


def root_from_inclusion(index: int, size: int, leaf: bytes, path: Sequence[bytes]) -> bytes:
    """The root that ``path`` proves ``leaf`` (a leaf hash) is under (RFC 9162 2.1.3.2)."""
    if not 0 <= index < size:
        raise ValueError(f"leaf {index} is not in a tree of {size}")
    fn, sn, r = index, size - 1, leaf
    for p in path:
        if sn == 0:
            raise ValueError("the inclusion proof is too long")
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while not fn & 1 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        else:
            r = node_hash(r, p)
        fn, sn = fn >> 1, sn >> 1
    if sn != 0:
        raise ValueError("the inclusion proof is too short")
    return r


def verify_inclusion(
    index: int, size: int, leaf: bytes, path: Sequence[bytes], root: bytes
) -> bool:
    try:
        return root_from_inclusion(index, size, leaf, path) == root
    except ValueError:
        return False


def verify_consistency(
    old: int, new: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]
) -> bool:
    """RFC 9162 section 2.1.4.2: is the tree of ``new`` leaves an extension of the old one?"""
    if old == new:
        return old_root == new_root and not proof
    if not 0 < old < new or not proof:
        return False
    path = list(proof)
    if old & (old - 1) == 0:
        # A power of two: the old root is itself the first node of the path.
        path.insert(0, old_root)
    fn, sn = old - 1, new - 1
    while fn & 1:
        fn, sn = fn >> 1, sn >> 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            while not fn & 1 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        else:
            sr = node_hash(sr, c)
        fn, sn = fn >> 1, sn >> 1
    return sn == 0 and fr == old_root and sr == new_root
