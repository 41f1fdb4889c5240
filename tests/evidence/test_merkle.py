"""The appendable frontier gives the RFC 6962 root for every tree size."""

from __future__ import annotations

import hashlib

from factory_assets.evidence.merkle import MerkleFrontier, leaf_hash, merkle_root, node_hash


def _digest(n: int) -> str:
    return "sha256:" + hashlib.sha256(str(n).encode()).hexdigest()


def test_frontier_matches_recursive_definition_for_sizes_0_to_70():
    digests = [_digest(n) for n in range(70)]
    frontier = MerkleFrontier()
    assert frontier.root() == hashlib.sha256(b"").digest()  # RFC 6962: MTH({}) = SHA-256()
    for size in range(1, 71):
        frontier.append(digests[size - 1])
        assert frontier.root() == merkle_root(digests[:size]), size


def test_hashing_uses_domain_separated_leaves_and_nodes():
    a, b = _digest(1), _digest(2)
    assert leaf_hash(a) == hashlib.sha256(b"\x00" + bytes.fromhex(a[7:])).digest()
    assert merkle_root([a, b]) == hashlib.sha256(b"\x01" + leaf_hash(a) + leaf_hash(b)).digest()
    assert node_hash(leaf_hash(a), leaf_hash(b)) == merkle_root([a, b])


def test_frontier_round_trips_through_hex_and_keeps_appending():
    digests = [_digest(n) for n in range(13)]
    frontier = MerkleFrontier()
    frontier.extend(digests[:9])
    restored = MerkleFrontier.from_hex(frontier.size, frontier.to_hex())
    restored.extend(digests[9:])
    assert restored.root() == merkle_root(digests)


def test_from_leaves_equals_appending_one_by_one():
    for size in (0, 1, 2, 3, 7, 8, 33, 64, 100):
        digests = [_digest(n) for n in range(size)]
        appended = MerkleFrontier()
        appended.extend(digests)
        whole = MerkleFrontier.from_leaves([leaf_hash(d) for d in digests])
        assert (whole.size, whole.to_hex(), whole.root()) == (
            appended.size,
            appended.to_hex(),
            appended.root(),
        )
