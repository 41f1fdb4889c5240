"""Read record files into the columns the index is built from (`Scanned`).

Each record is checked for what the index relies on (chain fields, summarized fields, the
content digest) and reduced, where it is read, to its shard line and Merkle leaf hash: the
process that assembles the index then only concatenates and compares lists.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from pathlib import Path

import orjson

from factory_assets.common.parallel_map import map_batches, plan_batches
from factory_assets.evidence.layout import RECORDS_DIR
from factory_assets.evidence.merkle import leaf_hash
from factory_assets.evidence.validate import Problem, RecordSummary, checked_files


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
    for key in ("digest", "tag", "release_id", "verdict", "requested_at", "env"):
        if details.get(key) is not None:
            out[key] = details[key]
    if details.get("error") == "drift":  # the one smoke failure the dashboard names
        out["drift"] = True
    if raw["kind"] == "smoke":  # a judgement of the pin, or only the check's own trouble
        for key in ("verdict_kind", "error"):
            if details.get(key) is not None:
                out[key] = details[key]
    if details.get("rollback_of") or details.get("event") == "rollback":
        out["rollback"] = True
    if links.get("commit"):
        out["commit"] = links["commit"]
    if links.get("dagster_run_id"):
        out["run_id"] = links["dagster_run_id"]
    return out


# Scanned's per-record lists, in the order records were read.
COLUMNS = ("ids", "sequences", "digests", "prevs", "kinds", "results", "services", "lines")


@dataclass
class Scanned:
    """Checked records, one list per field (cheap to send between processes and to sort).

    `lines` are the serialized shard lines; `leaves` the Merkle leaf hashes, 32 bytes each,
    joined. Both are made where the record is read, so the parent only concatenates.
    """

    ids: list[str] = field(default_factory=list)
    sequences: list[int] = field(default_factory=list)
    digests: list[str] = field(default_factory=list)
    prevs: list[str | None] = field(default_factory=list)
    parents: dict[int, tuple[tuple[str, str], ...]] = field(default_factory=dict)  # by position
    kinds: list[str] = field(default_factory=list)
    results: list[str] = field(default_factory=list)
    services: list[str | None] = field(default_factory=list)
    lines: list[bytes] = field(default_factory=list)
    leaves: bytes = b""
    problems: list[Problem] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.ids)

    def __getstate__(self) -> dict:
        # Sent from a scan helper as a few large strings, not 10^5 small objects: pickling
        # and the pipe then cost ~1/4. Lines, ids and (checked) digests never hold a newline.
        state = dict(self.__dict__)
        state["lines"] = b"\n".join(self.lines)
        state["ids"] = "\n".join(self.ids)
        state["digests"] = "\n".join(self.digests)
        return state

    def __setstate__(self, state: dict) -> None:
        for name, empty in (("lines", b""), ("ids", ""), ("digests", "")):
            packed = state[name]
            state[name] = packed.split(b"\n" if empty == b"" else "\n") if packed else []
        self.__dict__.update(state)

    @classmethod
    def concat(cls, parts: list[Scanned]) -> Scanned:
        """The parts one after the other, each column joined once."""
        out = cls(leaves=b"".join(part.leaves for part in parts))
        for part in parts:
            offset = len(out.ids)
            out.parents.update((offset + pos, pairs) for pos, pairs in part.parents.items())
            for name in COLUMNS:
                getattr(out, name).extend(getattr(part, name))
            out.problems.extend(part.problems)
        return out

    def leaf_list(self) -> list[bytes]:
        return [self.leaves[i : i + 32] for i in range(0, len(self.leaves), 32)]

    def in_sequence_order(self) -> Scanned:
        """The same records sorted by sequence (file-name order usually is already)."""
        if all(a < b for a, b in zip(self.sequences, self.sequences[1:], strict=False)):
            return self
        order = sorted(range(len(self.ids)), key=self.sequences.__getitem__)
        where = {old: new for new, old in enumerate(order)}
        leaves = self.leaf_list()
        out = Scanned(problems=list(self.problems))
        for name in COLUMNS:
            column = getattr(self, name)
            setattr(out, name, [column[i] for i in order])
        out.leaves = b"".join(leaves[i] for i in order)
        out.parents = {where[pos]: pairs for pos, pairs in self.parents.items()}
        return out

    def summaries(self) -> list[RecordSummary]:
        """Per-record form for the exact chain checker (only when the fast checks fail)."""
        return [
            RecordSummary.named(record_id, sequence, digest, prev, self.parents.get(pos, ()))
            for pos, (record_id, sequence, digest, prev) in enumerate(
                zip(self.ids, self.sequences, self.digests, self.prevs, strict=True)
            )
        ]


def scan_batch(base: str, names: list[str]) -> Scanned:
    """Read and check a batch of record files, keeping what the index needs of each good one."""
    out = Scanned()
    leaves: list[bytes] = []
    # orjson's output buffers keep ~4 KiB of heap each while alive; copying the lines into one
    # buffer and splitting it once leaves exact-size objects (measured: 270 MB -> 100 MB at 50k).
    lines = bytearray()
    dumps, sort_keys = orjson.dumps, orjson.OPT_SORT_KEYS
    # One object per distinct kind, result and service: pickle then sends each once.
    one_copy = {}.setdefault
    # Full schema validation is `validate`'s job (the nightly runs it first); collect checks
    # what the index relies on: chain fields, summarized fields, the digest.
    for summary, problems, raw in checked_files(base, names, out.problems, schema=False):
        if problems or summary is None:
            out.problems.extend(problems)
            continue
        line = summary_line(raw)
        if summary.parents:
            out.parents[len(out.ids)] = summary.parents
        out.ids.append(summary.id)
        out.sequences.append(summary.sequence)
        out.digests.append(summary.content_digest)
        out.prevs.append(summary.prev_digest)
        out.kinds.append(one_copy(line["kind"], line["kind"]))
        out.results.append(one_copy(line["result"], line["result"]))
        out.services.append(one_copy(line["service"], line["service"]))
        lines += dumps(line, option=sort_keys)
        lines += b"\n"
        leaves.append(leaf_hash(summary.content_digest))
    out.lines = bytes(lines).split(b"\n")[:-1]
    out.leaves = b"".join(leaves)
    return out


def scan_records(repo: Path, names: list[str], workers: int | None = None) -> Scanned:
    """`scan_batch` over all names, spread over the cores; in file-name order."""
    batches, workers = plan_batches(names, workers)
    scan = functools.partial(scan_batch, str(repo / RECORDS_DIR))
    return Scanned.concat(map_batches(scan, batches, workers))
