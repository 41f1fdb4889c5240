"""The committed JSON Schema is generated from the model, and the check notices drift."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import jsonschema

from factory_assets.evidence.layout import SCHEMA_FILE
from tests.evidence.helpers import record_file, write_chain

ROOT = Path(__file__).resolve().parents[2]


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "factory_assets.cli.main", *args], capture_output=True, text=True
    )


def test_committed_schema_matches_the_model():
    proc = run("evidence", "schema", "--check", "--repo", str(ROOT))
    assert proc.returncode == 0, proc.stderr


def test_check_fails_on_drift_and_schema_rewrites_it(tmp_path: Path):
    target = tmp_path / SCHEMA_FILE
    target.parent.mkdir(parents=True)
    shutil.copy(ROOT / SCHEMA_FILE, target)
    data = json.loads(target.read_text())
    data["title"] = "drifted"
    target.write_text(json.dumps(data))
    proc = run("evidence", "schema", "--check", "--repo", str(tmp_path))
    assert proc.returncode == 1
    assert "differs from the model" in proc.stderr
    assert run("evidence", "schema", "--repo", str(tmp_path)).returncode == 0
    assert target.read_bytes() == (ROOT / SCHEMA_FILE).read_bytes()


def test_written_records_validate_against_the_committed_json_schema(tmp_path: Path):
    schema = json.loads((ROOT / SCHEMA_FILE).read_text())
    validator = jsonschema.Draft202012Validator(schema)
    records = write_chain(tmp_path, 4)
    for record in records:
        validator.validate(json.loads(record_file(tmp_path, record).read_text()))
    bad = json.loads(record_file(tmp_path, records[0]).read_text())
    bad["kind"] = "unknown-kind"
    assert list(validator.iter_errors(bad))
