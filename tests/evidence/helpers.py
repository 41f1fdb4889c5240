"""Build small evidence chains through the real writer."""

from __future__ import annotations

import json
from pathlib import Path

from factory_assets.evidence.model import EvidenceRecord
from factory_assets.evidence.store import ChainHead, append_record, chain_head_bytes, new_body


def write_chain(repo: Path, count: int, service: str = "api") -> list[EvidenceRecord]:
    records: list[EvidenceRecord] = []
    for n in range(count):
        parents = (
            [{"id": records[-1].id, "content_digest": records[-1].integrity.content_digest}]
            if records and n % 2
            else []
        )
        kind = "smoke" if n % 2 else "promotion"
        details = (
            {"method": "http", "verdict": "passed", "duration_ms": 10 + n}
            if kind == "smoke"
            else {
                "release_id": f"r{n}",
                "tag": f"1.0.{n}",
                "digest": "sha256:" + f"{n:02x}" * 32,
                "attempt": 1,
            }
        )
        records.append(
            append_record(
                repo,
                new_body(
                    kind=kind,
                    service=service,
                    result="success",
                    details=details,
                    subject=[
                        {"name": f"registry.local/{service}", "digest": {"sha256": f"{n:02x}" * 32}}
                    ],
                    parents=parents,
                ),
            )
        )
    return records


def record_file(repo: Path, record: EvidenceRecord) -> Path:
    return repo / "evidence" / "records" / f"{record.id}.json"


def rewrite_tail(repo: Path, keep: int, count: int) -> list[EvidenceRecord]:
    """Replace every record after sequence `keep` by `count` new ones, consistently:
    digests, `prev_digest` links and the chain head are all recomputed by the real writer,
    so validate and collect find nothing wrong. Only published checkpoints can tell."""
    records_dir = repo / "evidence" / "records"
    by_sequence = {}
    for path in records_dir.glob("*.json"):
        record = json.loads(path.read_bytes())
        by_sequence[record["integrity"]["sequence"]] = (path, record)
    for sequence, (path, _) in by_sequence.items():
        if sequence > keep:
            path.unlink()
    head, previous = (by_sequence.get(keep), by_sequence.get(keep - 1))
    heads = [
        ChainHead(r["integrity"]["sequence"], r["integrity"]["content_digest"], r["id"])
        if r
        else None
        for r in (head and head[1], previous and previous[1])
    ]
    (repo / "evidence" / "chain-head.json").write_bytes(chain_head_bytes(heads[0], heads[1]))
    return [
        append_record(
            repo,
            new_body(
                kind="promotion",
                service="api",
                result="success",
                details={
                    "release_id": f"rewritten-{n}",
                    "tag": f"6.6.{n}",
                    "digest": "sha256:" + "66" * 32,
                    "attempt": 1,
                },
                subject=[{"name": "registry.local/api", "digest": {"sha256": "66" * 32}}],
            ),
        )
        for n in range(count)
    ]
