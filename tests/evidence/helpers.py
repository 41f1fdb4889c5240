"""Build small evidence chains through the real writer."""

from __future__ import annotations

from pathlib import Path

from factory_assets.evidence.model import EvidenceRecord
from factory_assets.evidence.store import append_record, new_body


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
