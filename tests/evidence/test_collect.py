"""`factory evidence collect`: deterministic, incremental, and refuses bad records."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import factory_assets.evidence.collect as collect_mod
import factory_assets.evidence.validate as validate_mod
from factory_assets.evidence.checkpoints import Checkpoint, first_inconsistency
from factory_assets.evidence.collect import collect_index
from factory_assets.evidence.merkle import merkle_root
from factory_assets.evidence.verify import current_tree
from tests.evidence.helpers import write_chain


def index_files(repo: Path) -> dict[str, bytes]:
    base = repo / "evidence"
    files = [base / "index.json", *sorted((base / "index").glob("*"))]
    return {str(p.relative_to(base)): p.read_bytes() for p in files}


@pytest.fixture(autouse=True)
def small_shards(monkeypatch):
    monkeypatch.setattr(
        collect_mod, "SHARD_SIZE", 3
    )  # so a handful of records spans several shards


def test_same_records_give_byte_identical_index(tmp_path: Path):
    write_chain(tmp_path / "a", 7)
    shutil.copytree(tmp_path / "a", tmp_path / "b")
    collect_index(tmp_path / "a")
    collect_index(tmp_path / "b", full=True)
    assert index_files(tmp_path / "a") == index_files(tmp_path / "b")


def test_incremental_equals_full_and_reads_only_new_records(tmp_path: Path, monkeypatch):
    repo = tmp_path / "repo"
    write_chain(repo, 5)
    first = collect_index(repo)
    assert (first.new_records, first.incremental) == (5, False)
    write_chain(repo, 4, service="web")
    reads: list[str] = []
    real_read = validate_mod.read_record_bytes
    monkeypatch.setattr(
        validate_mod,
        "read_record_bytes",
        lambda fd, name: reads.append(name) or real_read(fd, name),
    )
    second = collect_index(repo)
    assert (second.new_records, second.incremental, second.tree_size) == (4, True, 9)
    assert len(reads) == 4
    shutil.copytree(repo, tmp_path / "fresh")
    collect_index(tmp_path / "fresh", full=True)
    assert index_files(repo) == index_files(tmp_path / "fresh")


def test_index_content_and_merkle_checkpoint(tmp_path: Path):
    records = write_chain(tmp_path, 6)
    collect_index(tmp_path)
    index = json.loads((tmp_path / "evidence" / "index.json").read_text())
    assert index["record_count"] == 6
    assert index["kinds"] == {"promotion": 3, "smoke": 3}
    assert (
        index["checkpoint"]["root"]
        == merkle_root([r.integrity.content_digest for r in records]).hex()
    )
    api = index["services"]["api"]
    assert api["last"]["id"] == records[-1].id
    assert (
        api["pinned"]["id"] == records[4].id
        and api["pinned"]["digest"] == records[4].details.digest
    )
    summaries = []
    for shard in index["shards"]:
        summaries += json.loads((tmp_path / "evidence" / shard["path"]).read_text())["records"]
    assert [s["seq"] for s in summaries] == [1, 2, 3, 4, 5, 6]


def test_cli_output_passes_json_tool(tmp_path: Path):
    write_chain(tmp_path, 3)
    out = tmp_path / "evidence" / "index.json"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "factory_assets.cli.main",
            "evidence",
            "collect",
            "--repo",
            str(tmp_path),
            "--out",
            str(out),
        ],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stderr
    tool = subprocess.run(
        [sys.executable, "-m", "json.tool", str(out)], capture_output=True, text=True
    )
    assert tool.returncode == 0 and '"record_count": 3' in tool.stdout


def test_bad_record_refuses_and_leaves_the_index_alone(tmp_path: Path):
    records = write_chain(tmp_path, 4)
    collect_index(tmp_path)
    before = index_files(tmp_path)
    (new,) = write_chain(tmp_path, 1)

    def tamper(record):
        path = tmp_path / "evidence" / "records" / f"{record.id}.json"
        data = json.loads(path.read_text())
        data["result"] = "failure"
        path.write_text(json.dumps(data))

    def collect(*extra):
        args = ["evidence", "collect", "--repo", str(tmp_path), *extra]
        return subprocess.run(
            [sys.executable, "-m", "factory_assets.cli.main", *args], capture_output=True, text=True
        )

    tamper(new)  # a record the incremental pass reads
    proc = collect()
    assert proc.returncode == 1
    assert f"evidence/records/{new.id}.json: integrity.content_digest" in proc.stderr
    assert index_files(tmp_path) == before
    tamper(records[1])  # an already collected record: the full pass (and validate) reread it
    proc = collect("--full")
    assert proc.returncode == 1
    assert f"evidence/records/{records[1].id}.json: integrity.content_digest" in proc.stderr
    assert index_files(tmp_path) == before


def test_rewritten_history_is_reindexed_but_not_consistent_with_its_checkpoint(tmp_path: Path):
    """Collect describes the records as they are (a full rebuild); holding them to what was
    published before is `verify`'s job, and the earlier checkpoint catches the rewrite."""
    write_chain(tmp_path, 4)
    before = collect_index(tmp_path)
    shutil.rmtree(tmp_path / "evidence" / "records")
    (tmp_path / "evidence" / "chain-head.json").unlink()
    write_chain(tmp_path, 2)
    result = collect_index(tmp_path)
    assert (result.incremental, result.tree_size) == (False, 2)
    assert not (tmp_path / "evidence" / "index" / "000001.json").exists()
    published = Checkpoint(before.tree_size, before.root, None, None)
    failure = first_inconsistency(current_tree(tmp_path), [published])
    assert failure is not None and "fewer than the 4 published" in failure.reason


