"""The parallel record scan: helpers share the work, results keep batch order, failures surface."""

from __future__ import annotations

import gc
import json
import os
import shutil
import time
from pathlib import Path

import pytest

import factory_assets.common.parallel_map as parallel_map
from factory_assets.common.gc_pause import gc_paused
from factory_assets.common.parallel_map import HelperProcessError, map_batches
from factory_assets.evidence.canonical import content_digest
from factory_assets.evidence.collect import CollectError, collect_index
from factory_assets.evidence.ids import encode_ulid
from factory_assets.evidence.validate import validate_repo
from tests.evidence.helpers import record_file, write_chain

PARENT = os.getpid()


def _pause_in_caller(seconds: float = 0.1) -> None:
    """Slow the caller down so that a helper surely starts and takes batches, even under load."""
    if os.getpid() == PARENT:
        time.sleep(seconds)


def _slow_pid(batch: int) -> tuple[int, int]:
    time.sleep(0.02)  # every process takes a share: none can run through the list alone
    _pause_in_caller(0.03)
    return batch, os.getpid()


def test_results_come_back_in_batch_order_from_several_processes():
    out = map_batches(_slow_pid, list(range(24)), workers=3)
    assert [batch for batch, _ in out] == list(range(24))
    pids = {pid for _, pid in out}
    assert PARENT in pids and len(pids) >= 2


def _fail_in_helper(batch: int) -> int:
    _pause_in_caller()
    if os.getpid() != PARENT:
        raise ValueError(f"bad batch {batch}")
    return batch


def test_a_helper_exception_is_raised_with_its_traceback():
    with pytest.raises(HelperProcessError, match="ValueError: bad batch"):
        map_batches(_fail_in_helper, list(range(12)), workers=2)


def _die_in_helper(batch: int) -> int:
    _pause_in_caller()
    if os.getpid() != PARENT:
        os._exit(3)
    return batch


def test_a_helper_that_dies_is_reported_not_waited_for():
    with pytest.raises(HelperProcessError, match="exited with code 3"):
        map_batches(_die_in_helper, list(range(12)), workers=2)


def test_gc_paused_restores_the_collector_even_on_error():
    assert gc.isenabled()
    with pytest.raises(RuntimeError), gc_paused():
        assert not gc.isenabled()
        raise RuntimeError
    assert gc.isenabled()


def force_parallel(monkeypatch) -> None:
    """The multi-process path on a small chain: tiny batches over two processes."""
    monkeypatch.setattr(parallel_map, "PARALLEL_FROM", 0)
    monkeypatch.setattr(parallel_map, "MIN_BATCH", 2)
    monkeypatch.setattr(parallel_map, "default_workers", lambda: 2)


@pytest.fixture
def parallel(monkeypatch):
    force_parallel(monkeypatch)


def index_files(repo: Path) -> dict[str, bytes]:
    base = repo / "evidence"
    return {
        str(p.relative_to(base)): p.read_bytes()
        for p in [base / "index.json", *sorted((base / "index").glob("*"))]
    }


def test_parallel_collect_gives_the_single_process_index(tmp_path: Path, monkeypatch):
    write_chain(tmp_path / "one", 40)
    shutil.copytree(tmp_path / "one", tmp_path / "many")
    collect_index(tmp_path / "one", full=True)
    force_parallel(monkeypatch)
    collect_index(tmp_path / "many", full=True)
    assert index_files(tmp_path / "one") == index_files(tmp_path / "many")


def test_parallel_collect_and_validate_name_a_tampered_record(tmp_path: Path, parallel):
    records = write_chain(tmp_path, 30)
    path = record_file(tmp_path, records[17])
    data = json.loads(path.read_text())
    data["result"] = "failure"
    path.write_text(json.dumps(data))
    with pytest.raises(CollectError, match=f"{records[17].id}.json: integrity.content_digest"):
        collect_index(tmp_path, full=True)
    assert not (tmp_path / "evidence" / "index.json").exists()
    count, problems = validate_repo(tmp_path)
    assert count == 30
    assert [(p.path, p.field) for p in problems] == [
        (f"evidence/records/{records[17].id}.json", "integrity.content_digest")
    ]


def write_reversed_chain(repo: Path, count: int) -> list[str]:
    """A valid chain whose ids sort in the reverse of sequence order (a clock that ran back)."""
    records = repo / "evidence" / "records"
    records.mkdir(parents=True)
    prev, ids, heads = None, [], []
    for seq in range(1, count + 1):
        record_id = encode_ulid(1_800_000_000_000 - seq * 1000, seq)
        body = {
            "schema_version": 1,
            "id": record_id,
            "kind": "promotion",
            "service": f"svc-{seq % 3}",
            "subject": [],
            "result": "success",
            "started_at": "2026-11-27T10:00:00Z",
            "finished_at": "2026-11-27T10:00:01Z",
            "producer": {"name": "test", "version": "1"},
            "links": {},
            "parents": [],
            "details": {"kind": "promotion", "tag": f"1.0.{seq}"},
        }
        digest = content_digest(body)
        record = {
            **body,
            "integrity": {"content_digest": digest, "sequence": seq, "prev_digest": prev},
        }
        (records / f"{record_id}.json").write_text(json.dumps(record))
        prev = digest
        ids.append(record_id)
        heads.append({"sequence": seq, "content_digest": digest, "id": record_id})
    head = {"head": heads[-1], "previous": heads[-2]}
    (repo / "evidence" / "chain-head.json").write_text(json.dumps(head))
    return ids


def test_collect_orders_by_sequence_when_file_names_do_not(tmp_path: Path, parallel):
    ids = write_reversed_chain(tmp_path, 25)
    assert validate_repo(tmp_path)[1] == []
    result = collect_index(tmp_path, full=True)
    assert result.record_count == 25
    index = json.loads((tmp_path / "evidence" / "index.json").read_text())
    summaries = []
    for shard in index["shards"]:
        summaries += json.loads((tmp_path / "evidence" / shard["path"]).read_text())["records"]
    assert [s["id"] for s in summaries] == ids
    assert [s["seq"] for s in summaries] == list(range(1, 26))
    assert index["services"]["svc-1"]["last"]["seq"] == 25  # 25 % 3 == 1: the latest by sequence
    assert (tmp_path / "evidence" / "index" / "ids.txt").read_text().split() == ids
