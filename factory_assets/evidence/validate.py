"""Check every record: schema, content digest, chain order, parents, chain head.

Problems are reported as `path: field: what is wrong`, one per line, so a
reader can go straight to the file. Nothing here writes to the repository.
"""

from __future__ import annotations

import functools
import json
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import orjson

from factory_assets.common.files import MAX_STATE_FILE_BYTES
from factory_assets.common.gc_pause import gc_paused
from factory_assets.common.parallel_map import map_batches, plan_batches
from factory_assets.evidence.canonical import canonical_bytes, fast_canonical_bytes, sha256_digest
from factory_assets.evidence.layout import CHAIN_HEAD, RECORDS_DIR
from factory_assets.evidence.vocabulary import KINDS, RESULTS
from factory_assets.evidence.vocabulary import RECORD_ID as RECORD_ID_PATTERN


@functools.cache
def _schema_checker():
    """The record model's validator and its error type, loaded on first use: collect never
    needs them, and importing pydantic would add ~20 ms to every incremental collect."""
    from pydantic import ValidationError

    from factory_assets.evidence.model import EvidenceRecord

    return EvidenceRecord.__pydantic_validator__, ValidationError


RECORD_FILE = re.compile(r"^[0-9A-HJKMNP-TV-Z]{26}\.json$")
RECORD_ID = re.compile(RECORD_ID_PATTERN)


@dataclass(frozen=True, order=True)
class Problem:
    path: str
    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.field}: {self.message}"


class RecordSummary(NamedTuple):
    """What the chain checks need from a record that passed its own checks (cheap to pickle)."""

    path: str
    id: str
    sequence: int
    content_digest: str
    prev_digest: str | None
    parents: tuple[tuple[str, str], ...]

    @classmethod
    def named(
        cls,
        record_id: str,
        sequence: int,
        content_digest: str,
        prev_digest: str | None = None,
        parents: tuple[tuple[str, str], ...] = (),
    ) -> RecordSummary:
        """A summary whose path is the record's own file (built from collected columns)."""
        path = f"{RECORDS_DIR}/{record_id}.json"
        return cls(path, record_id, sequence, content_digest, prev_digest, parents)


def _field_of(loc: tuple) -> str:
    return ".".join(str(part) for part in loc) or "-"


def read_record_bytes(directory_fd: int, name: str) -> bytes:
    """Read one file with few syscalls: records are small, so one 64 KiB read usually suffices."""
    fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW, dir_fd=directory_fd)  # a link is no record
    try:
        data = os.read(fd, 65536)
        if len(data) == 65536:  # rare: a large record; read on, up to just over the cap
            chunks = [data]
            total = len(data)
            while total <= MAX_STATE_FILE_BYTES:
                chunk = os.read(fd, 1 << 20)
                if not chunk:
                    break
                chunks.append(chunk)
                total += len(chunk)
            data = b"".join(chunks)
        return data
    finally:
        os.close(fd)


