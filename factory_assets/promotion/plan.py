"""What one promotion pass would do, per service: a pure read of the queue and the pins.

Rules, per service (its open entries are the pending and promoting ones):
- A live claim by another runner: the service is busy; nothing else happens to it.
- A stale claim (runner gone): the attempt is abandoned (it counts) and the entry is
  ready again at once; a stale claim on a pinned-but-unrecorded entry is recovered
  (its evidence is written) instead.
- The newest open entry is the candidate (newest: later `requested_at`, then later in the
  file). Older open entries are superseded by it when it is claimed.
- If the pin already comes from a release newer than the candidate, every open entry is
  superseded by that release: a pin never goes back to an older request.
- Held (`hold: true`) and not forced, the service waits; in back-off, it waits.
- Waiting for its replica (given a `replica_missing` check): the candidate is not claimed;
  it waits, uncounted, until the env's registry has its digest.
- A pin file (or its kustomization) that does not validate blocks the service: it waits
  untouched until a human fixes the file.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Literal

from factory_assets.common.clock import rfc3339, utc_now
from factory_assets.layout.config import DEFAULT_ENV, allowed_envs, load_layout
from factory_assets.layout.targets import TargetError
from factory_assets.pins.pin_file import check_service_name
from factory_assets.pins.target import PinTargets
from factory_assets.pipeline.window_gate import Windows, closed_window, windows_of
from factory_assets.policy.windows import Decision as WindowDecision
from factory_assets.promotion.claim_lease import claim_is_stale, lease_expired
from factory_assets.release.model import InvalidEntry, ReleaseEntry, ReleaseQueue
from factory_assets.release.queue_file import load_queue
from factory_assets.release.state import abandon_claim, claim, is_due, mark_failed, mark_superseded

StalePredicate = Callable[[ReleaseEntry, datetime], bool]
ReplicaCheck = Callable[[ReleaseEntry], bool]  # True: the digest is not on its registry yet


@dataclass(frozen=True)
class PinState:
    """What planning needs from a (service, env)'s pin."""

    service: str
    hold: bool = False
    release_id: str | None = None
    problem: str | None = None  # the file (or its kustomization) does not validate: wait
    refused: str | None = None  # the repository names no usable target: requests fail
    env: str = DEFAULT_ENV


@dataclass(frozen=True)
class Waiting:
    entry: ReleaseEntry
    reason: str
    until: datetime | None = None


@dataclass(frozen=True)
class LanePlan:
    """The decision for one lane (service, env) in one pass."""

    service: str
    promote: ReleaseEntry | None = None  # the entry to claim (as it is after any abandon)
    env: str = DEFAULT_ENV
    refuse: tuple[ReleaseEntry, ...] = ()  # no usable target: fail with `refused`
    refusal: str | None = None
    superseded_by: str | None = None
    supersede: tuple[ReleaseEntry, ...] = ()
    abandon: tuple[ReleaseEntry, ...] = ()  # stale claims of gone runners
    recover: tuple[ReleaseEntry, ...] = ()  # pinned, not yet recorded, runner gone
    exhausted: tuple[ReleaseEntry, ...] = ()  # pending with no attempts left
    waiting: tuple[Waiting, ...] = ()
    awaiting_replica: ReleaseEntry | None = None  # the candidate, its digest not there yet
    held: bool = False
    forced: bool = False
    busy_with: str | None = None
    blocked: str | None = None
    # A promotion window that is closed: the request waits on it, or (promote) --force passed it
    window: WindowDecision | None = None

    @property
    def acts(self) -> bool:
        """True when the pass changes something for this service."""
        return bool(
            self.promote
            or self.supersede
            or self.abandon
            or self.recover
            or self.exhausted
            or self.refuse
        )

    @property
    def lane(self) -> tuple[str, str]:
        return (self.service, self.env)


