"""RFC 6962 Merkle tree hashing over content digests, with an appendable frontier.

Leaves are the content digests in sequence order:
leaf = SHA-256(0x00 || digest-bytes), node = SHA-256(0x01 || left || right),
where digest-bytes are the 32 raw bytes behind `sha256:<hex>`.
The frontier holds the roots of the perfect subtrees that make up the tree
(largest first), so appending k leaves costs O(k log n) and the root is
recomputed from log n hashes: that is what keeps incremental collect cheap.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

_sha256 = hashlib.sha256


def leaf_hash(content_digest: str) -> bytes:
    return _sha256(b"\x00" + bytes.fromhex(content_digest.removeprefix("sha256:"))).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return _sha256(b"\x01" + left + right).digest()


class MerkleFrontier:
    """The right edge of an RFC 6962 tree: one perfect-subtree root per set bit of size."""

    def __init__(self, size: int = 0, nodes: list[bytes] | None = None) -> None:
        self.size = size
        self.nodes: list[bytes] = list(nodes or [])
        if len(self.nodes) != bin(size).count("1"):
            raise ValueError("frontier does not match tree size")

    def append(self, content_digest: str) -> None:
        self.append_leaf(leaf_hash(content_digest))

    def append_leaf(self, node: bytes) -> None:
        """Append an already hashed leaf (collect's workers hash leaves in parallel)."""
        size = self.size
        # Merge equal-height subtrees, as binary addition carries.
        while size & 1:
            node = node_hash(self.nodes.pop(), node)
            size >>= 1
        self.nodes.append(node)
        self.size += 1

    @classmethod
    def from_leaves(cls, leaves: list[bytes]) -> MerkleFrontier:
        """The frontier of a whole tree at once, hashing level by level (no per-leaf carries)."""
        nodes, offset = [], 0
        for bit in reversed(range(len(leaves).bit_length())):
            width = 1 << bit
            if not len(leaves) & width:
                continue
            level = leaves[offset : offset + width]
            while len(level) > 1:
                level = [
                    _sha256(b"\x01" + a + b).digest()
                    for a, b in zip(level[0::2], level[1::2], strict=True)
                ]
            nodes.append(level[0])
            offset += width
        return cls(len(leaves), nodes)

    def extend(self, digests: Iterable[str]) -> None:
        for digest in digests:
            self.append(digest)

    def root(self) -> bytes:
        if not self.nodes:
            return _sha256(b"").digest()
        root = self.nodes[-1]
        for node in reversed(self.nodes[:-1]):
            root = node_hash(node, root)
        return root

    def to_hex(self) -> list[str]:
        return [n.hex() for n in self.nodes]

    @classmethod
    def from_hex(cls, size: int, nodes: list[str]) -> MerkleFrontier:
        return cls(size, [bytes.fromhex(n) for n in nodes])


def merkle_root(digests: list[str]) -> bytes:
    """Root by the RFC 6962 recursive definition (reference for tests)."""
    if not digests:
        return _sha256(b"").digest()
    if len(digests) == 1:
        return leaf_hash(digests[0])
    k = 1
    while k * 2 < len(digests):
        k *= 2
    return node_hash(merkle_root(digests[:k]), merkle_root(digests[k:]))
