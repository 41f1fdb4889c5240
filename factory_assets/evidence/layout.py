"""Where evidence lives inside the GitOps repository."""

from __future__ import annotations

from pathlib import Path

EVIDENCE_DIR = "evidence"
RECORDS_DIR = "evidence/records"
CHAIN_HEAD = "evidence/chain-head.json"
INDEX_FILE = "evidence/index.json"
INDEX_DIR = "evidence/index"  # the shards and ids.txt beside INDEX_FILE
SCHEMA_FILE = "evidence/schema/evidence-record.schema.json"


def records_dir(repo: Path) -> Path:
    return repo / RECORDS_DIR


def record_path(repo: Path, record_id: str) -> Path:
    return repo / RECORDS_DIR / f"{record_id}.json"
