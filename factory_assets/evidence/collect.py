"""Collect the records into a deterministic, incrementally updated index.

Layout for `--out evidence/index.json`:
- `evidence/index.json`: counts, latest state per service, the Merkle checkpoint
  (root, tree size and the frontier that makes appending cheap) and the shard list;
- `evidence/index/NNNNNN.json`: record summaries, 4096 sequence numbers per shard;
- `evidence/index/ids.txt`: record ids in sequence order (what is already collected).

The same records always give byte-identical files, whether built in one go
or incrementally: every aggregate is a function of the records in sequence order.
"""

from __future__ import annotations

import hashlib
import os
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import orjson

from factory_assets.common.errors import FactoryError
from factory_assets.common.files import atomic_write_bytes
from factory_assets.evidence.layout import INDEX_FILE, record_path
from factory_assets.evidence.merkle import MerkleFrontier, leaf_hash
from factory_assets.evidence.validate import (
    Problem,
    RecordSummary,
    check_chain,
    check_records,
    list_record_files,
)

INDEX_FORMAT = "factory-evidence-index/1"
SHARD_SIZE = 4096


class CollectError(FactoryError):
    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        lines = "\n".join(str(p) for p in problems[:50])
        more = f"\n... and {len(problems) - 50} more" if len(problems) > 50 else ""
        super().__init__(f"the records do not hold; index left unchanged:\n{lines}{more}")


@dataclass(frozen=True)
class CollectResult:
    path: Path
    record_count: int
    tree_size: int
    root: str
    new_records: int
    incremental: bool


def summarize(raw: dict) -> tuple[str, str, str | None, bytes, bytes]:
    """(kind, result, service, line, leaf): the shard line, serialized, and the Merkle leaf hash.

    Workers serialize lines and hash leaves themselves, so that the parent's serial work is
    small and only bytes cross the process boundary.
    """
    line = summary_line(raw)
    return (
        line["kind"],
        line["result"],
        line["service"],
        orjson.dumps(line, option=orjson.OPT_SORT_KEYS),
        leaf_hash(line["content_digest"]),
    )


def summary_line(raw: dict) -> dict:
    """The per-record line in a shard: enough for timelines, matrices and the Merkle tree."""
    details = raw.get("details") or {}
    links = raw.get("links") or {}
    out = {
        "seq": raw["integrity"]["sequence"],
        "id": raw["id"],
        "kind": raw["kind"],
        "service": raw.get("service"),
        "result": raw["result"],
        "started_at": raw["started_at"],
        "finished_at": raw["finished_at"],
        "content_digest": raw["integrity"]["content_digest"],
    }
    for key in ("digest", "tag", "release_id", "verdict", "requested_at"):
        if details.get(key) is not None:
            out[key] = details[key]
    if links.get("commit"):
        out["commit"] = links["commit"]
    if links.get("dagster_run_id"):
        out["run_id"] = links["dagster_run_id"]
    return out


def _read_records(
    repo: Path, names: list[str]
) -> tuple[list[tuple[RecordSummary, dict]], list[Problem]]:
    # Full schema validation is `validate`'s job (the nightly runs it first); collect checks
    # what the index relies on: the chain fields, the summarized fields and every content digest.
    return check_records(repo, names, line_of=summarize, schema=False)


Line = tuple[str, str, str | None, bytes, bytes]  # kind, result, service, summary, leaf hash


class _Aggregate:
    """Counts and per-service state, updated record by record in sequence order."""

    def __init__(self, data: dict | None = None) -> None:
        data = data or {}
        self.kinds = Counter(data.get("kinds", {}))
        self.results = Counter(data.get("results", {}))
        self.kind_results = Counter(data.get("kind_results", {}))
        self.services: dict[str, dict[str, bytes]] = {
            name: {slot: _dump_line(line) for slot, line in state.items()}
            for name, state in data.get("services", {}).items()
        }

    def add(self, line: Line) -> None:
        kind, result, service, data, _ = line
        self.kinds[kind] += 1
        self.results[result] += 1
        self.kind_results[f"{kind}/{result}"] += 1
        if not service:
            return
        state = self.services.setdefault(service, {})
        state["last"] = data
        state[f"last_{kind}"] = data
        if kind == "promotion" and result == "success":
            state["pinned"] = data

    def add_all(self, lines: list[Line]) -> None:
        """`add` for many lines in sequence order, with the per-record work in C-level loops."""
        self.kinds.update(line[0] for line in lines)
        self.results.update(line[1] for line in lines)
        self.kind_results.update(f"{line[0]}/{line[1]}" for line in lines)
        named = [line for line in lines if line[2]]
        updates: dict[str, dict[str, bytes]] = {}
        for slot, chosen in (
            ("last", {line[2]: line[3] for line in named}),
            *(
                (f"last_{kind}", {line[2]: line[3] for line in named if line[0] == kind})
                for kind in {line[0] for line in named}
            ),
            (
                "pinned",
                {
                    line[2]: line[3]
                    for line in named
                    if line[0] == "promotion" and line[1] == "success"
                },
            ),
        ):
            for service, data in chosen.items():
                updates.setdefault(service, {})[slot] = data
        for service, slots in updates.items():
            self.services.setdefault(service, {}).update(slots)

    def as_dict(self) -> dict:
        return {
            "kinds": dict(sorted(self.kinds.items())),
            "results": dict(sorted(self.results.items())),
            "kind_results": dict(sorted(self.kind_results.items())),
            "services": {
                name: {slot: orjson.loads(data) for slot, data in sorted(state.items())}
                for name, state in sorted(self.services.items())
            },
        }


