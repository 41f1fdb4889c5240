"""Append records to the repository's evidence chain: write-once files plus a head.

The chain head (`evidence/chain-head.json`) names the last record and the one
before it. It is written *before* the record, so a crash between the two
leaves a head whose record is missing; the next append detects that and
falls back to the previous head. Nothing is ever half-written or rewritten.
"""

from __future__ import annotations

import fcntl
import json
import os
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from factory_assets.common.clock import rfc3339, utc_now
from factory_assets.common.errors import InputError
from factory_assets.common.files import atomic_write_bytes, read_bounded
from factory_assets.config import PRODUCER_NAME, PRODUCER_VERSION
from factory_assets.evidence.canonical import canonical_bytes, fast_canonical_bytes, sha256_digest
from factory_assets.evidence.ids import new_record_id
from factory_assets.evidence.layout import CHAIN_HEAD, EVIDENCE_DIR, RECORDS_DIR, record_path
from factory_assets.evidence.model import EvidenceRecord, Integrity, Parent, RecordBody


@dataclass(frozen=True)
class ChainHead:
    sequence: int
    content_digest: str
    id: str

    def as_parent(self) -> Parent:
        return Parent(id=self.id, content_digest=self.content_digest)


def _parse_head(data: dict | None) -> ChainHead | None:
    if not data:
        return None
    return ChainHead(int(data["sequence"]), str(data["content_digest"]), str(data["id"]))


def chain_head_of(data: bytes, has_record: Callable[[str], bool]) -> ChainHead | None:
    """The head that `chain-head.json` bytes name, or its `previous` when `has_record(id)` says
    the head's record is missing (a crash between writing the head and the record).

    Raises ValueError when the bytes are not a chain head. The one parser of the file: a
    checkout (`read_chain_head`) and a bare scratch repository (site publishing) both use it.
    """
    try:
        parsed = json.loads(data)
        head = _parse_head(parsed.get("head"))
        previous = _parse_head(parsed.get("previous"))
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise ValueError(str(exc)) from None
    if head and not has_record(head.id):
        return previous
    return head


def read_chain_head(repo: Path) -> ChainHead | None:
    """The last record of the chain, or None for an empty chain."""
    path = repo / CHAIN_HEAD
    if not path.exists():
        return None
    data = read_bounded(path, field="chain-head")
    try:
        return chain_head_of(data, lambda record_id: record_path(repo, record_id).exists())
    except ValueError as exc:
        raise InputError(path, "head", f"not a valid chain head ({exc})") from None


def chain_head_bytes(head: ChainHead, previous: ChainHead | None) -> bytes:
    """The stored form of `evidence/chain-head.json` naming `head` and the one before it."""

    def as_dict(h: ChainHead | None) -> dict | None:
        return (
            None
            if h is None
            else {"sequence": h.sequence, "content_digest": h.content_digest, "id": h.id}
        )

    return (
        json.dumps({"head": as_dict(head), "previous": as_dict(previous)}, indent=2) + "\n"
    ).encode()


def record_bytes(record: EvidenceRecord) -> bytes:
    """The stored form of a record: canonical JSON plus a trailing newline.

    A sealed record is schema-valid and its body went through RFC 8785 once already (for
    its digest), so the fast form is the same bytes (see `canonical.py`) at a tenth of the
    cost: a tick that requests a thousand releases writes a thousand records.
    """
    return fast_canonical_bytes(record.model_dump(mode="json")) + b"\n"


def _git_dir(repo: Path) -> Path | None:
    """The repository's git directory: `.git`, or where a worktree's `.git` file points."""
    dot_git = repo / ".git"
    if dot_git.is_dir():
        return dot_git
    if dot_git.is_file():
        text = dot_git.read_text(encoding="utf-8", errors="replace").strip()
        if text.startswith("gitdir:"):
            target = Path(text.removeprefix("gitdir:").strip())
            return target if target.is_absolute() else (repo / target).resolve()
    return None


