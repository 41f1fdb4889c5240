"""The release state machine: transitions, back-off, and properties over random histories."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from factory_assets.promotion.plan import PinState, apply_plan, plan_queue, ready_services
from factory_assets.release.model import ReleaseEntry, ReleaseQueue
from factory_assets.release.retention import compact
from factory_assets.release.state import (
    RetryPolicy,
    TransitionError,
    abandon_claim,
    claim,
    mark_failed,
    mark_pinned,
    mark_recorded,
    mark_retry,
    mark_superseded,
)

T0 = datetime(2026, 1, 1, tzinfo=UTC)
LEASE = timedelta(minutes=10)
POLICY = RetryPolicy(base_seconds=10, max_seconds=80)
DIGEST = "sha256:" + "b" * 64


def entry(release_id: str, service: str = "api", *, at: datetime = T0, **kw) -> ReleaseEntry:
    fields = {"tag": "v1"} | kw
    return ReleaseEntry(
        id=release_id,
        service=service,
        image=f"127.0.0.1:5000/factory/{service}",
        requested_at=at,
        requested_by="t",
        **fields,
    )


def test_backoff_doubles_and_caps() -> None:
    assert [POLICY.delay(n).total_seconds() for n in range(1, 6)] == [10, 20, 40, 80, 80]


def test_retry_then_failed_after_max_attempts() -> None:
    e = entry("r1", max_attempts=2)
    e = claim(e, runner="h:1:a", now=T0, lease=LEASE)
    e = mark_retry(e, error="503", now=T0, policy=POLICY)
    assert (e.state, e.attempts, e.next_attempt_at, e.last_error) == (
        "pending",
        1,
        T0 + timedelta(seconds=10),
        "503",
    )
    assert e.claimed_by is None
    e = claim(e, runner="h:1:a", now=T0, lease=LEASE)
    e = mark_retry(e, error="503 again", now=T0, policy=POLICY)
    assert e.state == "failed" and e.attempts == 2 and "gave up after 2 attempts" in e.last_error


def test_success_path_keeps_claim_until_recorded() -> None:
    e = claim(entry("r1"), runner="h:1:a", now=T0, lease=LEASE)
    e = mark_pinned(e, digest=DIGEST, now=T0)
    assert (e.state, e.digest, e.claimed_by) == ("promoted", DIGEST, "h:1:a")
    e = mark_recorded(e, evidence="01" + "A" * 24, promoted_commit="c" * 40)
    assert e.claimed_by is None and e.promoted_commit == "c" * 40


@pytest.mark.parametrize("terminal", ["promoted", "failed", "superseded"])
def test_terminal_entries_refuse_transitions(terminal: str) -> None:
    e = entry("r1", state=terminal, digest=DIGEST, tag=None, superseded_by="r2")
    for transition in (
        lambda: claim(e, runner="x", now=T0, lease=LEASE),
        lambda: mark_failed(e, error="x", now=T0),
        lambda: mark_superseded(e, by="r2", now=T0),
        lambda: abandon_claim(e, reason="x", now=T0),
    ):
        with pytest.raises(TransitionError):
            transition()


def test_newest_wins_and_older_are_superseded() -> None:
    queue = ReleaseQueue(
        entries=(entry("r1"), entry("r2", at=T0 + timedelta(1)), entry("r3", at=T0))
    )
    plan = plan_queue(queue, now=T0 + timedelta(2))
    (sp,) = plan.services
    assert sp.promote.id == "r2"
    assert {e.id for e in sp.supersede} == {"r1", "r3"}
    queue, decisions = apply_plan(queue, plan, runner="h:1:a", now=T0, lease=LEASE)
    assert queue.by_id("r1").superseded_by == "r2" and queue.by_id("r2").state == "promoting"
    assert [d.kind for d in decisions] == ["superseded", "superseded", "claimed"]


def test_a_digest_still_missing_on_its_registry_waits_in_the_plan_unclaimed() -> None:
    """The replica wait is the plan's decision: nothing is claimed (and put back) for it."""
    old = entry("r1", tag=None, digest=DIGEST, at=T0)
    waiting = entry("r2", tag=None, digest=DIGEST, at=T0 + timedelta(seconds=1), waiting_since=T0)
    queue = ReleaseQueue(entries=(old, waiting))
    plan = plan_queue(queue, now=T0 + timedelta(minutes=1), replica_missing=lambda e: True)
    (sp,) = plan.services
    assert sp.promote is None and sp.awaiting_replica == waiting
    assert [w.reason for w in sp.waiting] == ["waiting for replication"]
    assert [e.id for e in sp.supersede] == ["r1"] and sp.superseded_by == "r2"
    _, decisions = apply_plan(queue, plan, runner="h:1:a", now=T0, lease=LEASE)
    assert [d.kind for d in decisions] == ["superseded"]
    there = plan_queue(queue, now=T0 + timedelta(minutes=1), replica_missing=lambda e: False)
    assert there.services[0].promote == waiting and there.services[0].awaiting_replica is None


