"""Check every record: schema, content digest, chain order, parents, chain head.

Problems are reported as `path: field: what is wrong`, one per line, so a
reader can go straight to the file. Nothing here writes to the repository.
"""

from __future__ import annotations

import json
import os
import re
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from pydantic import ValidationError

from factory_assets.common.files import MAX_STATE_FILE_BYTES
from factory_assets.evidence.canonical import fast_canonical_bytes, sha256_digest
from factory_assets.evidence.layout import CHAIN_HEAD, RECORDS_DIR
from factory_assets.evidence.model import EvidenceRecord

RECORD_FILE = re.compile(r"^[0-9A-HJKMNP-TV-Z]{26}\.json$")


@dataclass(frozen=True, order=True)
class Problem:
    path: str
    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.field}: {self.message}"


@dataclass(frozen=True)
class RecordSummary:
    """What the chain checks need from a record that passed its own checks."""

    path: str
    id: str
    sequence: int
    content_digest: str
    prev_digest: str | None
    parents: tuple[tuple[str, str], ...]
    record: dict


def _field_of(loc: tuple) -> str:
    return ".".join(str(part) for part in loc) or "-"


def check_record_file(path: Path, rel: str, keep: bool = False) -> tuple[RecordSummary | None, list[Problem]]:
    """Read one record file and check it alone (not its place in the chain)."""
    try:
        with open(path, "rb") as fh:
            size = os.fstat(fh.fileno()).st_size
            if size > MAX_STATE_FILE_BYTES:
                return None, [Problem(rel, "-", f"file is {size} bytes, over the 1 MiB limit")]
            data = fh.read()
    except OSError as exc:
        return None, [Problem(rel, "-", f"cannot read: {exc.strerror or exc}")]
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        return None, [Problem(rel, "-", f"not UTF-8 (invalid byte at offset {exc.start})")]
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as exc:
        return None, [Problem(rel, "-", f"malformed JSON: {exc.msg} at line {exc.lineno} column {exc.colno}")]
    if not isinstance(raw, dict):
        return None, [Problem(rel, "-", f"expected a JSON object, found {type(raw).__name__}")]
    try:
        record = EvidenceRecord.model_validate(raw)
    except ValidationError as exc:
        return None, [
            Problem(rel, _field_of(err["loc"]), f"{err['msg']} (schema)") for err in exc.errors(include_url=False)
        ]
    problems = []
    expected_name = f"{record.id}.json"
    if path.name != expected_name:
        problems.append(Problem(rel, "id", f"record id {record.id} does not match the file name"))
    body = {k: v for k, v in raw.items() if k != "integrity"}
    digest = sha256_digest(fast_canonical_bytes(body))
    if digest != record.integrity.content_digest:
        problems.append(
            Problem(rel, "integrity.content_digest", f"is {record.integrity.content_digest}, but the content hashes to {digest}")
        )
    summary = RecordSummary(
        path=rel,
        id=record.id,
        sequence=record.integrity.sequence,
        content_digest=record.integrity.content_digest,
        prev_digest=record.integrity.prev_digest,
        parents=tuple((p.id, p.content_digest) for p in record.parents),
        record=raw if keep else {},
    )
    return summary, problems


def _check_batch(args: tuple[str, list[str]]) -> tuple[list[RecordSummary], list[Problem]]:
    base, names = args
    summaries, problems = [], []
    root = Path(base)
    for name in names:
        summary, found = check_record_file(root / name, f"{RECORDS_DIR}/{name}")
        problems.extend(found)
        if summary is not None:
            summaries.append(summary)
    return summaries, problems


def list_record_files(repo: Path) -> tuple[list[str], list[Problem]]:
    """Names of record files, and problems for anything else in the directory."""
    directory = repo / RECORDS_DIR
    if not directory.exists():
        return [], []
    try:
        entries = list(os.scandir(directory))
    except OSError as exc:
        return [], [Problem(RECORDS_DIR, "-", f"cannot list the directory: {exc.strerror or exc}")]
    names, problems = [], []
    for entry in entries:
        if entry.name.startswith(".") and entry.name.endswith(".tmp"):
            continue  # an interrupted atomic write; never part of the chain
        if RECORD_FILE.match(entry.name) and entry.is_file(follow_symlinks=False):
            names.append(entry.name)
        else:
            problems.append(Problem(f"{RECORDS_DIR}/{entry.name}", "-", "not a record file (expected <ULID>.json)"))
    names.sort()
    return names, problems


