"""`append_entries`: many requests in one load and one save of the queue, each with its record."""

from __future__ import annotations

from pathlib import Path

import pytest

from factory_assets.common.errors import InputError
from factory_assets.evidence.store import load_record, read_chain_head
from factory_assets.evidence.validate import validate_repo
from factory_assets.release.add import append_entries, append_entry, build_entry
from factory_assets.release.queue_file import load_queue

HOST = "127.0.0.1:5999"


@pytest.fixture
def tree(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("HARBOR_URL", f"http://{HOST}")
    return tmp_path


def entry(tree: Path, service: str, tag: str, release_id: str | None = None):
    return build_entry(
        tree,
        service=service,
        tag=tag,
        image=f"{HOST}/factory/{service}",
        requested_by="harbor",
        release_id=release_id,
    )


def files(tree: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(tree)): p.read_bytes() for p in sorted(tree.rglob("*")) if p.is_file()
    }


def test_a_batch_lands_every_entry_in_order_each_with_its_chained_record(tree: Path) -> None:
    append_entry(tree, entry(tree, "old", "v0"), record=True)
    batch = [entry(tree, f"svc{i}", f"v{i}") for i in range(5)]
    added = append_entries(tree, batch, record=True)

    queue = load_queue(tree).queue
    assert [e.id for e in queue.entries[1:]] == [e.id for e in batch]
    assert [e.evidence for e in queue.entries[1:]] == [a.evidence_id for a in added]
    records = [load_record(tree, a.evidence_id) for a in added]
    assert [r.integrity.sequence for r in records] == [2, 3, 4, 5, 6]
    assert [r.details.release_id for r in records] == [e.id for e in batch]
    assert read_chain_head(tree).id == records[-1].id
    count, problems = validate_repo(tree)
    assert (count, problems) == (6, [])


@pytest.mark.parametrize("where", ["in the queue", "twice in the batch"])
def test_a_duplicate_id_refuses_the_whole_batch_and_writes_nothing(tree: Path, where: str) -> None:
    append_entry(tree, entry(tree, "old", "v0", release_id="r-old"), record=True)
    before = files(tree)
    batch = [entry(tree, "a", "v1", release_id="r-a")]
    batch.append(entry(tree, "b", "v2", release_id="r-old" if where == "in the queue" else "r-a"))
    with pytest.raises(InputError, match="duplicate id"):
        append_entries(tree, batch, record=True)
    assert files(tree) == before
