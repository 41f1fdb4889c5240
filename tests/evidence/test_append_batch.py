"""A batch of records (a tick requesting many releases) cut short leaves a chain that holds."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from factory_assets.evidence.store import append_records, new_body, read_chain_head
from factory_assets.evidence.validate import validate_repo
from factory_assets.sandbox.gitops_remote import make_gitops_remote
from resources.gitops import GitopsWriter
from tests.evidence.helpers import write_chain


def _bodies(count: int) -> list:
    return [
        new_body(
            kind="promotion",
            service="api",
            result="skipped",
            details={"release_id": f"r{n}", "event": "requested", "reason": "test"},
        )
        for n in range(count)
    ]


def _killed_after(written: int) -> Iterator:
    """Bodies that stop coming after `written` of them, as a process killed mid-batch stops."""
    yield from _bodies(written)
    raise KeyboardInterrupt("killed")


def _problems(repo: Path) -> tuple[int, list[str]]:
    count, problems = validate_repo(repo)
    return count, [str(p) for p in problems]


def test_a_batch_cut_short_in_a_checkout_leaves_a_chain_the_next_append_continues(
    tmp_path: Path,
) -> None:
    write_chain(tmp_path, 3)
    with pytest.raises(KeyboardInterrupt):
        append_records(tmp_path, _killed_after(4))
    assert read_chain_head(tmp_path).sequence == 3 + 4  # each record's head is in place
    append_records(tmp_path, _bodies(5))
    assert _problems(tmp_path) == (3 + 4 + 5, [])


def test_a_batch_cut_short_in_a_private_tree_is_never_committed(tmp_path: Path) -> None:
    remote = make_gitops_remote(tmp_path / "w")
    write_chain(remote.clone, 3)
    remote.commit_and_push(
        {
            str(p.relative_to(remote.clone)): p.read_bytes()
            for p in (remote.clone / "evidence").rglob("*")
            if p.is_file()
        },
        "three records",
    )
    writer = GitopsWriter(remote.clone)
    assert writer.resets_tree

    def cut_short(tree: Path) -> None:
        append_records(tree, _killed_after(4), scratch=True)

    with pytest.raises(KeyboardInterrupt):
        writer.transact(cut_short, message="never lands")
    landed = writer.transact(
        lambda tree: append_records(tree, _bodies(5), scratch=writer.resets_tree),
        message="five requests",
    )
    assert landed.commit is not None
    clone = remote.new_clone("check")
    assert _problems(clone) == (3 + 5, [])
    head = read_chain_head(clone)
    assert (head.sequence, head.id) == (8, landed.value[-1].id)


def test_a_checkout_writer_does_not_reset_its_tree(tmp_path: Path) -> None:
    """No remote: `transact` edits the checkout itself, so batches there keep per-record heads."""
    write_chain(tmp_path, 1)
    assert not GitopsWriter(tmp_path).resets_tree