def test_collect_names_the_field_it_cannot_index(tmp_path: Path):
    records = write_chain(tmp_path, 2)
    path = tmp_path / "evidence" / "records" / f"{records[1].id}.json"
    data = json.loads(path.read_text())
    data["kind"] = "teleport"
    del data["integrity"]["sequence"]
    path.write_text(json.dumps(data))
    with pytest.raises(collect_mod.CollectError) as caught:
        collect_index(tmp_path)
    message = str(caught.value)
    assert f"evidence/records/{records[1].id}.json: kind: expected one of promotion" in message
    assert (
        f"evidence/records/{records[1].id}.json: integrity.sequence: expected an integer" in message
    )
    assert not (tmp_path / "evidence" / "index.json").exists()


def test_collect_refuses_a_service_that_is_not_a_name(tmp_path: Path):
    records = write_chain(tmp_path, 2)
    path = tmp_path / "evidence" / "records" / f"{records[0].id}.json"
    data = json.loads(path.read_text())
    data["service"] = ["api"]  # unhashable: would have crashed the per-service state
    path.write_text(json.dumps(data))
    with pytest.raises(collect_mod.CollectError) as caught:
        collect_index(tmp_path)
    assert f"evidence/records/{records[0].id}.json: service: expected a service name" in str(
        caught.value
    )


@pytest.mark.parametrize("damage", ["delete", "edit-id"])
def test_incremental_collect_checks_the_chain_head_like_the_full_one(tmp_path: Path, damage):
    write_chain(tmp_path, 4)
    collect_index(tmp_path)
    write_chain(tmp_path, 2)
    head = tmp_path / "evidence" / "chain-head.json"
    if damage == "delete":
        head.unlink()
    else:
        data = json.loads(head.read_text())
        data["head"]["id"] = "01ARZ3NDEKTSV4RRFFQ69G5FAV"
        head.write_text(json.dumps(data))
    before = index_files(tmp_path)
    with pytest.raises(collect_mod.CollectError, match="evidence/chain-head.json: head:"):
        collect_index(tmp_path)  # incremental first: it must not accept what --full refuses
    assert index_files(tmp_path) == before


def test_incremental_collect_with_nothing_new_still_checks_the_head(tmp_path: Path):
    write_chain(tmp_path, 3)
    collect_index(tmp_path)
    head = tmp_path / "evidence" / "chain-head.json"
    data = json.loads(head.read_text())
    data["previous"] = None
    head.write_text(json.dumps(data))
    with pytest.raises(collect_mod.CollectError, match="evidence/chain-head.json: previous:"):
        collect_index(tmp_path)