@contextmanager
def _append_lock(repo: Path) -> Iterator[None]:
    lock_dir = repo / EVIDENCE_DIR
    lock_dir.mkdir(parents=True, exist_ok=True)
    # The lock file lives in the git directory when there is one, so it never shows up as a change.
    git_dir = _git_dir(repo)
    lock_path = (git_dir / "factory-evidence.lock") if git_dir else (lock_dir / ".lock")
    with open(lock_path, "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def seal(body: RecordBody, head: ChainHead | None) -> EvidenceRecord:
    """Add the integrity block that chains `body` after `head`."""
    digest = sha256_digest(canonical_bytes(body.model_dump(mode="json")))
    integrity = Integrity(
        content_digest=digest,
        sequence=(head.sequence + 1) if head else 1,
        prev_digest=head.content_digest if head else None,
    )
    return EvidenceRecord(**body.model_dump(), integrity=integrity.model_dump())


def append_record(repo: Path, body: RecordBody) -> EvidenceRecord:
    """Seal `body` onto the repository's chain and write it, atomically."""
    with _append_lock(repo):
        head = read_chain_head(repo)
        record = seal(body, head)
        new_head = ChainHead(record.integrity.sequence, record.integrity.content_digest, record.id)
        atomic_write_bytes(repo / CHAIN_HEAD, chain_head_bytes(new_head, head))
        atomic_write_bytes(record_path(repo, record.id), record_bytes(record), exclusive=True)
        return record


def append_records(
    repo: Path, bodies: Iterable[RecordBody], *, scratch: bool = False
) -> list[EvidenceRecord]:
    """`append_record` for many bodies, under one lock.

    In a checkout, each record goes on the chain exactly as `append_record` puts it there (the
    head is replaced before the record is linked in), so a process killed part way leaves the
    same states as one-by-one appends; one `os.sync()` at the end replaces a fsync per file.
    A `scratch` tree (`GitopsWriter.resets_tree`) is reset to the fetched head before every
    attempt, so what a killed process left there is never committed: each record is created
    in place (no temporary file), the head is written once, after the records, and nothing is
    synced (the commit and the push make them durable).
    """
    records: list[EvidenceRecord] = []
    with _append_lock(repo):
        (repo / RECORDS_DIR).mkdir(parents=True, exist_ok=True)
        previous, head = None, read_chain_head(repo)
        for body in bodies:
            record = seal(body, head)
            previous, head = (
                head,
                ChainHead(record.integrity.sequence, record.integrity.content_digest, record.id),
            )
            if scratch:  # no reader but this writer: create it in place, refusing to replace one
                with open(record_path(repo, record.id), "xb") as fh:
                    fh.write(record_bytes(record))
            else:
                atomic_write_bytes(
                    repo / CHAIN_HEAD, chain_head_bytes(head, previous), durable=False
                )
                atomic_write_bytes(
                    record_path(repo, record.id),
                    record_bytes(record),
                    exclusive=True,
                    durable=False,
                )
            records.append(record)
        if records and scratch:
            atomic_write_bytes(repo / CHAIN_HEAD, chain_head_bytes(head, previous), durable=False)
        elif records:
            os.sync()
    return records


def new_body(
    *,
    kind: str,
    service: str | None,
    result: str,
    details: dict,
    subject: list[dict] | None = None,
    started_at: str | None = None,
    finished_at: str | None = None,
    links: dict | None = None,
    parents: list[dict] | None = None,
    record_id: str | None = None,
) -> RecordBody:
    """Build and validate a record body; raises pydantic.ValidationError on bad fields."""
    now = rfc3339(utc_now())
    return RecordBody.model_validate(
        {
            "id": record_id or new_record_id(),
            "kind": kind,
            "service": service,
            "subject": subject or [],
            "result": result,
            "started_at": started_at or now,
            "finished_at": finished_at or now,
            "producer": {"name": PRODUCER_NAME, "version": PRODUCER_VERSION},
            "links": links or {},
            "parents": parents or [],
            "details": {"kind": kind, **details},
        }
    )


def load_record(repo: Path, record_id: str) -> EvidenceRecord:
    path = record_path(repo, record_id)
    return EvidenceRecord.model_validate_json(read_bounded(path, field="record"))