def check_record_bytes(
    name: str, rel: str, data: bytes, schema: bool = True
) -> tuple[RecordSummary | None, list[Problem], dict | None]:
    """Check one record's bytes alone (not its place in the chain); returns the parsed record too.

    With `schema=False` (collect) only the fields the chain and the index use are checked;
    `validate` checks the whole schema. The content digest is checked either way.
    """
    if len(data) > MAX_STATE_FILE_BYTES:
        return None, [Problem(rel, "-", "file is over the 1 MiB limit")], None
    try:
        raw = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        try:
            data.decode("utf-8")
        except UnicodeDecodeError as bad:
            return (
                None,
                [Problem(rel, "-", f"not UTF-8 (invalid byte at offset {bad.start})")],
                None,
            )
        problem = f"malformed JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
        return None, [Problem(rel, "-", problem)], None
    if not isinstance(raw, dict):
        problem = f"expected a JSON object, found {type(raw).__name__}"
        return None, [Problem(rel, "-", problem)], None
    if schema:
        validator, validation_error = _schema_checker()
        try:
            record = validator.validate_python(raw)
        except validation_error as exc:
            errors = exc.errors(include_url=False)
            return (
                None,
                [Problem(rel, _field_of(e["loc"]), f"{e['msg']} (schema)") for e in errors],
                None,
            )
        fields = (
            record.id,
            record.integrity.sequence,
            record.integrity.content_digest,
            record.integrity.prev_digest,
            tuple((p.id, p.content_digest) for p in record.parents),
        )
    else:
        fields, problems = _index_fields(raw, rel)
        if problems:
            return None, problems, None
    record_id, sequence, claimed, prev_digest, parents = fields
    problems = []
    if name != f"{record_id}.json":
        problems.append(Problem(rel, "id", f"record id {record_id} does not match the file name"))
    integrity = raw.pop("integrity")
    digest = sha256_digest(fast_canonical_bytes(raw))
    if digest != claimed and not schema:
        digest = sha256_digest(canonical_bytes(raw))  # floats or non-ASCII keys: the exact form
    raw["integrity"] = integrity
    if digest != claimed:
        problems.append(
            Problem(
                rel, "integrity.content_digest", f"is {claimed}, but the content hashes to {digest}"
            )
        )
    return RecordSummary(rel, record_id, sequence, claimed, prev_digest, parents), problems, raw


def _index_fields(raw: dict, rel: str) -> tuple[tuple, list[Problem]]:
    """The chain fields and the ones the index summarizes, type-checked without the full schema."""
    try:  # fast path: one expression for a well-formed record (this runs 100k times per collect)
        integrity = raw["integrity"]
        sequence = integrity["sequence"]
        claimed = integrity["content_digest"]
        prev = integrity.get("prev_digest")
        record_id = raw["id"]
        service = raw.get("service")
        parents = raw.get("parents", ())
        # The id's form needs no check here: the caller compares it with the file name,
        # which list_record_files already matched against the ULID pattern.
        ok = (
            type(sequence) is int
            and sequence >= 1
            and type(claimed) is str
            and (prev is None or type(prev) is str)
            and type(record_id) is str
            and (service is None or type(service) is str)
            and raw["kind"] in KINDS
            and raw["result"] in RESULTS
            and type(raw["started_at"]) is str
            and type(raw["finished_at"]) is str
            and type(raw["details"]) is dict
            and type(raw.get("links", {})) is dict
            and type(parents) in (list, tuple)
        )
        pairs = ()
        if ok and parents:
            pairs = tuple((p["id"], p["content_digest"]) for p in parents)
            ok = all(type(a) is str and type(b) is str for a, b in pairs)
    except (KeyError, TypeError, AttributeError):
        ok = False
    if ok:
        return (record_id, sequence, claimed, prev, pairs), []
    return (), _index_problems(raw, rel)


def _index_problems(raw: dict, rel: str) -> list[Problem]:
    """What exactly is wrong with a record the fast path refused, one problem per field."""
    problems = []

    def want(ok: bool, field: str, expected: str) -> None:
        if not ok:
            problems.append(Problem(rel, field, f"expected {expected}"))

    record_id = raw.get("id")
    want(isinstance(record_id, str) and RECORD_ID.match(record_id) is not None, "id", "a ULID")
    want(raw.get("kind") in KINDS, "kind", f"one of {', '.join(KINDS)}")
    service = raw.get("service")
    want(service is None or isinstance(service, str), "service", "a service name or null")
    want(raw.get("result") in RESULTS, "result", f"one of {', '.join(RESULTS)}")
    for field in ("started_at", "finished_at"):
        want(isinstance(raw.get(field), str), field, "an RFC 3339 timestamp")
    want(isinstance(raw.get("details"), dict), "details", "an object")
    want(isinstance(raw.get("links", {}), dict), "links", "an object")
    parents = raw.get("parents", [])
    want(
        isinstance(parents, list)
        and all(
            isinstance(p, dict)
            and isinstance(p.get("id"), str)
            and isinstance(p.get("content_digest"), str)
            for p in parents
        ),
        "parents",
        "a list of {id, content_digest}",
    )
    integrity = raw.get("integrity")
    if not isinstance(integrity, dict):
        problems.append(Problem(rel, "integrity", "expected an object"))
    else:
        sequence = integrity.get("sequence")
        want(type(sequence) is int and sequence >= 1, "integrity.sequence", "an integer >= 1")
        digest = integrity.get("content_digest")
        want(isinstance(digest, str), "integrity.content_digest", "sha256:<hex>")
        prev = integrity.get("prev_digest")
        want(prev is None or isinstance(prev, str), "integrity.prev_digest", "sha256:<hex> or null")
    return problems or [Problem(rel, "-", "not a record the index can summarize")]