@dataclass(frozen=True)
class PromotionPlan:
    now: datetime
    services: tuple[LanePlan, ...] = ()
    invalid: tuple[InvalidEntry, ...] = ()  # open entries that do not parse: to be marked failed
    force: bool = False

    def for_service(self, service: str, env: str | None = None) -> LanePlan | None:
        return next(
            (s for s in self.services if s.service == service and (env is None or s.env == env)),
            None,
        )

    @property
    def promotions(self) -> list[ReleaseEntry]:
        return [s.promote for s in self.services if s.promote]

    @property
    def awaiting_replica(self) -> list[ReleaseEntry]:
        return [s.awaiting_replica for s in self.services if s.awaiting_replica]

    @property
    def acts(self) -> bool:
        return bool(self.invalid) or any(s.acts for s in self.services)

    def to_dict(self) -> dict:
        """JSON-friendly form (for --dry-run --json, the sensor and Dagster metadata)."""

        def brief(e: ReleaseEntry) -> dict:
            return {"id": e.id, "reference": e.reference, "requested_at": rfc3339(e.requested_at)}

        return {
            "now": rfc3339(self.now),
            "services": [
                {
                    "service": s.service,
                    "env": s.env,
                    "refused": [brief(e) for e in s.refuse],
                    "promote": brief(s.promote) if s.promote else None,
                    "superseded": [
                        {**brief(e), "superseded_by": s.superseded_by} for e in s.supersede
                    ],
                    "abandoned": [brief(e) for e in s.abandon],
                    # The key the JSON has always had (scripts and the soak read it).
                    "finalize": [brief(e) for e in s.recover],
                    "exhausted": [brief(e) for e in s.exhausted],
                    "waiting": [
                        {
                            **brief(w.entry),
                            "reason": w.reason,
                            "until": rfc3339(w.until) if w.until else None,
                        }
                        for w in s.waiting
                    ],
                    "held": s.held,
                    "forced": s.forced,
                    "busy_with": s.busy_with,
                    "blocked": s.blocked,
                }
                for s in self.services
            ],
            "invalid": [{"id": i.id, "field": i.field, "problem": i.problem} for i in self.invalid],
        }


def _lease_only(entry: ReleaseEntry, now: datetime) -> bool:
    return lease_expired(entry, now)


def _plan_service(
    service: str,
    entries: list[tuple[int, ReleaseEntry]],
    queue: ReleaseQueue,
    pin: PinState | None,
    *,
    now: datetime,
    force: bool,
    is_stale: StalePredicate,
    env: str = DEFAULT_ENV,
    eager_supersede: bool = False,
    replica_missing: ReplicaCheck | None = None,
    windows: Windows | None = None,
) -> LanePlan:
    lane = _plan_lane(service, entries, queue, pin, now=now, is_stale=is_stale, env=env)
    if lane.candidates:
        lane = _choose(
            lane,
            queue,
            pin,
            force=force,
            now=now,
            replica_missing=replica_missing,
            windows=(windows or {}).get(env, ()),
        )
    plan = lane.decided
    if eager_supersede and plan.waiting and not plan.supersede and not plan.busy_with:
        # A format that allows one pending request per lane: older ones go at once.
        order = order_of(entries)
        waiting = sorted(plan.waiting, key=lambda w: order[w.entry.id])
        newest = waiting[-1].entry
        if len(waiting) > 1:
            return _with(
                plan,
                supersede=tuple(w.entry for w in waiting[:-1]),
                superseded_by=newest.id,
                waiting=(waiting[-1],),
            )
    return plan


def order_of(entries: list[tuple[int, ReleaseEntry]]) -> dict[str, tuple]:
    return {e.id: e.order_key(pos) for pos, e in entries}


@dataclass(frozen=True)
class _Lane:
    """A lane half planned: what happens regardless of the candidate, and the candidates."""

    decided: LanePlan
    candidates: tuple[ReleaseEntry, ...] = ()  # open, not exhausted, oldest first
    order: Mapping[str, tuple] | None = None


