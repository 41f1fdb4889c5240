"""What the `digest_preview` asset shows: the digest Harbor holds for a service's next release.

Read from the fresh remote head: the entry the next pass would promote, else the tracked
tag, else the current pin (re-verified). Plain Python; the asset only wraps it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from factory_assets.common.errors import InputError
from factory_assets.evidence import store
from factory_assets.layout.config import DEFAULT_ENV
from factory_assets.layout.targets import TargetError
from factory_assets.pins.target import LanePin, PinTargets, verified_image
from factory_assets.promotion.plan import read_plan
from factory_assets.release.queue_file import load_queue
from resources.gitops import GitopsWriter
from resources.registry import RegistryClient, ResolvedDigest
from resources.registry.environments import EnvRegistries, registry_for


@dataclass(frozen=True)
class DigestView:
    service: str
    source: str  # "release", "track", "pin" or "none"
    image: str | None = None
    reference: str | None = None
    digest: str | None = None
    media_type: str | None = None
    release_id: str | None = None
    header_digest: str | None = None
    accept: str | None = None
    note: str | None = None
    extra: dict = field(default_factory=dict)

    def metadata(self) -> dict:
        data = {
            "service": self.service,
            "source": self.source,
            "image": self.image or "",
            "reference": self.reference or "",
            "digest": self.digest or "",
            "media_type": self.media_type or "",
            "release_id": self.release_id or "",
            "header_digest": self.header_digest or "",
            "accept": self.accept or "",
        }
        if self.note:
            data["note"] = self.note
        return data


def read_fresh(repo: Path, read):
    """Run `read(tree)` on the remote head when there is a remote, else on the checkout."""
    return GitopsWriter(repo).snapshot(read)


def digest_for_service(
    repo: Path, registry: RegistryClient | EnvRegistries, service: str, env: str = DEFAULT_ENV
) -> DigestView:
    """Resolve, on the env's Harbor, the digest the lane's next release (or its pin) names."""

    def read(tree: Path):
        plan, queue, _ = read_plan(tree, service=service, envs={env})
        pin = PinTargets.for_tree(tree).usable(service, env)
        current = pin.current(queue) if pin else LanePin()
        return plan.for_service(service, env), pin, current

    lane_plan, pin, current = read_fresh(repo, read)
    client = registry_for(registry, env)
    entry = lane_plan.promote if lane_plan else None
    if entry is not None:
        image = verified_image(entry, pin, client.registry_host)
        resolved = client.resolve(
            image, tag=entry.tag, digest=entry.digest if not entry.tag else None
        )
        return _view(service, "release", resolved, release_id=entry.id)
    if current.repository and current.track:
        resolved = client.resolve(current.repository, tag=current.track)
        return _view(service, "track", resolved, release_id=current.release_id)
    if current.repository and current.digest:
        resolved = client.resolve(current.repository, digest=current.digest)
        return _view(service, "pin", resolved, release_id=current.release_id)
    return DigestView(
        service=service, source="none", note="no release pending and nothing pinned yet"
    )


def _view(
    service: str, source: str, resolved: ResolvedDigest, *, release_id: str | None
) -> DigestView:
    last = resolved.verifications[-1] if resolved.verifications else None
    return DigestView(
        service=service,
        source=source,
        image=resolved.image,
        reference=resolved.reference,
        digest=resolved.digest,
        media_type=resolved.media_type,
        release_id=release_id,
        header_digest=last.header_digest if last else None,
        accept=last.accept if last else None,
    )


def _record_facts(tree: Path, record_id: str | None) -> dict:
    """The promotion record's content digest and the media type the registry served."""
    if not record_id:
        return {}
    try:
        record = store.load_record(tree, record_id)
    except (InputError, OSError, ValueError):
        return {}  # the pin stands; validate reports a bad or missing record
    media_types = [
        v.media_type for v in getattr(record.details, "verification", []) if v.media_type
    ]
    facts = {"evidence_digest": record.integrity.content_digest}
    if media_types:
        facts["media_type"] = media_types[-1]
    return facts


def pinned_summary(repo: Path, service: str, env: str = DEFAULT_ENV) -> dict:
    """The lane's current pin at the fresh head, with the release's evidence id."""

    def read(tree: Path) -> dict:
        queue = load_queue(tree).queue
        try:
            pin = PinTargets.for_tree(tree).for_lane(service, env).current(queue)
        except TargetError:
            return {}  # no such environment here: nothing pinned
        if not pin.digest:
            return {}
        summary = {"digest": pin.digest, "tag": pin.tag, "release_id": pin.release_id}
        entry = queue.by_id(pin.release_id) if pin.release_id else None
        if entry is not None:
            summary.update(commit=entry.promoted_commit, evidence_id=entry.evidence)
            summary.update(_record_facts(tree, entry.evidence))
        return summary

    return read_fresh(repo, read)