def _dump_line(line: dict) -> bytes:
    return orjson.dumps(line, option=orjson.OPT_SORT_KEYS)


def _shard_bytes(number: int, lines: list[bytes]) -> bytes:
    # Keys in sorted order, as orjson would write them: format, records, shard.
    head = b'{"format":' + orjson.dumps(INDEX_FORMAT) + b',"records":['
    return head + b",".join(lines) + b'],"shard":' + str(number).encode() + b"}\n"


def _shard_name(index: int) -> str:
    return f"{index:06d}.json"


def _write_outputs(
    out: Path,
    agg: _Aggregate,
    frontier: MerkleFrontier,
    head: dict | None,
    shards: dict[int, list[tuple[int, bytes]]],
    shard_meta: dict[int, dict],
    new_ids: list[str],
    ids_rewrite: bool,
) -> None:
    shard_dir = out.parent / out.stem
    shard_dir.mkdir(parents=True, exist_ok=True)
    for number, entries in sorted(shards.items()):
        data = _shard_bytes(number, [line for _, line in entries])
        atomic_write_bytes(shard_dir / _shard_name(number), data, durable=False)
        shard_meta[number] = {
            "path": f"{out.stem}/{_shard_name(number)}",
            "first_sequence": entries[0][0],
            "last_sequence": entries[-1][0],
            "count": len(entries),
            "sha256": hashlib.sha256(data).hexdigest(),
        }
    ids_path = shard_dir / "ids.txt"
    added = "".join(f"{i}\n" for i in new_ids).encode()
    if ids_rewrite or not ids_path.exists():
        atomic_write_bytes(ids_path, added, durable=False)
    elif added:
        atomic_write_bytes(ids_path, ids_path.read_bytes() + added, durable=False)
    index = {
        "format": INDEX_FORMAT,
        "record_count": frontier.size,
        "checkpoint": {
            "tree_size": frontier.size,
            "root": frontier.root().hex(),
            "hash": "RFC 6962 SHA-256 over integrity.content_digest in sequence order",
            "frontier": frontier.to_hex(),
            "head": head,
        },
        **agg.as_dict(),
        "shards": [shard_meta[k] for k in sorted(shard_meta)],
    }
    atomic_write_bytes(
        out, orjson.dumps(index, option=orjson.OPT_SORT_KEYS | orjson.OPT_INDENT_2) + b"\n"
    )


def _load_previous(out: Path) -> dict | None:
    try:
        data = orjson.loads(out.read_bytes())
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or data.get("format") != INDEX_FORMAT:
        return None
    return data


def resolve_out(repo: Path, out: str | os.PathLike | None) -> Path:
    """`--out` relative to the current directory (as a user typed it); default inside the repo."""
    return Path(out).resolve() if out else repo / INDEX_FILE


def collect_index(
    repo: Path, out: str | os.PathLike | None = None, full: bool = False
) -> CollectResult:
    """Build or extend the index; raises CollectError (nothing written) when records are bad."""
    out_path = resolve_out(repo, out)
    names, problems = list_record_files(repo)
    if problems:
        raise CollectError(problems)
    previous = None if full else _load_previous(out_path)
    if previous is not None:
        result = _collect_incremental(repo, out_path, names, previous)
        if result is not None:
            return result
    return _collect_full(repo, out_path, names)