def _plan_lane(
    service: str,
    entries: list[tuple[int, ReleaseEntry]],
    queue: ReleaseQueue,
    pin: PinState | None,
    *,
    now: datetime,
    is_stale: StalePredicate,
    env: str,
) -> _Lane:
    """Busy elsewhere, or: stale claims abandoned, pins to recover, exhausted entries, and
    the open entries that are candidates."""
    held = bool(pin and pin.hold)
    order = order_of(entries)
    live = [
        e
        for _, e in entries
        if e.claimed_by and e.state in ("promoting", "promoted") and not is_stale(e, now)
    ]
    if live:
        waiting = tuple(
            Waiting(e, f"claimed by {live[0].claimed_by}")
            for _, e in entries
            if e.state == "pending"
        )
        busy = LanePlan(service, env=env, waiting=waiting, held=held, busy_with=live[0].claimed_by)
        return _Lane(busy)
    recover = tuple(e for _, e in entries if e.state == "promoted" and e.claimed_by)
    stale = [e for _, e in entries if e.state == "promoting"]
    reopened = {e.id: abandon_claim(e, reason="runner gone", now=now) for e in stale}
    open_entries = [
        (order[e.id], reopened.get(e.id, e))
        for _, e in entries
        if e.state in ("pending", "promoting")
    ]
    exhausted = tuple(
        e for _, e in open_entries if e.state == "pending" and e.attempts >= e.max_attempts
    )
    candidates = sorted(
        ((k, e) for k, e in open_entries if e.state == "pending" and e not in exhausted),
        key=lambda ke: ke[0],
    )
    base = LanePlan(
        service, env=env, abandon=tuple(stale), recover=recover, exhausted=exhausted, held=held
    )
    return _Lane(base, tuple(e for _, e in candidates), order)


def _choose(
    lane: _Lane,
    queue: ReleaseQueue,
    pin: PinState | None,
    *,
    force: bool,
    now: datetime,
    replica_missing: ReplicaCheck | None,
    windows=(),
) -> _Lane:
    """The candidates' fate: refused, blocked, superseded by the pin, waiting, or the newest
    claimed and the others superseded by it."""
    base, candidates, order = lane.decided, lane.candidates, lane.order or {}

    def decided(**changes: object) -> _Lane:
        return _Lane(_with(base, **changes))

    def wait(reason: str, until: datetime | None = None) -> _Lane:
        return decided(waiting=tuple(Waiting(e, reason, until) for e in candidates))

    if pin and pin.refused:
        return decided(refuse=candidates, refusal=pin.refused)
    if pin and pin.problem:
        waiting = tuple(Waiting(e, f"blocked: {pin.problem}") for e in candidates)
        return decided(waiting=waiting, blocked=pin.problem)
    newest = candidates[-1]
    pinned = queue.by_id(pin.release_id) if pin and pin.release_id else None
    if pinned is not None and pinned.lane == base.lane and pinned.id in order:
        if order[pinned.id] > order[newest.id] and pinned.state == "promoted":
            return decided(supersede=candidates, superseded_by=pinned.id)
    if base.held and not force:
        return wait("service on hold")
    if newest.awaiting_approval:
        # Approval is a gate of the stage, not a hold: --force does not pass it.
        return wait("awaiting approval")
    if not is_due(newest, now):
        return wait("back-off", newest.next_attempt_at)
    closed = closed_window(windows, newest, now)  # waiting costs no attempt; --force passes
    if closed is not None and not force:
        return _Lane(_with(wait(closed.reason, closed.until).decided, window=closed))
    older = candidates[:-1]
    superseded = {"supersede": older, "superseded_by": newest.id if older else None}
    if newest.waiting_since is not None and replica_missing and replica_missing(newest):
        # No replica yet: nothing is claimed, committed or recorded for it until one lands.
        waiting = (Waiting(newest, "waiting for replication"),)
        return decided(waiting=waiting, awaiting_replica=newest, **superseded)
    return decided(promote=newest, forced=base.held, window=closed, **superseded)


def _with(plan: LanePlan, **changes: object) -> LanePlan:
    return LanePlan(**{**plan.__dict__, **changes})


