"""The history of published checkpoints, and whether the current tree still extends each one.

Every publication appends its checkpoint (tree size, root, head record, time) to
`data/checkpoints.json` on the pages branch and never rewrites an entry. A tree
holds to its past when, for every entry, an RFC 6962 consistency proof from the
entry's size to the current size verifies against both roots: a tail rewritten
consistently (digests, links and chain head recomputed) fails exactly there.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from factory_assets.common.errors import InputError
from factory_assets.evidence.merkle import leaf_hash
from factory_assets.evidence.proofs import MerkleLevels, verify_consistency

HISTORY_FORMAT = "factory-checkpoints/1"
HISTORY_FILE = "data/checkpoints.json"
_HEX64 = re.compile(r"^[0-9a-f]{64}$")


@dataclass(frozen=True)
class Checkpoint:
    """One published checkpoint: what a reader of the pages saw at `published_at`."""

    tree_size: int
    root: str
    head_id: str | None
    published_at: str | None

    def as_dict(self) -> dict:
        return {
            "tree_size": self.tree_size,
            "root": self.root,
            "head_id": self.head_id,
            "published_at": self.published_at,
        }

    def describe(self) -> str:
        return f"size {self.tree_size}, root {self.root}"

    @classmethod
    def from_summary(cls, checkpoint: dict, published_at: str | None) -> Checkpoint:
        """The entry for a site build's `summary.json` checkpoint."""
        head = checkpoint.get("head") or {}
        return cls(
            int(checkpoint["tree_size"]), str(checkpoint["root"]), head.get("id"), published_at
        )


def parse_history(data: bytes, where: str) -> list[Checkpoint]:
    """The entries of a history file; raises InputError naming the field that is wrong."""
    try:
        parsed = json.loads(data)
    except ValueError as exc:
        raise InputError(where, "-", f"not JSON ({exc})") from None
    if not isinstance(parsed, dict) or parsed.get("format") != HISTORY_FORMAT:
        raise InputError(where, "format", f"expected {HISTORY_FORMAT!r}")
    entries = parsed.get("checkpoints")
    if not isinstance(entries, list):
        raise InputError(where, "checkpoints", "expected a list of checkpoints")
    history: list[Checkpoint] = []
    for number, entry in enumerate(entries):
        field = f"checkpoints[{number}]"
        if not isinstance(entry, dict):
            raise InputError(where, field, "expected an object")
        size, root = entry.get("tree_size"), entry.get("root")
        if not isinstance(size, int) or isinstance(size, bool) or size < 0:
            raise InputError(where, f"{field}.tree_size", "expected a non-negative integer")
        if not isinstance(root, str) or not _HEX64.match(root):
            raise InputError(where, f"{field}.root", "expected 64 lowercase hex digits")
        if history and size < history[-1].tree_size:
            raise InputError(
                where,
                f"{field}.tree_size",
                f"expected at least {history[-1].tree_size} (entries are only ever appended)",
            )
        head_id, published_at = entry.get("head_id"), entry.get("published_at")
        for name, value in (("head_id", head_id), ("published_at", published_at)):
            if value is not None and not isinstance(value, str):
                raise InputError(where, f"{field}.{name}", "expected a string or null")
        history.append(Checkpoint(size, root, head_id, published_at))
    return history


def history_bytes(history: list[Checkpoint]) -> bytes:
    """The stored form: one entry per line, so each publication adds one line to the diff."""
    lines = ",\n".join(
        "    " + json.dumps(c.as_dict(), sort_keys=True, separators=(",", ":")) for c in history
    )
    body = f"[\n{lines}\n  ]" if history else "[]"
    return f'{{\n  "checkpoints": {body},\n  "format": "{HISTORY_FORMAT}"\n}}\n'.encode()


def appended(history: list[Checkpoint], checkpoint: Checkpoint) -> list[Checkpoint]:
    """`history` plus `checkpoint`, unless the last entry already is that tree."""
    last = history[-1] if history else None
    if last and (last.tree_size, last.root) == (checkpoint.tree_size, checkpoint.root):
        return list(history)
    return [*history, checkpoint]


@dataclass(frozen=True)
class Inconsistency:
    """The first published checkpoint the current tree no longer extends."""

    number: int  # 1-based position in the history
    checkpoint: Checkpoint
    reason: str
    first_differing_sequence: int | None

    def __str__(self) -> str:
        cp = self.checkpoint
        head = f", head {cp.head_id}" if cp.head_id else ""
        when = f", published {cp.published_at}" if cp.published_at else ""
        differs = (
            f"; first record that differs: sequence {self.first_differing_sequence}"
            if self.first_differing_sequence
            else "; the first record that differs is not known (no published timeline reproduces this checkpoint)"
        )
        return f"checkpoint #{self.number} ({cp.describe()}{head}{when}) no longer holds: {self.reason}{differs}"


class CurrentTree:
    """The records' content digests in sequence order, as a tree that can prove consistency."""

    def __init__(self, digests: list[str], leaves: list[bytes] | None = None) -> None:
        self.digests = digests
        self.levels = MerkleLevels(
            leaves if leaves is not None else [leaf_hash(d) for d in digests]
        )

    @property
    def size(self) -> int:
        return self.levels.size

    def root_hex(self) -> str:
        return self.levels.root().hex()

    def extends(self, checkpoint: Checkpoint) -> str | None:
        """None when a consistency proof from `checkpoint` verifies; else why not."""
        if checkpoint.tree_size > self.size:
            return f"the tree now has {self.size} records, fewer than the {checkpoint.tree_size} published"
        proof = self.levels.consistency_proof(checkpoint.tree_size)
        old_root = bytes.fromhex(checkpoint.root)
        if verify_consistency(checkpoint.tree_size, self.size, old_root, self.levels.root(), proof):
            return None
        return (
            f"the consistency proof from size {checkpoint.tree_size} to {self.size} "
            f"does not verify against the published root"
        )


def first_inconsistency(
    tree: CurrentTree, history: list[Checkpoint], published_digests=None
) -> Inconsistency | None:
    """The first entry of `history` that `tree` does not extend, or None when all hold.

    `published_digests()` may return the digests the pages show (or None): when they
    reproduce the failing checkpoint's root they are its records, and the first one
    that differs from the current chain is named.
    """
    for number, checkpoint in enumerate(history, 1):
        reason = tree.extends(checkpoint)
        if reason is None:
            continue
        published = published_digests() if published_digests else None
        return Inconsistency(
            number, checkpoint, reason, first_difference(tree, checkpoint, published)
        )
    return None


def first_difference(
    tree: CurrentTree, checkpoint: Checkpoint, published: list[str] | None
) -> int | None:
    """The first sequence where the current records differ from those behind `checkpoint`."""
    size = checkpoint.tree_size
    if published is None or len(published) < size:
        return None
    old = published[:size]
    # Only digests that reproduce the checkpoint's root are the records it covered.
    if MerkleLevels([leaf_hash(d) for d in old]).root().hex() != checkpoint.root:
        return None
    for sequence, (was, now) in enumerate(zip(old, tree.digests, strict=False), 1):
        if was != now:
            return sequence
    return tree.size + 1 if tree.size < size else None
