"""`factory evidence export ID --format in-toto`: a Statement v1 about the pinned image."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest

from factory_assets.evidence.canonical import content_digest
from factory_assets.evidence.store import append_record, new_body
from tests.evidence.helpers import record_file, write_chain

SCHEMA = json.loads((Path(__file__).parent / "in_toto_statement_v1.schema.json").read_text())
VALIDATOR = jsonschema.Draft202012Validator(SCHEMA, format_checker=jsonschema.FormatChecker())


def export_cli(repo: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "factory_assets.cli.main",
            "evidence",
            "export",
            "--repo",
            str(repo),
            *args,
        ],
        capture_output=True,
        text=True,
    )


def test_the_schema_is_not_vacuous():
    good = {
        "_type": "https://in-toto.io/Statement/v1",
        "subject": [{"name": "x", "digest": {"sha256": "ab" * 32}}],
        "predicateType": "https://example.test/p/v1",
        "predicate": {},
    }
    assert VALIDATOR.is_valid(good)
    for broken in (
        {**good, "_type": "https://in-toto.io/Statement/v0.1"},
        {**good, "subject": []},
        {**good, "subject": [{"name": "x"}]},
        {**good, "subject": [{"name": "x", "digest": {"sha256": "short"}}]},
        {**good, "predicateType": "not a uri"},
        {k: v for k, v in good.items() if k != "predicate"},
    ):
        assert not VALIDATOR.is_valid(broken)


@pytest.mark.parametrize("position", [0, 1], ids=["promotion", "smoke"])
def test_a_record_exports_as_a_valid_statement_about_its_image(tmp_path: Path, position: int):
    records = write_chain(tmp_path, 2)
    record = records[position]
    stored = json.loads(record_file(tmp_path, record).read_bytes())
    proc = export_cli(tmp_path, record.id, "--format", "in-toto")
    assert proc.returncode == 0, proc.stderr
    statement = json.loads(proc.stdout)
    VALIDATOR.validate(statement)
    assert statement["subject"] == [
        {"name": "registry.local/api", "digest": {"sha256": f"{position:02x}" * 32}}
    ]
    predicate = statement["predicate"]
    assert predicate["record"] == stored  # verbatim: a reader can recompute the digest
    assert (
        predicate["content_digest"]
        == content_digest(stored)
        == stored["integrity"]["content_digest"]
    )
    assert predicate["chain"]["sequence"] == position + 1
    assert predicate["chain"]["prev_digest"] == stored["integrity"]["prev_digest"]
    assert statement["predicateType"].startswith("urn:factory:")


def test_predicate_alone_for_cosign_and_an_atomic_out_file(tmp_path: Path):
    record = write_chain(tmp_path, 1)[0]
    out = tmp_path / "out" / "predicate.json"
    out.parent.mkdir()
    proc = export_cli(tmp_path, record.id, "--format", "predicate", "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    predicate = json.loads(out.read_bytes())
    full = json.loads(export_cli(tmp_path, record.id).stdout)
    assert predicate == full["predicate"]
    assert [p.name for p in out.parent.iterdir()] == ["predicate.json"]  # no temp file left


def test_a_record_without_a_pinned_digest_is_refused(tmp_path: Path):
    record = append_record(
        tmp_path,
        new_body(
            kind="promotion", service="api", result="failure", details={"error": "registry down"}
        ),
    )
    proc = export_cli(tmp_path, record.id)
    assert proc.returncode == 1
    assert (
        f"evidence/records/{record.id}.json: details.digest: no pinned image digest" in proc.stderr
    )
    assert proc.stdout == ""


def test_bad_ids_kinds_and_tampered_records_name_file_and_field(tmp_path: Path):
    record = write_chain(tmp_path, 1)[0]
    proc = export_cli(tmp_path, "../../etc/passwd")
    assert proc.returncode == 1 and "ID: ../../etc/passwd: expected a record id" in proc.stderr
    missing = "01ARZ3NDEKTSV4RRFFQ69G5FAV"
    proc = export_cli(tmp_path, missing)
    assert (
        proc.returncode == 1
        and f"evidence/records/{missing}.json: -: no such record" in proc.stderr
    )

    path = record_file(tmp_path, record)
    stored = json.loads(path.read_bytes())
    stored["details"]["tag"] = "9.9.9"
    path.write_text(json.dumps(stored))
    out = tmp_path / "statement.json"
    proc = export_cli(tmp_path, record.id, "--out", str(out))
    assert proc.returncode == 1
    assert (
        f"evidence/records/{record.id}.json: integrity.content_digest: does not match"
        in proc.stderr
    )
    assert not out.exists()

    stored["kind"] = "pages"
    path.write_text(json.dumps(stored))
    proc = export_cli(tmp_path, record.id)
    assert (
        proc.returncode == 1 and "kind: is 'pages'; only promotion and smoke records" in proc.stderr
    )
