"""`add_release`: validate a release request and append it to the queue as `pending`.

Validation happens before anything is written: the service name (it becomes a file name),
the tag or digest grammar, the image (`host/repository`, on HARBOR_URL's host), a unique id.
With `push=True` the entry is committed and pushed through the compare-and-swap writer
(re-applied on a fresh head after a lost race) together with a `requested` evidence
record, which becomes the parent of the release's first attempt record. Without it, only
the checkout's `release/queue.yaml` is edited (no record: the user commits the file).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from factory_assets.common.clock import rfc3339
from factory_assets.common.errors import InputError
from factory_assets.layout.config import DEFAULT_ENV, check_env
from factory_assets.layout.queue_codecs import queue_codec
from factory_assets.layout.targets import TargetResolver
from factory_assets.pins.pin_file import check_service_name
from factory_assets.release.model import ReleaseEntry
from factory_assets.release.queue_codec import RequestDraft
from factory_assets.release.queue_file import (
    QueueDocument,
    load_queue,
    queue_relpath,
    save_queue,
)
from factory_assets.release.request_checks import ARGS

# The evidence store and GitPython are imported where a pushed request records and commits:
# `factory release add` without --push needs neither.
if TYPE_CHECKING:
    from factory_assets.evidence.model import RecordBody
    from resources.gitops import GitopsWriter


@dataclass(frozen=True)
class AddResult:
    entry: ReleaseEntry
    commit: str | None = None
    pushed: bool = False
    evidence_id: str | None = None
    message: str = ""


def build_entry(
    repo: Path,
    *,
    service: str,
    tag: str | None = None,
    digest: str | None = None,
    image: str | None = None,
    requested_by: str | None = None,
    now: datetime | None = None,
    release_id: str | None = None,
    harbor_url: str | None = None,
    env: str = DEFAULT_ENV,
    resolver: TargetResolver | None = None,
) -> ReleaseEntry:
    """A validated pending entry in the shape the queue's format takes (raises InputError
    naming the argument and what is wrong).

    A caller building many entries from one tree passes that tree's `resolver`, so
    factory.yaml (and the service map) are parsed once per batch, not once per entry.
    """
    check_service_name(service)
    try:
        check_env(env)
    except ValueError as exc:
        raise InputError(ARGS, "--env", str(exc)) from None
    resolver = resolver or TargetResolver.for_tree(repo)
    draft = RequestDraft(
        service=service,
        env=env,
        tag=tag,
        digest=digest,
        image=image,
        requested_by=requested_by or "",
        now=now,
        release_id=release_id,
        harbor_url=harbor_url,
    )
    return queue_codec(resolver.layout).new_request(Path(repo), draft, resolver)


def append_entry(
    tree: Path, entry: ReleaseEntry, *, record: bool, links: dict | None = None
) -> AddResult:
    """Append `entry` to the queue under `tree` (refusing a duplicate id); optionally record it."""
    (result,) = append_entries(tree, [entry], record=record, links=links)
    return result


def append_entries(
    tree: Path,
    entries: Sequence[ReleaseEntry],
    *,
    record: bool,
    links: dict | None = None,
    doc: QueueDocument | None = None,
    scratch: bool = False,
) -> list[AddResult]:
    """Append every entry in one load and one save of the queue; optionally record each.

    The queue is parsed and rewritten once however many entries arrive, so a batch (a
    sensor tick where many tracked tags moved) costs one pass over the file, not one per
    entry; a caller that already loaded it (to decide what to append) passes its `doc`.
    Ids are checked against the queue and within the batch before anything is written:
    a duplicate refuses the whole batch. `scratch`: `tree` is a writer's private tree
    (`store.append_records`).
    """
    doc = doc or load_queue(tree)
    taken = {existing.id: position for position, existing in enumerate(doc.queue.entries)}
    invalid = {bad.id for bad in doc.queue.invalid}
    fresh: set[str] = set()
    for entry in entries:
        if entry.id in taken:
            raise InputError(
                doc.path,
                f"releases[{taken[entry.id]}].id",
                f"duplicate id {entry.id!r}: already in the queue",
            )
        if entry.id in invalid or entry.id in fresh:
            raise InputError(doc.path, "id", f"duplicate id {entry.id!r}: already in the queue")
        fresh.add(entry.id)
    if not entries:
        return []
    if record:
        from factory_assets.evidence import store

        bodies = [_request_body(entry, links) for entry in entries]
        records = store.append_records(tree, bodies, scratch=scratch)
        results = [
            AddResult(entry=entry.model_copy(update={"evidence": rec.id}), evidence_id=rec.id)
            for entry, rec in zip(entries, records, strict=True)
        ]
    else:
        results = [AddResult(entry=entry) for entry in entries]
    queue = doc.queue.model_copy(
        update={"entries": (*doc.queue.entries, *(r.entry for r in results))}
    )
    save_queue(doc, queue)
    return results


def _request_body(entry: ReleaseEntry, links: dict | None) -> RecordBody:
    """The `requested` record that becomes the parent of the release's first attempt."""
    from factory_assets.evidence import store

    return store.new_body(
        kind="promotion",
        service=entry.service,
        result="skipped",
        details={
            "release_id": entry.id,
            "image": entry.image,
            "tag": entry.tag,
            "requested_digest": entry.digest,
            "requested_at": rfc3339(entry.requested_at),
            "requested_by": entry.requested_by,
            "max_attempts": entry.max_attempts,
            "event": "requested",
            "reason": "release requested; pending promotion",
        },
        links={
            k: v
            for k, v in (links or {}).items()
            if k in ("dagster_run_id", "asset_key", "partition", "url")
        },
    )


def add_release(
    repo: Path,
    *,
    service: str,
    tag: str | None = None,
    digest: str | None = None,
    image: str | None = None,
    requested_by: str | None = None,
    now: datetime | None = None,
    release_id: str | None = None,
    push: bool = False,
    harbor_url: str | None = None,
    links: dict | None = None,
    writer: GitopsWriter | None = None,
    env: str = DEFAULT_ENV,
) -> AddResult:
    """Validate and append a pending release (see the module docstring for `push`)."""
    repo = Path(repo)
    entry = build_entry(
        repo,
        env=env,
        service=service,
        tag=tag,
        digest=digest,
        image=image,
        requested_by=requested_by,
        now=now,
        release_id=release_id,
        harbor_url=harbor_url,
    )
    if not push:
        result = append_entry(repo, entry, record=False)
        where = queue_relpath(repo)
        return AddResult(result.entry, message=f"added {entry.id} to {where} (not committed)")
    from resources.gitops import GitopsWriter

    writer = writer or GitopsWriter(repo)
    txn = writer.transact(
        lambda tree: append_entry(tree, entry, record=True, links=links),
        message=f"factory: request release {entry.id} ({entry.service} {entry.reference})\n",
        step="add_release",
        paths=lambda _: (queue_relpath(repo), "evidence"),
    )
    added = txn.value
    return AddResult(added.entry, txn.commit, txn.pushed, added.evidence_id, txn.push_result)
