"""RFC 6962 consistency proofs over the evidence Merkle tree: generate and verify.

`MerkleLevels` keeps every level of the tree (about 2n hashes), so the root of
any prefix and every proof node is a lookup plus O(log n) hashes: checking a
tree against a hundred published checkpoints costs one pass over the leaves.
Proof generation follows RFC 6962 section 2.1.2 (PROOF/SUBPROOF); verification
follows RFC 9162 section 2.1.4.2, which checks the proof against both roots.
"""

from __future__ import annotations

import hashlib

from factory_assets.evidence.merkle import node_hash

EMPTY_ROOT = hashlib.sha256(b"").digest()


def _largest_power_of_two_below(n: int) -> int:
    """k with k < n <= 2k (the RFC's split point); n must be at least 2."""
    return 1 << ((n - 1).bit_length() - 1)


class MerkleLevels:
    """All levels of an RFC 6962 tree over `leaves` (leaf hashes, 32 bytes each)."""

    def __init__(self, leaves: list[bytes]) -> None:
        self.size = len(leaves)
        levels = [list(leaves)]
        while len(levels[-1]) > 1:
            below = levels[-1]
            sha = hashlib.sha256
            # Only complete pairs: a lone right-edge node is combined on demand.
            levels.append(
                [
                    sha(b"\x01" + below[i] + below[i + 1]).digest()
                    for i in range(0, len(below) - 1, 2)
                ]
            )
        self.levels = levels

    def subtree(self, start: int, end: int) -> bytes:
        """MTH(D[start:end]) for a node of the RFC tree (start is aligned to its left part)."""
        width = end - start
        if width <= 0:
            return EMPTY_ROOT
        if width & (width - 1) == 0 and start % width == 0:
            return self.levels[width.bit_length() - 1][start // width]
        k = _largest_power_of_two_below(width)
        return node_hash(self.subtree(start, start + k), self.subtree(start + k, end))

    def root(self, size: int | None = None) -> bytes:
        """The root of the first `size` leaves (default: all)."""
        size = self.size if size is None else size
        if not 0 <= size <= self.size:
            raise ValueError(f"tree has {self.size} leaves, not {size}")
        return self.subtree(0, size)

    def consistency_proof(self, old_size: int, new_size: int | None = None) -> list[bytes]:
        """PROOF(old_size, D[new_size]) of RFC 6962 section 2.1.2; empty for 0 or equal sizes."""
        new_size = self.size if new_size is None else new_size
        if not 0 <= old_size <= new_size <= self.size:
            raise ValueError(
                f"no proof from size {old_size} to {new_size} in a tree of {self.size}"
            )
        if old_size in (0, new_size):
            return []
        return self._subproof(old_size, 0, new_size, True)

    def _subproof(self, m: int, start: int, end: int, complete: bool) -> list[bytes]:
        n = end - start
        if m == n:
            return [] if complete else [self.subtree(start, end)]
        k = _largest_power_of_two_below(n)
        if m <= k:
            return self._subproof(m, start, start + k, complete) + [self.subtree(start + k, end)]
        return self._subproof(m - k, start + k, end, False) + [self.subtree(start, start + k)]


def verify_consistency(
    old_size: int, new_size: int, old_root: bytes, new_root: bytes, proof: list[bytes]
) -> bool:
    """Whether `proof` shows the tree (new_size, new_root) extends (old_size, old_root)."""
    if not 0 <= old_size <= new_size:
        return False
    if old_size == new_size:
        return not proof and old_root == new_root
    if old_size == 0:
        return not proof  # every tree extends the empty one; there is nothing to prove
    if not proof or any(len(node) != 32 for node in proof):
        return False
    path = list(proof)
    if (
        old_size & (old_size - 1) == 0
    ):  # the old tree is a complete subtree: its root starts the path
        path.insert(0, old_root)
    fn, sn = old_size - 1, new_size - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for node in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr = node_hash(node, fr)
            sr = node_hash(node, sr)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = node_hash(sr, node)
        fn >>= 1
        sn >>= 1
    return fr == old_root and sr == new_root and sn == 0
