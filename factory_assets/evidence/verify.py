"""`factory evidence verify`: the current records against every published checkpoint.

The records must first hold on their own (schema, digests, chain, head: what
collect checks); then each checkpoint must be extended by the current tree, as
shown by an RFC 6962 consistency proof checked against both roots.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from factory_assets.evidence.checkpoints import (
    Checkpoint,
    CurrentTree,
    Inconsistency,
    first_inconsistency,
)
from factory_assets.evidence.collect import checked_records
from factory_assets.evidence.layout import RECORDS_DIR


@dataclass(frozen=True)
class VerifyResult:
    tree_size: int
    root: str
    checkpoints: int  # how many published checkpoints were checked
    failure: Inconsistency | None

    @property
    def ok(self) -> bool:
        return self.failure is None


def current_tree(repo: Path) -> CurrentTree:
    """The repository's records as a tree; raises CollectError when they do not hold."""
    if not (repo / RECORDS_DIR).is_dir():
        return CurrentTree([])
    records = checked_records(repo)
    return CurrentTree(records.digests, records.leaf_list())


def verify_tree(
    tree: CurrentTree,
    history: list[Checkpoint],
    published_digests: Callable[[], list[str] | None] | None = None,
) -> VerifyResult:
    failure = first_inconsistency(tree, history, published_digests)
    return VerifyResult(tree.size, tree.root_hex(), len(history), failure)