def test_equal_times_break_ties_by_file_position() -> None:
    queue = ReleaseQueue(entries=(entry("r1"), entry("r2")))
    assert plan_queue(queue, now=T0).services[0].promote.id == "r2"


def test_hold_waits_unless_forced() -> None:
    queue = ReleaseQueue(entries=(entry("r1"),))
    held = {"api": PinState("api", hold=True)}
    sp = plan_queue(queue, held, now=T0).services[0]
    assert sp.promote is None and sp.waiting[0].reason == "service on hold"
    forced = plan_queue(queue, held, now=T0, force=True).services[0]
    assert forced.promote.id == "r1" and forced.forced
    assert ready_services(queue, T0, holds={"api": True}) == []
    assert ready_services(queue, T0, holds={"api": True}, force=True) == ["api"]


def test_backoff_waits_and_newest_in_backoff_holds_older_back() -> None:
    later = T0 + timedelta(minutes=5)
    queue = ReleaseQueue(
        entries=(entry("r1"), entry("r2", at=T0 + timedelta(1), attempts=1, next_attempt_at=later))
    )
    sp = plan_queue(queue, now=T0 + timedelta(minutes=1)).services[0]
    assert sp.promote is None and {w.entry.id for w in sp.waiting} == {"r1", "r2"}
    assert sp.waiting[-1].until == later
    assert plan_queue(queue, now=later).services[0].promote.id == "r2"


def test_live_claim_makes_the_service_busy() -> None:
    claimed = claim(entry("r1"), runner="other:1:x", now=T0, lease=LEASE)
    queue = ReleaseQueue(entries=(claimed, entry("r2", at=T0 + timedelta(1))))
    sp = plan_queue(queue, now=T0 + timedelta(minutes=1)).services[0]
    assert sp.busy_with == "other:1:x" and sp.promote is None and not sp.supersede
    assert ready_services(queue, T0 + timedelta(minutes=1)) == []


def test_expired_claim_is_abandoned_and_the_attempt_counts() -> None:
    claimed = claim(entry("r1"), runner="other:1:x", now=T0, lease=LEASE)
    queue = ReleaseQueue(entries=(claimed,))
    now = T0 + LEASE
    plan = plan_queue(queue, now=now)
    sp = plan.services[0]
    assert [e.id for e in sp.abandon] == ["r1"] and sp.promote.id == "r1"
    queue, decisions = apply_plan(queue, plan, runner="me:2:y", now=now, lease=LEASE)
    assert [d.kind for d in decisions] == ["abandoned", "claimed"]
    assert queue.by_id("r1").attempts == 2 and queue.by_id("r1").claimed_by == "me:2:y"


