"""Hand a release to the next stage once its smoke passed on that exact digest, exactly once.

Runs inside the transaction that lands the smoke record, so two runners (or a retried run)
can never queue the same stage twice: the upstream entry's `handed_off` says which stages
have their request already (or were `skipped`, for a service with no target there).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from factory_assets.common.clock import rfc3339, utc_now
from factory_assets.common.errors import InputError
from factory_assets.evidence import store
from factory_assets.evidence.model import EvidenceRecord
from factory_assets.layout.config import load_layout
from factory_assets.layout.queue_codecs import queue_codec
from factory_assets.pins.target import PinTargets, verified_image
from factory_assets.pipeline.soak_gate import proof, soak_of, unsoaked
from factory_assets.promotion.records import RecordContext, verification_of, write_record
from factory_assets.release.model import ReleaseEntry, ReleaseQueue
from factory_assets.release.queue_codec import QueueCodec
from factory_assets.release.state import mark_superseded
from factory_assets.smoke.lineage import checked_entry
from resources.registry import ManifestVerification, RegistryError
from resources.registry.environments import EnvRegistries, registry_for

SKIPPED = "skipped"
PIPELINE = "pipeline"


@dataclass(frozen=True)
class HandOff:
    """What one stage got from a passed smoke: a request, a `skipped` record, or an error
    (a retag that failed: the stage is tried again on the next passed smoke)."""

    env: str
    release_id: str | None
    record_id: str | None
    skipped: bool = False
    error: str | None = None


def replication_tag(prefix: str, entry: ReleaseEntry) -> str:
    """`prod-<tag>` (a tag that has the prefix already is kept; no tag: the digest's hex)."""
    label = entry.label
    if label and label.startswith(prefix):
        return label
    if label:
        return f"{prefix}{label}"[:128]
    return f"{prefix}{('sha256-' + entry.digest.removeprefix('sha256:'))[:48]}"


def retag_upstream(
    pins: PinTargets, entry: ReleaseEntry, prefix: str, registries
) -> ManifestVerification:
    """Tag the digest on the upstream env's registry, where the stage's replication reads."""
    client = registry_for(registries, entry.env)
    try:
        pin = pins.usable(entry.service, entry.env)
    except InputError:  # a service map that does not parse: the request's own repository
        pin = None
    image = verified_image(entry, pin, client.registry_host)
    return client.tag_manifest(image, digest=entry.digest, tag=replication_tag(prefix, entry))


def has_target(pins: PinTargets, service: str, env: str) -> bool:
    """A service joins a stage only where it is deployed: its pin target says whether it is."""
    try:
        pin = pins.usable(service, env)
    except InputError:  # a service map that does not parse names no target
        return False
    return pin is not None and pin.deploys()


def _stage_id(queue: ReleaseQueue, codec: QueueCodec, entry: ReleaseEntry, env: str, now) -> str:
    """A new id in the queue's own style (the four-list layout's reads as its smoke's did)."""
    taken = frozenset(e.id for e in queue.entries) | {i.id for i in queue.invalid}
    label = entry.label or entry.digest[7:19]
    return codec.request_id(now, (entry.service, label, env), taken)


def _record(
    tree: Path, entry: ReleaseEntry, smoke: EvidenceRecord, env: str, **details
) -> EvidenceRecord:
    body = store.new_body(
        kind="promotion",
        service=entry.service,
        result="skipped",
        details={
            "release_id": details.pop("release_id", entry.id),
            "env": env,
            "image": entry.image,
            "requested_digest": entry.digest,
            "event": "handoff",
            "requested_by": PIPELINE,
            **details,
        },
        subject=[{"name": entry.image, "digest": {"sha256": entry.digest.removeprefix("sha256:")}}],
        parents=[
            {"id": smoke.id, "content_digest": smoke.integrity.content_digest},
            *(
                [
                    {
                        "id": entry.evidence,
                        "content_digest": store.load_record(
                            tree, entry.evidence
                        ).integrity.content_digest,
                    }
                ]
                if entry.evidence
                else []
            ),
        ],
    )
    return store.append_record(tree, body)


def _open_requests(queue: ReleaseQueue, codec: QueueCodec, service: str, env: str) -> list:
    """The stage's pending requests for `service` that a new one would stand beside: only a
    queue that allows one open request per lane (the four-list one: its validator) has them
    replaced."""
    if not codec.rules.one_open_per_lane:
        return []
    return [
        e for e in queue.entries if e.lane == (service, env) and e.state in ("pending", "promoting")
    ]


def _supersede(
    tree: Path, queue: ReleaseQueue, older: ReleaseEntry, stage: ReleaseEntry, moment: datetime
) -> ReleaseQueue:
    """`older` is replaced by the newer stage request, with its record (as a pass would)."""
    reason = f"superseded: newer release {stage.id} of {older.service} queued by a passed smoke"
    after = mark_superseded(older, by=stage.id, now=moment)
    ctx = RecordContext(runner=PIPELINE, started_at=moment, links={})
    record = write_record(
        tree,
        queue,
        older,
        ctx,
        result="superseded",
        event="superseded",
        reason=reason,
        superseded_by=stage.id,
    )
    return queue.replace(after.model_copy(update={"evidence": record.id}))


def handoff_pending(tree: Path, smoke: EvidenceRecord, queue: ReleaseQueue | None) -> bool:
    """Would `hand_off` have work for this passed smoke (a stage not handed to yet)?

    `queue` is the tree's, read once by the caller (None when it is unusable).
    """
    details = smoke.details
    if queue is None or getattr(details, "verdict", None) != "passed" or not details.release_id:
        return False
    try:
        layout = load_layout(tree)
    except InputError:
        return False
    entry = checked_entry(queue, smoke)
    if entry is None or entry.state != "promoted":
        return False
    stages = [env for env in layout.stages_after(entry.env) if env not in (entry.handed_off or {})]
    # a stage still soaking has no work until a check ends its soak (smoke/landing: decisive)
    return bool(stages) and len(unsoaked(tree, layout, entry, stages, utc_now())) < len(stages)


def _soak_proof(tree, layout, entry, env, moment, smoke) -> dict:
    """The handoff record's `soak`, for a stage that soaks (its soak is over here)."""
    soaked = soak_of(tree, layout, entry, env, moment, smoke)
    return {"soak": proof(soaked)} if soaked is not None else {}


@dataclass(frozen=True)
class HandOffs:
    """The queue with the stages' requests in it (not saved yet), and what each stage got."""

    queue: ReleaseQueue
    stages: tuple[HandOff, ...] = ()


def hand_off(
    tree: Path,
    smoke: EvidenceRecord,
    queue: ReleaseQueue,
    *,
    now: datetime | None = None,
    registries=None,
) -> HandOffs:
    """After `smoke` passed on a release's pin, queue each downstream stage's request once.

    Works on `queue`, the tree's as the caller holds it (its edits of the same transaction
    included), and returns it with the requests: the caller saves the queue once.
    """
    details = smoke.details
    if getattr(details, "verdict", None) != "passed" or not details.release_id:
        return HandOffs(queue)
    entry = checked_entry(queue, smoke)  # a smoke of another lane's pin opens no gate here
    if entry is None or entry.state != "promoted" or entry.digest is None:
        return HandOffs(queue)
    if details.digest and details.digest != entry.digest:
        return HandOffs(queue)  # the smoke saw another digest than this release pinned
    layout = load_layout(tree)
    stages = [env for env in layout.stages_after(entry.env) if env not in (entry.handed_off or {})]
    if not stages:
        return HandOffs(queue)
    moment = now or utc_now()
    soaking = unsoaked(tree, layout, entry, stages, moment, smoke)  # they wait for a later check
    stages = [env for env in stages if env not in soaking]
    if not stages:
        return HandOffs(queue)
    pool = registries if registries is not None else EnvRegistries()  # clients made on use
    try:
        return _hand_off(tree, smoke, entry, stages, layout, queue, moment, pool)
    finally:
        if registries is None:
            pool.close()


def _hand_off(tree, smoke, entry, stages, layout, queue, moment, registries) -> HandOffs:
    pins = PinTargets(Path(tree), layout)
    codec = queue_codec(layout)
    done = dict(entry.handed_off or {})
    result: list[HandOff] = []
    for env in stages:
        older = _open_requests(queue, codec, entry.service, env)
        claimed = next((e for e in older if e.state == "promoting"), None)
        if claimed is not None:
            # One pending entry per (service, env) in the four-list queue, and a claimed one
            # stays pending: queue nothing now (not marked), the next passed smoke does.
            result.append(
                HandOff(env, None, None, error=f"{env} request {claimed.id} is being promoted")
            )
            continue
        retag = layout.environment(env).retag if layout.environment(env) else None
        if retag and has_target(pins, entry.service, env):
            try:
                tagged = retag_upstream(pins, entry, retag, registries)
            except RegistryError as exc:
                result.append(HandOff(env, None, None, error=f"retag for {env} failed: {exc}"))
                continue  # not marked: the next passed smoke tries again
        else:
            tagged = None
        if not has_target(pins, entry.service, env):
            record = _record(
                tree,
                entry,
                smoke,
                env,
                reason=f"{entry.service} has no target in {env}: nothing queued",
            )
            done[env] = SKIPPED
            result.append(HandOff(env, None, record.id, skipped=True))
            continue
        stage = ReleaseEntry(
            id=_stage_id(queue, codec, entry, env, moment),
            service=entry.service,
            env=env,
            image=entry.image,
            digest=entry.digest,
            source_tag=entry.label,
            requested_at=moment,
            requested_by=PIPELINE,
            max_attempts=codec.rules.attempts_for(entry.max_attempts),
            upstream=entry.id,
            upstream_smoke=smoke.id,
            approval_required=layout.needs_approval(env),
        )
        record = _record(
            tree,
            entry,
            smoke,
            env,
            release_id=stage.id,
            reason=f"smoke passed on {entry.env} for {entry.digest}: {env} request {stage.id}"
            + (" awaits approval" if stage.approval_required else "")
            + (f"; tagged {tagged.url.rpartition('/')[2]} for replication" if tagged else ""),
            requested_at=rfc3339(moment),
            verification=[verification_of(tagged)] if tagged else [],
            **_soak_proof(tree, layout, entry, env, moment, smoke),
        )
        for superseded in older:
            queue = _supersede(tree, queue, superseded, stage, moment)
        queue = queue.append(stage.model_copy(update={"evidence": record.id}))
        done[env] = stage.id
        result.append(HandOff(env, stage.id, record.id))
    queue = queue.replace(entry.model_copy(update={"handed_off": done}))
    return HandOffs(queue, tuple(result))
