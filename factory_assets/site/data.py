"""The dashboard's data files: a small summary plus sequence blocks of summaries and records.

- `data/summary.json`: checkpoint, counts, what runs where (`lanes.py`), filter choices and
  one entry per block (sequence and time range, services/kinds/results present,
  file sizes and sha256) so the browser fetches only the blocks a view needs;
- `data/metrics.json`: DORA and latency series (see `metrics.py`);
- `data/timeline/NNNNNN.json`: record summaries, BLOCK_SIZE sequence numbers each;
- `data/records/NNNNNN.json`: the stored records themselves, byte for byte,
  for the detail view and the in-browser integrity check.

Blocks are by sequence so that a nightly build rewrites only the newest block.
"""

from __future__ import annotations

import hashlib
import json

from factory_assets.evidence.merkle import MerkleFrontier

SITE_FORMAT = "factory-site/1"
SUMMARY_FILE = "data/summary.json"
BLOCK_SIZE = 512
MAX_BLOCK_SERVICES = 64  # beyond this a block lists none and the browser simply fetches it
MERKLE_RULE = "RFC 6962 SHA-256 over integrity.content_digest in sequence order"


def dump_json(value: object) -> bytes:
    """Deterministic compact JSON (sorted keys, UTF-8)."""
    return (
        json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False) + "\n"
    ).encode()


def published_size(lines: list[dict]) -> int:
    """How many records the published checkpoint covers: all but trailing `pages` records.

    A `pages` record describes a publication; publishing it again would make
    every publication cause the next one. It is shown once a later record of
    another kind is published.
    """
    size = len(lines)
    while size and lines[size - 1]["kind"] == "pages":
        size -= 1
    return size


def checkpoint_of(lines: list[dict]) -> dict:
    frontier = MerkleFrontier()
    frontier.extend(line["content_digest"] for line in lines)
    last = lines[-1] if lines else None
    return {
        "tree_size": frontier.size,
        "root": frontier.root().hex(),
        "hash": MERKLE_RULE,
        "head": {
            "sequence": last["seq"],
            "id": last["id"],
            "content_digest": last["content_digest"],
        }
        if last
        else None,
    }


def block_path(kind: str, number: int) -> str:
    return f"data/{kind}/{number:06d}.json"


def block_meta(number: int, lines: list[dict], timeline: bytes, records: bytes) -> dict:
    services = sorted({line["service"] for line in lines if line.get("service")})
    times = [line["finished_at"] for line in lines]
    return {
        "block": number,
        "first_seq": lines[0]["seq"],
        "last_seq": lines[-1]["seq"],
        "count": len(lines),
        "first_time": min(times),
        "last_time": max(times),
        "services": services if len(services) <= MAX_BLOCK_SERVICES else None,
        "kinds": sorted({line["kind"] for line in lines}),
        "results": sorted({line["result"] for line in lines}),
        "timeline": _file_meta(block_path("timeline", number), timeline),
        "records": _file_meta(block_path("records", number), records),
    }


def _file_meta(path: str, data: bytes) -> dict:
    return {"path": path, "bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}


def timeline_bytes(number: int, lines: list[dict]) -> bytes:
    return dump_json({"format": SITE_FORMAT, "block": number, "records": lines})


def records_bytes(raws: list[bytes]) -> bytes:
    """A JSON array of the stored records, each kept byte for byte (one per line)."""
    return b"[\n" + b",\n".join(raws) + b"\n]\n"


def counts_of(lines: list[dict]) -> dict:
    kinds: dict[str, int] = {}
    results: dict[str, int] = {}
    for line in lines:
        kinds[line["kind"]] = kinds.get(line["kind"], 0) + 1
        results[line["result"]] = results.get(line["result"], 0) + 1
    return {"kinds": dict(sorted(kinds.items())), "results": dict(sorted(results.items()))}