def test_pin_from_a_newer_release_supersedes_older_requests() -> None:
    newer = entry("r2", at=T0 + timedelta(1), state="promoted", digest=DIGEST)
    queue = ReleaseQueue(entries=(entry("r1"), newer))
    pins = {"api": PinState("api", release_id="r2")}
    sp = plan_queue(queue, pins, now=T0 + timedelta(2)).services[0]
    assert (
        sp.promote is None and [e.id for e in sp.supersede] == ["r1"] and sp.superseded_by == "r2"
    )


def test_blocked_pin_waits_untouched() -> None:
    queue = ReleaseQueue(entries=(entry("r1"),))
    sp = plan_queue(queue, {"api": PinState("api", problem="bad pin")}, now=T0).services[0]
    assert sp.blocked == "bad pin" and sp.promote is None and not sp.acts


def test_retention_keeps_open_newest_and_pinned() -> None:
    old = T0 - timedelta(days=90)
    rec = "01" + "A" * 24
    queue = ReleaseQueue(
        entries=(
            entry("a1", at=old, state="failed", finished_at=old, evidence=rec),
            entry(
                "a2", at=old, state="superseded", superseded_by="a3", finished_at=old, evidence=rec
            ),
            entry(
                "a3",
                at=old + timedelta(1),
                state="promoted",
                digest=DIGEST,
                finished_at=old,
                evidence=rec,
            ),
            entry("a4", at=T0),
            entry("b1", "web", at=old, state="failed", finished_at=old, evidence=rec),
            entry(
                "b2", "web", at=old + timedelta(1), state="failed", finished_at=old, evidence=rec
            ),
            entry("c1", "db", at=old, state="failed", finished_at=old),  # no record: kept
        )
    )
    kept = compact(queue, now=T0, window=timedelta(days=30), keep_ids={"b1"})
    assert [e.id for e in kept.entries] == ["a3", "a4", "b1", "b2", "c1"]


def test_retention_keeps_each_lanes_newest_and_its_pinned_release() -> None:
    """A dev-only runner compacts without prod's pin in `keep_ids`: prod's pinned release and
    its newest outcome stay, although dev has newer entries of the same service."""
    old = T0 - timedelta(days=90)
    rec = "01" + "A" * 24
    queue = ReleaseQueue(
        entries=(
            entry(
                "p1",
                at=old,
                env="prod",
                state="promoted",
                digest=DIGEST,
                finished_at=old,
                evidence=rec,
            ),
            entry(
                "p2",
                at=old + timedelta(1),
                env="prod",
                state="failed",
                finished_at=old,
                evidence=rec,
            ),
            entry(
                "d1",
                at=old + timedelta(2),
                state="promoted",
                digest=DIGEST,
                finished_at=old,
                evidence=rec,
            ),
            entry(
                "d2",
                at=old + timedelta(3),
                state="promoted",
                digest=DIGEST,
                finished_at=old,
                evidence=rec,
            ),
        )
    )
    kept = compact(queue, now=T0, window=timedelta(days=30), keep_ids={"d2"})
    assert [e.id for e in kept.entries] == ["p1", "p2", "d2"]


# -- properties ---------------------------------------------------------------------------

SERVICES = ("api", "web")