def plan_queue(
    queue: ReleaseQueue,
    pins: Mapping[str, PinState] | None = None,
    *,
    now: datetime,
    force: bool = False,
    service: str | None = None,
    is_stale: StalePredicate = _lease_only,
    envs: Collection[str] | None = None,
    eager_supersede: bool = False,
    replica_missing: ReplicaCheck | None = None,
    windows: Windows | None = None,
) -> PromotionPlan:
    """The pass's decisions for every (service, env) lane (or one service's), from the queue,
    the pins and each environment's promotion `windows` alone (a closed one makes the ready
    request wait, at no attempt). `envs` limits the lanes to the environments this runner may
    promote; `replica_missing` (the pass's look at a registry) keeps a waiting entry unclaimed.
    """
    pins = pins or {}
    by_lane: dict[tuple[str, str], list[tuple[int, ReleaseEntry]]] = {}
    for position, entry in enumerate(queue.entries):
        if envs is None or entry.env in envs:
            by_lane.setdefault(entry.lane, []).append((position, entry))
    if service is not None:
        lanes = sorted(lane for lane in by_lane if lane[0] == service)
        if not lanes:
            default = sorted(envs)[0] if envs else DEFAULT_ENV
            lanes = [(service, default)]
    else:
        lanes = sorted(by_lane)
    services = tuple(
        _plan_service(
            name,
            by_lane.get((name, env), []),
            queue,
            pins.get((name, env), pins.get(name) if env == DEFAULT_ENV else None),
            now=now,
            force=force,
            is_stale=is_stale,
            env=env,
            eager_supersede=eager_supersede,
            replica_missing=replica_missing,
            windows=windows,
        )
        for name, env in lanes
    )
    invalid = tuple(
        i
        for i in queue.invalid
        if i.state in (None, "pending", "promoting")
        and (service is None or i.service == service)
        and (envs is None or i.env in envs)
    )
    return PromotionPlan(now=now, services=services, invalid=invalid, force=force)


@dataclass(frozen=True)
class Decision:
    """One state change a pass makes before resolving anything (see `apply_plan`)."""

    kind: Literal["abandoned", "exhausted", "superseded", "claimed", "recover", "refused"]
    before: ReleaseEntry
    after: ReleaseEntry
    reason: str | None = None
    forced: bool = False


def apply_plan(
    queue: ReleaseQueue, plan: PromotionPlan, *, runner: str, now: datetime, lease: timedelta
) -> tuple[ReleaseQueue, list[Decision]]:
    """Make the plan's decisions on the queue: pure, so the state machine can be property-tested.

    Order per service: stale claims are abandoned, exhausted entries fail, older entries are
    superseded, the candidate is claimed, and pinned-but-unrecorded entries are re-claimed
    to be recovered.
    """
    decisions: list[Decision] = []

    def change(kind, before: ReleaseEntry, after: ReleaseEntry, reason=None, forced=False) -> None:
        nonlocal queue
        queue = queue.replace(after)
        decisions.append(Decision(kind, before, after, reason, forced))

    for sp in plan.services:
        for stale in sp.abandon:
            how = "its lease expired" if lease_expired(stale, now) else "its process is gone"
            reason = (
                f"attempt {stale.attempts} abandoned: runner {stale.claimed_by} stopped ({how})"
            )
            change("abandoned", stale, abandon_claim(stale, reason=reason, now=now), reason)
        for spent in sp.exhausted:
            current = queue.by_id(spent.id) or spent
            reason = f"no attempts left ({current.attempts} of {current.max_attempts} used)"
            change("exhausted", current, mark_failed(current, error=reason, now=now), reason)
        for bad in sp.refuse:
            current = queue.by_id(bad.id) or bad
            reason = sp.refusal or "no usable target"
            change("refused", current, mark_failed(current, error=reason, now=now), reason)
        for older in sp.supersede:
            current = queue.by_id(older.id) or older
            by = sp.superseded_by or ""
            why = (
                "is being promoted"
                if sp.promote
                else ("is waiting" if sp.waiting else "is already pinned")
            )
            reason = f"superseded: newer release {by} of {sp.service} {why}"
            change("superseded", current, mark_superseded(current, by=by, now=now), reason)
        if sp.promote:
            current = queue.by_id(sp.promote.id) or sp.promote
            change(
                "claimed",
                current,
                claim(current, runner=runner, now=now, lease=lease),
                forced=sp.forced,
            )
        for pinned in sp.recover:
            owned = pinned.model_copy(
                update={"claimed_by": runner, "claim_expires_at": now + lease}
            )
            change("recover", pinned, owned)
    return queue, decisions