def checked_files(
    base: str, names: list[str], problems: list[Problem], schema: bool = True
) -> Iterator[tuple[RecordSummary | None, list[Problem], dict | None]]:
    """`check_record_bytes` of each file of a batch in `base`, read with one open directory;
    a directory or file that cannot be read is a problem appended to `problems`."""
    try:
        directory_fd = os.open(base, os.O_RDONLY)
    except OSError as exc:
        problems.append(
            Problem(RECORDS_DIR, "-", f"cannot open the directory: {exc.strerror or exc}")
        )
        return
    try:
        for name in names:
            rel = f"{RECORDS_DIR}/{name}"
            try:
                data = read_record_bytes(directory_fd, name)
            except OSError as exc:
                problems.append(Problem(rel, "-", f"cannot read: {exc.strerror or exc}"))
                continue
            yield check_record_bytes(name, rel, data, schema)
    finally:
        os.close(directory_fd)


def check_batch(base: str, names: list[str]) -> tuple[list[tuple], list[Problem]]:
    """Check a batch of record files in full; summaries as plain tuples (they pickle faster)."""
    out: list[tuple] = []
    problems: list[Problem] = []
    for summary, found, _ in checked_files(base, names, problems):
        problems.extend(found)
        if summary is not None:
            out.append(tuple(summary))
    return out, problems


def list_record_files(repo: Path, *, ordered: bool = True) -> tuple[list[str], list[Problem]]:
    """Names of record files (sorted unless `ordered=False`), and problems for anything else.

    Names only (no stat per entry): at 100k records this is the fixed cost of every
    incremental collect, which needs no order. A directory or link named like a record fails
    when it is read.
    """
    directory = repo / RECORDS_DIR
    if not directory.exists():
        return [], []
    try:
        entries = os.listdir(directory)
    except OSError as exc:
        return [], [Problem(RECORDS_DIR, "-", f"cannot list the directory: {exc.strerror or exc}")]
    names = list(filter(RECORD_FILE.match, entries))
    problems = []
    if len(names) != len(entries):
        for name in set(entries).difference(names):
            if name == ".gitkeep" or (name.startswith(".") and name.endswith(".tmp")):
                continue  # git's placeholder, or an interrupted atomic write: never in the chain
            problems.append(
                Problem(f"{RECORDS_DIR}/{name}", "-", "not a record file (expected <ULID>.json)")
            )
    if ordered:
        names.sort()
    return names, sorted(problems)


def check_records(
    repo: Path, names: list[str], workers: int | None = None
) -> tuple[list[RecordSummary], list[Problem]]:
    """Per-record checks of every file, spread over the cores when there are many."""
    if not names:
        return [], []
    _schema_checker()  # built once, before the helpers fork: each inherits it ready
    batches, workers = plan_batches(names, workers)
    found: list[RecordSummary] = []
    problems: list[Problem] = []
    for batch_found, batch_problems in map_batches(
        functools.partial(check_batch, str(repo / RECORDS_DIR)), batches, workers
    ):
        found.extend(map(RecordSummary._make, batch_found))
        problems.extend(batch_problems)
    return found, problems


def _chain_order(summary: RecordSummary) -> tuple[int, str]:
    return summary.sequence, summary.id