class QueueMachine(RuleBasedStateMachine):
    """Random histories of add, pass (claim + outcome), hold, time: invariants must always hold."""

    @initialize()
    def start(self) -> None:
        self.queue = ReleaseQueue()
        self.now = T0
        self.holds: dict[str, bool] = {}
        self.counter = 0
        self.terminal: dict[str, ReleaseEntry] = {}
        self.promoted_order: dict[str, list[tuple]] = {s: [] for s in SERVICES}
        self.ids: set[str] = set()
        self.pinned: dict[str, str] = {}

    def _position(self, release_id: str) -> int:
        return next(i for i, e in enumerate(self.queue.entries) if e.id == release_id)

    @rule(service=st.sampled_from(SERVICES), skew=st.integers(-100, 100), by_digest=st.booleans())
    def add(self, service: str, skew: int, by_digest: bool) -> None:
        self.counter += 1
        ref = {"digest": DIGEST, "tag": None} if by_digest else {"tag": f"v{self.counter}"}
        new = entry(
            f"r{self.counter}",
            service,
            at=self.now + timedelta(seconds=skew),
            max_attempts=3,
            **ref,
        )
        self.queue = self.queue.append(new)
        self.ids.add(new.id)

    @rule(service=st.sampled_from(SERVICES))
    def toggle_hold(self, service: str) -> None:
        self.holds[service] = not self.holds.get(service, False)

    @rule(seconds=st.integers(0, 200))
    def tick(self, seconds: int) -> None:
        self.now += timedelta(seconds=seconds)

    @rule(
        force=st.booleans(),
        outcomes=st.lists(
            st.sampled_from(["success", "retry", "fatal", "crash"]), min_size=3, max_size=3
        ),
    )
    def run_pass(self, force: bool, outcomes: list[str]) -> None:
        pins = {
            s: PinState(s, hold=self.holds.get(s, False), release_id=self.pinned.get(s))
            for s in SERVICES
        }
        plan = plan_queue(self.queue, pins, now=self.now, force=force)
        due_before = {e.id for e in self.queue.entries if e.state == "pending"}
        self.queue, decisions = apply_plan(
            self.queue, plan, runner="h:1:x", now=self.now, lease=LEASE
        )
        claimed = [d.after for d in decisions if d.kind == "claimed"]
        for c in claimed:
            assert c.id in due_before or any(
                d.kind == "abandoned" and d.after.id == c.id for d in decisions
            )
            assert force or not self.holds.get(c.service), (
                "a held service was claimed without --force"
            )
        for c, outcome in zip(claimed, outcomes * 3, strict=False):
            if outcome == "success":
                done = mark_recorded(
                    mark_pinned(c, digest=DIGEST, now=self.now), evidence="01" + "A" * 24
                )
                self.promoted_order[c.service].append(done.order_key(self._position(c.id)))
                self.queue = self.queue.replace(done)
                self.pinned[c.service] = c.id
            elif outcome == "retry":
                self.queue = self.queue.replace(
                    mark_retry(c, error="503", now=self.now, policy=POLICY)
                )
            elif outcome == "fatal":
                self.queue = self.queue.replace(mark_failed(c, error="401", now=self.now))
            else:  # crash: the claim stays until its lease ends
                pass

    @invariant()
    def at_most_one_claim_per_service(self) -> None:
        for service in SERVICES:
            claims = [e for e in self.queue.for_service(service) if e.state == "promoting"]
            assert len(claims) <= 1

    @invariant()
    def terminal_entries_never_change_and_nothing_is_lost(self) -> None:
        assert {e.id for e in self.queue.entries} == self.ids
        for e in self.queue.entries:
            if e.id in self.terminal:
                assert e == self.terminal[e.id]
            elif e.terminal and e.claimed_by is None:
                self.terminal[e.id] = e

    @invariant()
    def attempts_stay_within_budget(self) -> None:
        for e in self.queue.entries:
            assert e.attempts <= e.max_attempts
            if e.state == "pending" and e.next_attempt_at is not None:
                assert e.last_error

    @invariant()
    def superseded_points_to_a_newer_release_of_the_same_service(self) -> None:
        position = {e.id: i for i, e in enumerate(self.queue.entries)}
        for e in self.queue.entries:
            if e.state == "superseded":
                winner = self.queue.by_id(e.superseded_by)
                assert winner is not None and winner.service == e.service
                assert winner.order_key(position[winner.id]) > e.order_key(position[e.id])

    @invariant()
    def pins_only_move_forward(self) -> None:
        for keys in self.promoted_order.values():
            assert keys == sorted(keys)


QueueMachine.TestCase.settings = settings(
    max_examples=300,
    stateful_step_count=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
TestQueueMachine = QueueMachine.TestCase