def _collect_full(repo: Path, out: Path, names: list[str]) -> CollectResult:
    found, problems = _read_records(repo, names)
    problems += check_chain(repo, [summary for summary, _ in found])
    if problems:
        raise CollectError(sorted(set(problems)))
    found.sort(key=lambda pair: pair[0].sequence)
    # The chain holds (checked above): sequences are exactly 1..n, so shard k is a plain slice.
    lines = [line for _, line in found]
    agg = _Aggregate()
    agg.add_all(lines)
    frontier = MerkleFrontier.from_leaves([line[4] for line in lines])
    shards = {
        start // SHARD_SIZE: [
            (start + i + 1, line[3]) for i, line in enumerate(lines[start : start + SHARD_SIZE])
        ]
        for start in range(0, len(lines), SHARD_SIZE)
    }
    head = _head_of(found[-1][0]) if found else None
    shard_dir = out.parent / out.stem
    if shard_dir.is_dir():  # shards beyond the new tree size belong to a discarded history
        for stale in shard_dir.glob("[0-9]*.json"):
            if stale.stem.isdigit() and int(stale.stem) not in shards:
                stale.unlink()
    _write_outputs(out, agg, frontier, head, shards, {}, [s.id for s, _ in found], ids_rewrite=True)
    return CollectResult(
        out, frontier.size, frontier.size, frontier.root().hex(), len(found), False
    )


def _head_of(summary: RecordSummary) -> dict:
    return {
        "sequence": summary.sequence,
        "id": summary.id,
        "content_digest": summary.content_digest,
    }


def _collect_incremental(
    repo: Path, out: Path, names: list[str], previous: dict
) -> CollectResult | None:
    """Extend the previous index by the new records; None means "rebuild in full"."""
    checkpoint = previous.get("checkpoint") or {}
    size = checkpoint.get("tree_size", 0)
    shard_dir = out.parent / out.stem
    try:
        known = (shard_dir / "ids.txt").read_text().split()
        frontier = MerkleFrontier.from_hex(size, checkpoint.get("frontier", []))
    except (OSError, ValueError):
        return None
    if len(known) != size or len(names) < size:
        return None
    known_set = set(known)
    new_names = [n for n in names if n[:-5] not in known_set]
    if len(names) - len(new_names) != size:
        return None  # a collected record disappeared: the full pass reports exactly what
    found, problems = _read_records(repo, new_names)
    if problems:
        raise CollectError(sorted(set(problems)))
    found.sort(key=lambda pair: pair[0].sequence)
    head = checkpoint.get("head")
    prev_digest = head["content_digest"] if head else None
    for offset, (summary, _) in enumerate(found):
        if summary.sequence != size + offset + 1 or summary.prev_digest != prev_digest:
            return None  # not a clean extension: the full pass reports exactly what is wrong
        prev_digest = summary.content_digest
    if not _parents_resolve(repo, [s for s, _ in found], known_set):
        return None
    if not _last_shard_intact(out, previous):
        return None
    if not found:
        return CollectResult(out, size, size, frontier.root().hex(), 0, True)
    agg = _Aggregate(previous)
    shard_meta = {int(Path(m["path"]).stem): m for m in previous.get("shards", [])}
    shards: dict[int, list[tuple[int, bytes]]] = {}
    for summary, line in found:
        number = (summary.sequence - 1) // SHARD_SIZE
        if number not in shards:
            shards[number] = (
                _read_shard(shard_dir / _shard_name(number)) if number in shard_meta else []
            )
        shards[number].append((summary.sequence, line[3]))
        agg.add(line)
        frontier.append_leaf(line[4])
    _write_outputs(
        out,
        agg,
        frontier,
        _head_of(found[-1][0]),
        shards,
        shard_meta,
        [s.id for s, _ in found],
        False,
    )
    return CollectResult(out, frontier.size, frontier.size, frontier.root().hex(), len(found), True)


def _parents_resolve(repo: Path, summaries: list[RecordSummary], known: set[str]) -> bool:
    fresh = {s.id: s.content_digest for s in summaries}
    for summary in summaries:
        for parent_id, parent_digest in summary.parents:
            if parent_id in fresh:
                stored = fresh[parent_id]
            elif parent_id in known:
                try:
                    stored = orjson.loads(record_path(repo, parent_id).read_bytes())["integrity"][
                        "content_digest"
                    ]
                except (OSError, ValueError, KeyError, TypeError):
                    return False
            else:
                return False
            if stored != parent_digest:
                return False
    return True


def _last_shard_intact(out: Path, previous: dict) -> bool:
    shards = previous.get("shards") or []
    if not shards:
        return True
    last = shards[-1]
    try:
        data = (out.parent / last["path"]).read_bytes()
    except (OSError, KeyError):
        return False
    return hashlib.sha256(data).hexdigest() == last.get("sha256")


def _read_shard(path: Path) -> list[tuple[int, bytes]]:
    return [(line["seq"], _dump_line(line)) for line in orjson.loads(path.read_bytes())["records"]]
