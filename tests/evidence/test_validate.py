"""`factory evidence validate`: every tamper and bad-input case is named by path and field."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from factory_assets.evidence.canonical import content_digest
from factory_assets.evidence.store import append_record, new_body, read_chain_head
from factory_assets.evidence.validate import validate_repo
from tests.evidence.helpers import record_file, write_chain


def factory(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "factory_assets.cli.main", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
    )


def tree_state(repo: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(repo)): p.read_bytes() for p in sorted(repo.rglob("*")) if p.is_file()
    }


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    write_chain(tmp_path, 5)
    return tmp_path


def problems_of(repo: Path) -> list[str]:
    return [str(p) for p in validate_repo(repo)[1]]


def test_a_written_chain_is_valid_and_the_cli_says_so(repo: Path):
    assert problems_of(repo) == []
    proc = factory("evidence", "validate", "--repo", str(repo))
    assert proc.returncode == 0, proc.stderr
    assert "5 record(s) valid" in proc.stdout


def test_edited_record_is_caught_by_its_content_digest(repo: Path):
    records = sorted((repo / "evidence" / "records").glob("*.json"))
    data = json.loads(records[2].read_text())
    data["result"] = "failure"
    records[2].write_text(json.dumps(data))
    found = problems_of(repo)
    assert any(
        f"evidence/records/{records[2].name}: integrity.content_digest:" in p for p in found
    ), found


def test_edited_record_with_recomputed_digest_breaks_the_chain(repo: Path):
    by_seq = sorted(
        (
            json.loads(p.read_text()) | {"_path": p}
            for p in (repo / "evidence" / "records").glob("*.json")
        ),
        key=lambda r: r["integrity"]["sequence"],
    )
    target = by_seq[2]  # a promotion record
    path = target.pop("_path")
    target["details"]["tag"] = "evil"
    target["integrity"]["content_digest"] = content_digest(target)
    path.write_text(json.dumps(target))
    found = problems_of(repo)
    next_path = by_seq[3]["_path"].name
    assert any(
        p.startswith(f"evidence/records/{next_path}: integrity.prev_digest:") for p in found
    ), found


def test_deleted_record_in_the_middle_leaves_a_gap(repo: Path):
    records = sorted(
        (repo / "evidence" / "records").glob("*.json"),
        key=lambda p: json.loads(p.read_text())["integrity"]["sequence"],
    )
    records[2].unlink()
    found = problems_of(repo)
    assert any("integrity.sequence: gap: sequence 3 is missing" in p for p in found), found


def test_deleted_last_record_is_caught_by_the_chain_head(repo: Path):
    head = read_chain_head(repo)
    (repo / "evidence" / "records" / f"{head.id}.json").unlink()
    # read_chain_head falls back to the previous head on a missing record (crash recovery),
    # but validate compares the head file itself with the last record.
    found = problems_of(repo)
    assert any(p.startswith("evidence/chain-head.json: head:") for p in found), found


@pytest.mark.parametrize(
    ("entry", "field", "value"),
    [
        ("head", "id", "01ARZ3NDEKTSV4RRFFQ69G5FAV"),  # the next append would fork the chain
        ("previous", "sequence", 2),
        ("previous", "content_digest", "sha256:" + "0" * 64),
    ],
)
def test_an_edited_chain_head_is_caught(repo: Path, entry: str, field: str, value):
    path = repo / "evidence" / "chain-head.json"
    data = json.loads(path.read_text())
    data[entry][field] = value
    path.write_text(json.dumps(data))
    found = problems_of(repo)
    assert any(p.startswith(f"evidence/chain-head.json: {entry}: names") for p in found), found
    assert validate_cli_exit(repo) == 1


def validate_cli_exit(repo: Path) -> int:
    return factory("evidence", "validate", "--repo", str(repo)).returncode


def test_reordered_chain_is_caught(repo: Path):
    records = sorted(
        (repo / "evidence" / "records").glob("*.json"),
        key=lambda p: json.loads(p.read_text())["integrity"]["sequence"],
    )
    a, b = json.loads(records[1].read_text()), json.loads(records[2].read_text())
    a["integrity"]["sequence"], b["integrity"]["sequence"] = 3, 2
    records[1].write_text(json.dumps(a))
    records[2].write_text(json.dumps(b))
    found = problems_of(repo)
    assert any("integrity.prev_digest" in p for p in found), found


def test_unknown_parent_is_caught(tmp_path: Path):
    append_record(
        tmp_path,
        new_body(
            kind="pages",
            service=None,
            result="success",
            details={"branch": "gh-pages", "merkle_root": "a" * 64, "tree_size": 1},
            parents=[{"id": "01M8EXJ70XHJY1SYDM4RVS6JGQ", "content_digest": "sha256:" + "b" * 64}],
        ),
    )
    assert any(
        "parents: unknown parent 01M8EXJ70XHJY1SYDM4RVS6JGQ" in p for p in problems_of(tmp_path)
    )


def test_duplicate_sequence_is_caught(repo: Path):
    records = sorted(
        (repo / "evidence" / "records").glob("*.json"),
        key=lambda p: json.loads(p.read_text())["integrity"]["sequence"],
    )
    data = json.loads(records[3].read_text())
    data["integrity"]["sequence"] = 3
    records[3].write_text(json.dumps(data))
    assert any("duplicate sequence 3" in p for p in problems_of(repo))


BAD_INPUTS = {
    "malformed_json": (b'{"id": ', "malformed JSON"),
    "non_utf8": (b'{"id": "\xff\xfe"}', "not UTF-8"),
    "not_an_object": (b"[1, 2]", "expected a JSON object"),
    "too_large": (b'{"pad": "' + b"x" * (1024 * 1024 + 10) + b'"}', "file is over the 1 MiB limit"),
}


@pytest.mark.parametrize("case", sorted(BAD_INPUTS))
def test_bad_record_files_are_named_and_nothing_changes(repo: Path, case: str):
    data, message = BAD_INPUTS[case]
    bad = repo / "evidence" / "records" / "01M8EXJ70XHJY1SYDM4RVS6JGQ.json"
    bad.write_bytes(data)
    before = tree_state(repo)
    proc = factory("evidence", "validate", "--repo", str(repo))
    assert proc.returncode == 1
    assert f"evidence/records/{bad.name}: -: {message}" in proc.stderr
    assert tree_state(repo) == before


def test_schema_violation_and_unknown_kind_name_the_field(repo: Path):
    path = sorted((repo / "evidence" / "records").glob("*.json"))[0]
    data = json.loads(path.read_text())
    data["kind"] = "teleport"
    data["started_at"] = "yesterday"
    path.write_text(json.dumps(data))
    found = problems_of(repo)
    assert any(p.startswith(f"evidence/records/{path.name}: kind:") for p in found), found
    assert any(p.startswith(f"evidence/records/{path.name}: started_at:") for p in found), found


def test_non_record_file_is_reported(repo: Path):
    (repo / "evidence" / "records" / "notes.txt").write_text("hello")
    assert "evidence/records/notes.txt: -: not a record file (expected <ULID>.json)" in problems_of(
        repo
    )


def test_unreadable_records_directory_is_reported(tmp_path: Path):
    (tmp_path / "evidence").mkdir()
    (tmp_path / "evidence" / "records").write_text("not a directory")
    proc = factory("evidence", "validate", "--repo", str(tmp_path))
    assert proc.returncode == 1
    assert "evidence/records: -: cannot list the directory" in proc.stderr


def test_usage_error_exits_2():
    proc = factory("evidence", "validate", "--no-such-flag")
    assert proc.returncode == 2


def test_crash_between_head_and_record_resumes_from_previous_head(repo: Path):
    head = read_chain_head(repo)
    (
        repo / "evidence" / "records" / f"{head.id}.json"
    ).unlink()  # as if killed after the head write
    previous = read_chain_head(repo)
    assert previous.sequence == head.sequence - 1
    record = write_chain(repo, 1)[0]
    assert record.integrity.sequence == head.sequence
    assert record.integrity.prev_digest == previous.content_digest
    assert problems_of(repo) == []


def test_records_are_write_once(repo: Path):
    head = read_chain_head(repo)
    body = new_body(
        kind="pages",
        service=None,
        result="skipped",
        details={"branch": "b", "merkle_root": "a" * 64, "tree_size": 0},
        record_id=head.id,
    )
    before = record_file(repo, head).read_bytes()
    with pytest.raises(FileExistsError):
        append_record(repo, body)
    assert record_file(repo, head).read_bytes() == before


def test_links_and_directories_named_like_records_are_refused(repo: Path):
    records = repo / "evidence" / "records"
    target = sorted(records.glob("*.json"))[0]
    (records / "01M8EXJ70XHJY1SYDM4RVS6JG0.json").symlink_to(target)
    (records / "01M8EXJ70XHJY1SYDM4RVS6JG1.json").mkdir()
    found = problems_of(repo)
    assert any(
        p.startswith("evidence/records/01M8EXJ70XHJY1SYDM4RVS6JG0.json: -: cannot read")
        for p in found
    ), found
    assert any(
        p.startswith("evidence/records/01M8EXJ70XHJY1SYDM4RVS6JG1.json: -: cannot read")
        for p in found
    ), found