def ready_services(
    queue: ReleaseQueue,
    now: datetime,
    *,
    holds: Mapping[str, bool] | None = None,
    force: bool = False,
) -> list[str]:
    """Services with an entry to promote now: not held (unless forced), back-off over, not busy.

    Staleness is judged by the lease only, so the answer is the same on every host.
    """
    pins = {name: PinState(name, hold=hold) for name, hold in (holds or {}).items()}
    plan = plan_queue(queue, pins, now=now, force=force)
    return [s.service for s in plan.services if s.promote or s.recover]


def lane_state(pins: PinTargets, queue: ReleaseQueue, service: str, env: str) -> PinState:
    """What planning needs of one lane's pin, from its pin target.

    A target the repository does not name refuses the lane's requests; a pin that does not
    validate blocks the lane (it waits for a human).
    """
    try:
        pin = pins.for_lane(service, env)
        pin.target  # noqa: B018 - resolved now: a map entry that is unusable raises here
    except TargetError as exc:
        return PinState(service, refused=str(exc), env=env)
    problem = pin.problem()
    if problem:
        return PinState(service, hold=pin.held(), problem=problem, env=env)
    return PinState(service, hold=pin.held(), release_id=pin.current(queue).release_id, env=env)


def lane_states(
    tree: Path,
    queue: ReleaseQueue,
    *,
    service: str | None = None,
    envs: Collection[str] | None = None,
) -> dict[tuple[str, str], PinState]:
    """The pin state of every lane the queue (or `service`) names, within `envs`."""
    pins = PinTargets.for_tree(tree)
    lanes = {e.lane for e in queue.entries if envs is None or e.env in envs}
    if service:
        lanes = {lane for lane in lanes if lane[0] == service} or {
            (service, sorted(envs)[0] if envs else DEFAULT_ENV)
        }
    return {lane: lane_state(pins, queue, *lane) for lane in sorted(lanes)}


def read_plan(
    tree: Path,
    *,
    service: str | None = None,
    force: bool = False,
    now: datetime | None = None,
    is_stale: StalePredicate = _lease_only,
    envs: Collection[str] | None = None,
) -> tuple[PromotionPlan, ReleaseQueue, dict[tuple[str, str], PinState]]:
    """Plan from the files under `tree` (a checkout or the writer's fresh tree)."""
    doc = load_queue(tree)
    queue = doc.queue
    pins = lane_states(tree, queue, service=service, envs=envs)
    plan = plan_queue(
        queue,
        pins,
        now=now or utc_now(),
        force=force,
        service=service,
        is_stale=is_stale,
        envs=envs,
        eager_supersede=doc.rules.one_open_per_lane,
        windows=windows_of(load_layout(tree)),
    )
    return plan, queue, pins


def plan_pass(
    repo: Path,
    *,
    service: str | None = None,
    force: bool = False,
    now: datetime | None = None,
    fetch: bool = False,
    envs: Collection[str] | None = None,
) -> PromotionPlan:
    """What a pass would do, per service: promote, supersede, wait (back-off, hold, busy).

    A pure read of the files under `repo`. With `fetch=True` (what `--dry-run` uses) and a
    remote, it reads the fresh remote head instead, via the writer's private work tree; the
    user's checkout is never changed either way.
    """
    if service is not None:
        check_service_name(service, source="arguments", field="--service")
    moment = now or utc_now()
    envs = envs if envs is not None else allowed_envs()

    def read(tree: Path) -> PromotionPlan:
        return read_plan(
            tree, service=service, force=force, now=moment, is_stale=claim_is_stale, envs=envs
        )[0]

    if fetch:
        from resources.gitops import GitopsWriter  # GitPython: only to read the remote head

        writer = GitopsWriter(repo)
        if writer.mode == "remote":
            return writer.snapshot(read)
    return read(Path(repo))