def check_records(repo: Path, names: list[str], workers: int | None = None) -> tuple[list[RecordSummary], list[Problem]]:
    """Per-record checks, spread over processes when there are many records."""
    base = str(repo / RECORDS_DIR)
    workers = workers or min(os.cpu_count() or 1, 4)
    if len(names) < 2000 or workers < 2:
        return _check_batch((base, names))
    chunk = max(500, len(names) // (workers * 4))
    batches = [(base, names[i : i + chunk]) for i in range(0, len(names), chunk)]
    summaries: list[RecordSummary] = []
    problems: list[Problem] = []
    with ProcessPoolExecutor(max_workers=workers) as pool:
        for found_summaries, found_problems in pool.map(_check_batch, batches):
            summaries.extend(found_summaries)
            problems.extend(found_problems)
    return summaries, problems


def check_chain(repo: Path, summaries: list[RecordSummary]) -> list[Problem]:
    """Sequence has no gap or duplicate, each prev_digest links, parents resolve, head matches."""
    problems: list[Problem] = []
    ordered = sorted(summaries, key=lambda s: (s.sequence, s.id))
    by_id = {s.id: s for s in summaries}
    expected = 1
    previous = None
    for summary in ordered:
        if summary.sequence < expected:
            problems.append(
                Problem(summary.path, "integrity.sequence", f"duplicate sequence {summary.sequence} (also {previous.path})")
            )
            continue
        if summary.sequence > expected:
            missing = f"{expected}" if summary.sequence == expected + 1 else f"{expected}..{summary.sequence - 1}"
            problems.append(
                Problem(summary.path, "integrity.sequence", f"gap: sequence {missing} is missing before {summary.sequence}")
            )
        wanted_prev = previous.content_digest if previous and previous.sequence == summary.sequence - 1 else None
        if summary.sequence == 1 and summary.prev_digest is not None:
            problems.append(Problem(summary.path, "integrity.prev_digest", "must be null for the first record"))
        elif wanted_prev is not None and summary.prev_digest != wanted_prev:
            problems.append(
                Problem(
                    summary.path,
                    "integrity.prev_digest",
                    f"is {summary.prev_digest}, but record {summary.sequence - 1} ({previous.path}) has {wanted_prev}",
                )
            )
        for parent_id, parent_digest in summary.parents:
            parent = by_id.get(parent_id)
            if parent is None:
                problems.append(Problem(summary.path, "parents", f"unknown parent {parent_id}"))
            elif parent.content_digest != parent_digest:
                problems.append(
                    Problem(summary.path, "parents", f"parent {parent_id} has content digest {parent.content_digest}, not {parent_digest}")
                )
        previous = summary
        expected = summary.sequence + 1
    problems.extend(_check_head(repo, ordered[-1] if ordered else None))
    return problems


def _check_head(repo: Path, last: RecordSummary | None) -> list[Problem]:
    path = repo / CHAIN_HEAD
    if not path.exists():
        return [Problem(CHAIN_HEAD, "head", "missing, but records exist")] if last else []
    try:
        head = (json.loads(path.read_bytes()) or {}).get("head")
    except (ValueError, OSError, AttributeError) as exc:
        return [Problem(CHAIN_HEAD, "-", f"unreadable chain head ({exc})")]
    if last is None:
        return [Problem(CHAIN_HEAD, "head", "names a record but there are none")] if head else []
    if not isinstance(head, dict):
        return [Problem(CHAIN_HEAD, "head", "expected an object")]
    if head.get("sequence") != last.sequence or head.get("content_digest") != last.content_digest:
        return [
            Problem(
                CHAIN_HEAD,
                "head",
                f"names sequence {head.get('sequence')}, but the last record is {last.sequence} ({last.path}): "
                "a record was deleted or the head was edited",
            )
        ]
    return []


def validate_repo(repo: Path, workers: int | None = None) -> tuple[int, list[Problem]]:
    """All checks; returns the number of records read and the sorted problems."""
    names, problems = list_record_files(repo)
    summaries, found = check_records(repo, names, workers)
    problems.extend(found)
    problems.extend(check_chain(repo, summaries))
    return len(names), sorted(set(problems))
