"""RFC 6962 consistency proofs: published test vectors and properties that must hold for any tree."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from factory_assets.evidence.merkle import MerkleFrontier, leaf_hash
from factory_assets.evidence.proofs import EMPTY_ROOT, MerkleLevels, verify_consistency

# The 8-leaf reference tree used by Certificate Transparency and Trillian
# (github.com/google/trillian merkle/testonly: LeafInputs, RootHashes; log verifier
# consistency vectors). Facts about RFC 6962 hashing, written out here as data.
LEAF_INPUTS = ["", "00", "10", "2021", "3031", "40414243", "5051525354555657",
               "606162636465666768696a6b6c6d6e6f"]  # fmt: skip
ROOTS = {
    0: "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    1: "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    2: "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    3: "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    4: "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    5: "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    6: "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    7: "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    8: "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
}
CONSISTENCY = [
    (1, 1, []),
    (1, 8, ["96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"]),
    (6, 8, ["0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"]),
    (2, 5, ["5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"]),
]  # fmt: skip


def rfc_leaf(data: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + data).digest()


REFERENCE_LEAVES = [rfc_leaf(bytes.fromhex(x)) for x in LEAF_INPUTS]


def test_roots_match_the_reference_tree_at_every_size():
    tree = MerkleLevels(REFERENCE_LEAVES)
    for size, root in ROOTS.items():
        assert tree.root(size).hex() == root
        # The collector's appendable frontier hashes the same tree.
        frontier = MerkleFrontier()
        for leaf in REFERENCE_LEAVES[:size]:
            frontier.append_leaf(leaf)
        assert frontier.root().hex() == root
    assert EMPTY_ROOT.hex() == ROOTS[0]


def test_collector_leaves_are_rfc6962_leaves_of_the_digest_bytes():
    digest = "sha256:" + "ab" * 32
    assert leaf_hash(digest) == rfc_leaf(bytes.fromhex("ab" * 32))


@pytest.mark.parametrize(("old", "new", "proof"), CONSISTENCY)
def test_consistency_proofs_match_the_reference(old, new, proof):
    tree = MerkleLevels(REFERENCE_LEAVES)
    assert [node.hex() for node in tree.consistency_proof(old, new)] == proof
    nodes = [bytes.fromhex(x) for x in proof]
    old_root, new_root = bytes.fromhex(ROOTS[old]), bytes.fromhex(ROOTS[new])
    assert verify_consistency(old, new, old_root, new_root, nodes)


@pytest.mark.parametrize(("old", "new", "proof"), [c for c in CONSISTENCY if c[2]])
def test_reference_proofs_refuse_every_corruption(old, new, proof):
    """The corruptions the reference test data generates: all must fail."""
    nodes = [bytes.fromhex(x) for x in proof]
    r1, r2 = bytes.fromhex(ROOTS[old]), bytes.fromhex(ROOTS[new])
    bad = [
        (old - 1, new, r1, r2, nodes),
        (old + 1, new, r1, r2, nodes),
        (old ^ 2, new, r1, r2, nodes),
        (old, new * 2, r1, r2, nodes),
        (old, new // 2, r1, r2, nodes),
        (old, new, b"WrongRoot", r2, nodes),
        (old, new, r1, b"WrongRoot", nodes),
        (old, new, r2, r1, nodes),
        (old, new, r1, r2, []),
        (old, new, r1, r2, [*nodes, b""]),
        (old, new, r1, r2, [*nodes, r1]),
        (old, new, r1, r2, [*nodes, r2]),
        (old, new, r1, r2, [b"", *nodes]),
        (old, new, r1, r2, [r1, *nodes]),
        (old, new, r1, r2, [r2, *nodes]),
        (old, new, r1, r2, [nodes[0], *nodes]),
        (old, new, r1, r2, nodes[:-1]),
    ]
    for i in range(len(nodes)):
        flipped = list(nodes)
        flipped[i] = bytes([flipped[i][0] ^ 16]) + flipped[i][1:]
        bad.append((old, new, r1, r2, flipped))
    for args in bad:
        assert not verify_consistency(*args), args[:2]


def test_trivial_sizes():
    a, b = rfc_leaf(b"a"), rfc_leaf(b"b")
    assert verify_consistency(0, 0, EMPTY_ROOT, EMPTY_ROOT, [])
    assert verify_consistency(0, 5, EMPTY_ROOT, a, [])
    assert not verify_consistency(1, 1, a, b, [])
    assert not verify_consistency(1, 1, a, a, [a])
    assert not verify_consistency(2, 1, a, b, [])
    assert not verify_consistency(1, 2, a, b, [])


leaves_st = st.lists(st.binary(min_size=32, max_size=32), min_size=1, max_size=300)


@settings(max_examples=200, deadline=None)
@given(leaves=leaves_st, data=st.data())
def test_every_prefix_is_proven_consistent(leaves, data):
    tree = MerkleLevels(leaves)
    new = data.draw(st.integers(1, len(leaves)))
    old = data.draw(st.integers(0, new))
    proof = tree.consistency_proof(old, new)
    assert tree.root(new) == MerkleFrontier.from_leaves(leaves[:new]).root()
    assert verify_consistency(old, new, tree.root(old), tree.root(new), proof)
    # The proof is logarithmic, as the RFC promises.
    assert len(proof) <= 2 * max(1, new.bit_length())


@settings(max_examples=200, deadline=None)
@given(leaves=leaves_st, data=st.data())
def test_a_changed_prefix_is_never_consistent(leaves, data):
    """A rewrite of any record before the old size cannot be proven an extension."""
    new = data.draw(st.integers(2, max(2, len(leaves))))
    leaves = (leaves * 2)[:new] if len(leaves) < new else leaves[:new]
    old = data.draw(st.integers(1, new - 1))
    changed_at = data.draw(st.integers(0, old - 1))
    old_root = MerkleLevels(leaves).root(old)
    rewritten = list(leaves)
    rewritten[changed_at] = hashlib.sha256(b"rewritten" + leaves[changed_at]).digest()
    tree = MerkleLevels(rewritten)
    assert not verify_consistency(old, new, old_root, tree.root(new), tree.consistency_proof(old))


@settings(max_examples=200, deadline=None)
@given(leaves=leaves_st, data=st.data())
def test_a_tampered_proof_is_refused(leaves, data):
    tree = MerkleLevels(leaves)
    new = len(leaves)
    old = data.draw(st.integers(1, new))
    proof = tree.consistency_proof(old)
    r1, r2 = tree.root(old), tree.root(new)
    if proof:
        i = data.draw(st.integers(0, len(proof) - 1))
        bit = data.draw(st.integers(0, 255))
        flipped = list(proof)
        flipped[i] = (
            flipped[i][: bit // 8]
            + bytes([flipped[i][bit // 8] ^ (1 << bit % 8)])
            + flipped[i][bit // 8 + 1 :]
        )
        assert not verify_consistency(old, new, r1, r2, flipped)
        assert not verify_consistency(old, new, r1, r2, proof[:-1])
    assert not verify_consistency(old, new, r1, r2, [*proof, r1])
    if old < new:
        assert not verify_consistency(old, new, r2, r1, proof)
