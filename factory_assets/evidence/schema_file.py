"""The committed JSON Schema file, generated from the pydantic model."""

from __future__ import annotations

import json
from pathlib import Path

from factory_assets.common.files import atomic_write_text
from factory_assets.evidence.layout import SCHEMA_FILE
from factory_assets.evidence.model import record_json_schema


def schema_text() -> str:
    return json.dumps(record_json_schema(), indent=2, sort_keys=True) + "\n"


def write_schema_file(repo: Path) -> Path:
    path = repo / SCHEMA_FILE
    atomic_write_text(path, schema_text())
    return path


def check_schema_file(repo: Path) -> str | None:
    """None when the committed schema equals the model's; else what differs."""
    path = repo / SCHEMA_FILE
    if not path.exists():
        return f"{SCHEMA_FILE}: -: missing; run `factory evidence schema` to generate it"
    if path.read_text(encoding="utf-8") != schema_text():
        return f"{SCHEMA_FILE}: -: differs from the model; run `factory evidence schema` to regenerate it"
    return None
