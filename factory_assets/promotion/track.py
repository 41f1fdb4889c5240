"""Follow tracked tags: when Harbor's digest for a pin's `track` tag moves, request a release.

Plain Python; `sensors/harbor.py` calls it. HEAD requests only (tag lists can be huge),
with bounded concurrency; all new requests of one look land in one commit.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from factory_assets.common.clock import utc_now
from factory_assets.common.errors import InputError
from factory_assets.layout.targets import TargetResolver
from factory_assets.pins.pin_file import list_pin_services, pin_of
from factory_assets.release.add import AddResult, append_entries, build_entry
from factory_assets.release.queue_file import load_queue, queue_relpath
from resources.gitops import GitopsWriter
from resources.registry import RegistryClient, RegistryError

OPEN_STATES = ("pending", "promoting")


@dataclass(frozen=True)
class TrackedService:
    service: str
    image: str  # host/repository, no tag or digest
    tag: str
    pinned_digest: str | None
    open_references: frozenset[str]  # tags and digests of the service's open requests


@dataclass(frozen=True)
class MovedTag:
    service: str
    image: str
    tag: str
    digest: str


@dataclass(frozen=True)
class TrackLook:
    tracked: int
    moved: tuple[MovedTag, ...]
    errors: tuple[str, ...]


def tracked_services(tree: Path) -> list[TrackedService]:
    """Services whose pin file has `track` and names its repository."""
    try:
        queue = load_queue(tree).queue
        entries = queue.entries
    except InputError:
        entries = ()
    open_refs: dict[str, set[str]] = {}
    for entry in entries:
        if entry.state in OPEN_STATES:
            open_refs.setdefault(entry.service, set()).update(
                r for r in (entry.tag, entry.digest) if r
            )
    found = []
    for service in list_pin_services(tree):
        try:
            pin = pin_of(tree, service)
        except InputError:
            continue  # an invalid pin file blocks only its own service; the pass reports it
        if not pin.track or not pin.image:
            continue
        image, _, digest = pin.image.partition("@")
        found.append(
            TrackedService(
                service, image, pin.track, digest or None, frozenset(open_refs.get(service, ()))
            )
        )
    return found


def look_for_moves(
    registry: RegistryClient, services: list[TrackedService], *, concurrency: int = 8
) -> TrackLook:
    """HEAD each tracked tag; a digest that differs from the pin and is not yet requested moved."""

    def head(item: TrackedService) -> tuple[TrackedService, str | None, str | None]:
        try:
            return item, registry.head_digest(item.image, item.tag), None
        except RegistryError as exc:
            return item, None, f"{item.service}: {item.image}:{item.tag}: {exc}"

    moved, errors = [], []
    with ThreadPoolExecutor(max_workers=max(1, concurrency)) as pool:
        for item, digest, error in pool.map(head, services):
            if error:
                errors.append(error)
            elif (
                digest
                and digest != item.pinned_digest
                and digest not in item.open_references
                and item.tag not in item.open_references
            ):
                moved.append(MovedTag(item.service, item.image, item.tag, digest))
    return TrackLook(len(services), tuple(moved), tuple(errors))


def request_moved_tags(
    repo: Path, moved: list[MovedTag], *, now: datetime | None = None
) -> tuple[list[AddResult], str | None]:
    """Append one `requested_by: harbor` release per moved tag, in one compare-and-swap commit.

    Requests name the tag (the pin keeps "the tag it came from"); the pass resolves it again,
    so if the tag moved once more meanwhile, the newest digest wins. A request already open for
    that tag or digest on the fresh head is not added twice.
    """
    if not moved:
        return [], None
    moment = now or utc_now()
    writer = GitopsWriter(repo)

    def apply(tree: Path) -> list[AddResult]:
        doc = load_queue(tree)
        queue = doc.queue
        open_refs = {
            (e.service, r)
            for e in queue.entries
            if e.state in OPEN_STATES
            for r in (e.tag, e.digest)
            if r
        }
        resolver = TargetResolver.for_tree(tree)  # factory.yaml parsed once for the batch
        entries = []
        for move in moved:
            if (move.service, move.digest) in open_refs or (move.service, move.tag) in open_refs:
                continue
            open_refs.update({(move.service, move.digest), (move.service, move.tag)})
            entries.append(
                build_entry(
                    tree,
                    service=move.service,
                    tag=move.tag,
                    image=move.image,
                    requested_by="harbor",
                    now=moment,
                    resolver=resolver,
                )
            )
        # One load and one save of the queue for the whole look, however many tags moved.
        return append_entries(tree, entries, record=True, doc=doc, scratch=writer.resets_tree)

    def message(added: list[AddResult]) -> str:
        names = ", ".join(f"{a.entry.service}:{a.entry.tag}" for a in added)
        return f"factory: harbor moved tracked tags ({names})\n"

    txn = writer.transact(
        apply, message=message, step="track", paths=lambda _: (queue_relpath(repo), "evidence")
    )
    return txn.value, txn.commit
