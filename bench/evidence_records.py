"""Generate N evidence records by the documented rule, fast (no fsync), for benchmarks.

Each record is built as plain JSON, its content digest computed as
sha256 over the RFC 8785 form of the record without `integrity`
(with the `rfc8785` library), and chained by sequence and prev_digest.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
from pathlib import Path

import rfc8785

from factory_assets.evidence.ids import encode_ulid

SERVICES = [f"svc-{i:03d}" for i in range(40)]
BASE_MS = 1_767_225_600_000  # 2026-01-01T00:00:00Z


def _ts(ms: int) -> str:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def generate(
    repo: Path,
    count: int,
    *,
    start_sequence: int = 1,
    prev_digest: str | None = None,
    seed: int = 7,
) -> str | None:
    """Append `count` records after (start_sequence-1, prev_digest); returns the last digest."""
    rng = random.Random(seed + start_sequence)
    records = repo / "evidence" / "records"
    records.mkdir(parents=True, exist_ok=True)
    last_id = None
    head_file = repo / "evidence" / "chain-head.json"
    # The head also names the record before the last (the documented rule): for a one-record
    # continuation that is the existing head.
    before_last = json.loads(head_file.read_text())["head"] if start_sequence > 1 else None
    for offset in range(count):
        seq = start_sequence + offset
        ms = BASE_MS + seq * 60_000
        record_id = encode_ulid(ms, rng.getrandbits(80))
        kind = "promotion" if seq % 3 else "smoke"
        service = SERVICES[seq % len(SERVICES)]
        digest_hex = hashlib.sha256(f"image-{seq}".encode()).hexdigest()
        if kind == "promotion":
            details = {
                "kind": "promotion",
                "release_id": f"r-{seq}",
                "image": f"registry.local/team/{service}",
                "tag": f"1.{seq}.0",
                "digest": f"sha256:{digest_hex}",
                "requested_at": _ts(ms - 30_000),
                "attempt": 1,
            }
            result = "success" if seq % 17 else "failure"
        else:
            details = {
                "kind": "smoke",
                "method": "http",
                "verdict": "passed" if seq % 11 else "failed",
                "duration_ms": 1200,
            }
            result = "success" if seq % 11 else "failure"
        body = {
            "schema_version": 1,
            "id": record_id,
            "kind": kind,
            "service": service,
            "subject": [
                {"name": f"registry.local/team/{service}", "digest": {"sha256": digest_hex}}
            ],
            "result": result,
            "started_at": _ts(ms - 5_000),
            "finished_at": _ts(ms),
            "producer": {"name": "bench", "version": "1"},
            "links": {},
            "parents": [{"id": last_id, "content_digest": prev_digest}]
            if (last_id and kind == "smoke")
            else [],
            "details": details,
        }
        digest = "sha256:" + hashlib.sha256(rfc8785.dumps(body)).hexdigest()
        record = {
            **body,
            "integrity": {"content_digest": digest, "sequence": seq, "prev_digest": prev_digest},
        }
        (records / f"{record_id}.json").write_bytes(
            json.dumps(record, separators=(",", ":")).encode()
        )
        if offset == count - 2:
            before_last = {"sequence": seq, "content_digest": digest, "id": record_id}
        prev_digest, last_id = digest, record_id
    head = {
        "head": {
            "sequence": start_sequence + count - 1,
            "content_digest": prev_digest,
            "id": last_id,
        },
        "previous": before_last,
    }
    head_file.write_text(json.dumps(head, indent=2) + "\n")
    os.sync()
    return prev_digest
