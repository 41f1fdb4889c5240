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
from itertools import compress
from pathlib import Path

import orjson

from factory_assets.common.errors import FactoryError
from factory_assets.common.files import atomic_write_bytes
from factory_assets.common.gc_pause import gc_paused
from factory_assets.evidence.index_scan import Scanned, scan_records
from factory_assets.evidence.layout import INDEX_FILE, record_path
from factory_assets.evidence.merkle import MerkleFrontier
from factory_assets.evidence.validate import (
    Problem,
    RecordSummary,
    check_chain,
    check_head,
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


class _Aggregate:
    """Counts and per-service state, a function of the records in sequence order."""

    def __init__(self, data: dict | None = None) -> None:
        data = data or {}
        self.kinds = Counter(data.get("kinds", {}))
        self.results = Counter(data.get("results", {}))
        self.kind_results = Counter(data.get("kind_results", {}))
        self.services: dict[str, dict[str, bytes]] = {
            name: {slot: _dump_line(line) for slot, line in state.items()}
            for name, state in data.get("services", {}).items()
        }

    def add(self, records: Scanned) -> None:
        """Fold in records that follow everything folded in so far, in sequence order."""
        kinds, results, services, lines = (
            records.kinds,
            records.results,
            records.services,
            records.lines,
        )
        self.kinds.update(kinds)
        self.results.update(results)
        for (kind, result), count in Counter(zip(kinds, results, strict=True)).items():
            self.kind_results[f"{kind}/{result}"] += count
        # dict(zip(...)) keeps the last line per service: the latest in sequence order.
        slots = [("last", dict(zip(services, lines, strict=True)))]
        for kind in sorted(set(kinds)):
            chosen = [k == kind for k in kinds]
            slots.append(
                (
                    f"last_{kind}",
                    dict(zip(compress(services, chosen), compress(lines, chosen), strict=True)),
                )
            )
        pinned = [k == "promotion" and r == "success" for k, r in zip(kinds, results, strict=True)]
        slots.append(
            ("pinned", dict(zip(compress(services, pinned), compress(lines, pinned), strict=True)))
        )
        for slot, latest in slots:
            for service, data in latest.items():
                if service:  # repository-wide records (service null) have no per-service state
                    self.services.setdefault(service, {})[slot] = data

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
    names, problems = list_record_files(repo, ordered=False)  # sorting 100k names: 40 ms
    if problems:
        raise CollectError(problems)
    with gc_paused():
        previous = None if full else _load_previous(out_path)
        if previous is not None:
            result = _collect_incremental(repo, out_path, names, previous)
            if result is not None:
                return result
        return _collect_full(repo, out_path, sorted(names))


def checked_records(repo: Path, names: list[str] | None = None) -> Scanned:
    """Every record in sequence order, once the chain holds; raises CollectError otherwise."""
    if names is None:
        names, problems = list_record_files(repo)
        if problems:
            raise CollectError(problems)
    records = scan_records(repo, names).in_sequence_order()
    if records.problems or not _chain_holds(repo, records):
        # The exact checker names every problem; the fast one above only says yes or no.
        problems = records.problems + check_chain(repo, records.summaries())
        raise CollectError(sorted(set(problems)))
    return records


def _collect_full(repo: Path, out: Path, names: list[str]) -> CollectResult:
    records = checked_records(repo, names)
    # The chain holds: sequences are exactly 1..n, so shard k is a plain slice.
    agg = _Aggregate()
    agg.add(records)
    frontier = MerkleFrontier.from_leaves(records.leaf_list())
    lines = records.lines
    shards = {
        start // SHARD_SIZE: list(enumerate(lines[start : start + SHARD_SIZE], start + 1))
        for start in range(0, len(lines), SHARD_SIZE)
    }
    shard_dir = out.parent / out.stem
    if shard_dir.is_dir():  # shards beyond the new tree size belong to a discarded history
        for stale in shard_dir.glob("[0-9]*.json"):
            if stale.stem.isdigit() and int(stale.stem) not in shards:
                stale.unlink()
    _write_outputs(out, agg, frontier, _head_of(records), shards, {}, records.ids, True)
    return CollectResult(
        out, frontier.size, frontier.size, frontier.root().hex(), len(records), False
    )


def _chain_holds(repo: Path, records: Scanned) -> bool:
    """The whole chain in a few list comparisons: sequences 1..n, links, parents, head."""
    count = len(records)
    if records.sequences != list(range(1, count + 1)):
        return False
    if count and (records.prevs[0] is not None or records.prevs[1:] != records.digests[:-1]):
        return False
    if records.parents:
        digest_of = dict(zip(records.ids, records.digests, strict=True))
        for pairs in records.parents.values():
            if any(digest_of.get(parent) != digest for parent, digest in pairs):
                return False
    tail = list(zip(records.sequences, records.ids, records.digests, strict=True))[-2:]
    return _head_holds(repo, tail)


def _head_holds(repo: Path, tail: list[tuple[int, str, str]]) -> bool:
    """The chain head names the last two records: `tail` is (sequence, id, digest), oldest first."""
    named = [RecordSummary.named(rid, sequence, digest) for sequence, rid, digest in tail]
    last = named[-1] if named else None
    before_last = named[-2] if len(named) > 1 else None
    return not check_head(repo, last, before_last)


def _head_of(records: Scanned) -> dict | None:
    if not len(records):
        return None
    return {
        "sequence": records.sequences[-1],
        "id": records.ids[-1],
        "content_digest": records.digests[-1],
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
    records = scan_records(repo, new_names).in_sequence_order()
    if records.problems:
        raise CollectError(sorted(set(records.problems)))
    head = checkpoint.get("head")
    count = len(records)
    # Anything but a clean extension goes to the full pass, which reports exactly what is wrong.
    if records.sequences != list(range(size + 1, size + count + 1)):
        return None
    if count and records.prevs != [head["content_digest"] if head else None, *records.digests[:-1]]:
        return None
    if not _parents_resolve(repo, records, known_set):
        return None
    if not _head_holds(repo, _tail_after(repo, records, head, known)):
        return None  # a deleted or edited head: the full pass names it
    if not _last_shard_intact(out, previous):
        return None
    if not count:
        return CollectResult(out, size, size, frontier.root().hex(), 0, True)
    agg = _Aggregate(previous)
    agg.add(records)
    shard_meta = {int(Path(m["path"]).stem): m for m in previous.get("shards", [])}
    shards: dict[int, list[tuple[int, bytes]]] = {}
    for sequence, line, leaf in zip(
        records.sequences, records.lines, records.leaf_list(), strict=True
    ):
        number = (sequence - 1) // SHARD_SIZE
        if number not in shards:
            shards[number] = (
                _read_shard(shard_dir / _shard_name(number)) if number in shard_meta else []
            )
        shards[number].append((sequence, line))
        frontier.append_leaf(leaf)
    _write_outputs(out, agg, frontier, _head_of(records), shards, shard_meta, records.ids, False)
    return CollectResult(out, frontier.size, frontier.size, frontier.root().hex(), count, True)


def _tail_after(
    repo: Path, records: Scanned, head: dict | None, known: list[str]
) -> list[tuple[int, str, str]]:
    """The last two records once `records` extend the collected chain, oldest first."""
    tail = list(zip(records.sequences, records.ids, records.digests, strict=True))[-2:]
    if len(tail) < 2 and head:
        tail.insert(0, (head["sequence"], head["id"], head["content_digest"]))
    if len(tail) < 2 and len(known) >= 2:  # nothing new: the one before the collected head
        before = known[-2]
        try:
            integrity = orjson.loads(record_path(repo, before).read_bytes())["integrity"]
            tail.insert(0, (integrity["sequence"], before, integrity["content_digest"]))
        except (OSError, ValueError, KeyError, TypeError):
            return []  # unreadable: no head can match, so the full pass reports it
    return tail[-2:]


def _parents_resolve(repo: Path, records: Scanned, known: set[str]) -> bool:
    fresh = dict(zip(records.ids, records.digests, strict=True))
    for pairs in records.parents.values():
        for parent_id, parent_digest in pairs:
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