def check_chain(repo: Path, summaries: list[RecordSummary]) -> list[Problem]:
    """Sequence has no gap or duplicate, each prev_digest links, parents resolve, head matches."""
    problems: list[Problem] = []
    ordered = sorted(summaries, key=_chain_order)
    by_id = {s.id: s for s in summaries}
    expected = 1
    previous = None
    for summary in ordered:
        if summary.sequence < expected:
            problems.append(
                Problem(
                    summary.path,
                    "integrity.sequence",
                    f"duplicate sequence {summary.sequence} (also {previous.path})",
                )
            )
            continue
        if summary.sequence > expected:
            missing = (
                f"{expected}"
                if summary.sequence == expected + 1
                else f"{expected}..{summary.sequence - 1}"
            )
            problems.append(
                Problem(
                    summary.path,
                    "integrity.sequence",
                    f"gap: sequence {missing} is missing before {summary.sequence}",
                )
            )
        wanted_prev = (
            previous.content_digest
            if previous and previous.sequence == summary.sequence - 1
            else None
        )
        if summary.sequence == 1 and summary.prev_digest is not None:
            problems.append(
                Problem(summary.path, "integrity.prev_digest", "must be null for the first record")
            )
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
                    Problem(
                        summary.path,
                        "parents",
                        f"parent {parent_id} has content digest {parent.content_digest}, not {parent_digest}",
                    )
                )
        previous = summary
        expected = summary.sequence + 1
    problems.extend(
        check_head(
            repo,
            ordered[-1] if ordered else None,
            ordered[-2] if len(ordered) > 1 else None,
        )
    )
    return problems


def _names(entry: object, record: RecordSummary | None) -> bool:
    """Whether a head entry names exactly `record` (None: the entry must be null)."""
    if record is None:
        return entry is None
    return isinstance(entry, dict) and (
        entry.get("sequence"),
        entry.get("id"),
        entry.get("content_digest"),
    ) == (record.sequence, record.id, record.content_digest)


def _described(entry: object) -> str:
    if not isinstance(entry, dict):
        return "null" if entry is None else "something that is not an object"
    return f"sequence {entry.get('sequence')} ({entry.get('id')})"


def check_head(
    repo: Path, last: RecordSummary | None, before_last: RecordSummary | None = None
) -> list[Problem]:
    """The chain head file names the last record and the one before it, by sequence, id and
    content digest: a deleted tail record, or a head edited so that the next append would
    fork the chain, shows here."""
    path = repo / CHAIN_HEAD
    if not path.exists():
        return [Problem(CHAIN_HEAD, "head", "missing, but records exist")] if last else []
    try:
        data = json.loads(path.read_bytes()) or {}
        head, previous = data.get("head"), data.get("previous")
    except (ValueError, OSError, AttributeError) as exc:
        return [Problem(CHAIN_HEAD, "-", f"unreadable chain head ({exc})")]
    if last is None:
        return [Problem(CHAIN_HEAD, "head", "names a record but there are none")] if head else []
    if not _names(head, last):
        return [
            Problem(
                CHAIN_HEAD,
                "head",
                f"names {_described(head)}, but the last record is sequence {last.sequence} "
                f"({last.id}): a record was deleted or the head was edited",
            )
        ]
    if not _names(previous, before_last):
        wanted = f"record {before_last.sequence} ({before_last.id})" if before_last else "null"
        return [
            Problem(
                CHAIN_HEAD,
                "previous",
                f"names {_described(previous)}, but should name {wanted}: "
                "after an interrupted append the next one would fork the chain",
            )
        ]
    return []


def validate_repo(repo: Path, workers: int | None = None) -> tuple[int, list[Problem]]:
    """All checks; returns the number of records read and the sorted problems."""
    names, problems = list_record_files(repo)
    with gc_paused():
        found, record_problems = check_records(repo, names, workers)
        problems.extend(record_problems)
        problems.extend(check_chain(repo, found))
    return len(names), sorted(set(problems))
