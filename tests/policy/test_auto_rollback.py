"""Automatic rollback: confirmed breakage only, once per lane until acknowledged, never a loop."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from factory_assets.policy.auto_rollback import (
    AUTOMATIC,
    Release,
    decide,
    time_to_restore,
    unacknowledged,
)
from factory_assets.policy.checks import Check

T0 = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)
WINDOW = timedelta(minutes=3)
GOOD, BAD = "sha256:" + "1" * 64, "sha256:" + "2" * 64


def minute(n: float) -> datetime:
    return T0 + timedelta(minutes=n)


def check(n: float, kind: str, record: str | None = None, digest: str = BAD) -> Check:
    return Check(minute(n), kind, record, digest)


OLD = Release("r-old", GOOD, minute(-120), "promoted", minute(-119), smoke_passed=True)
NEW = Release("r-new", BAD, minute(-10), "promoted", minute(-9), smoke_passed=True)


def lane(*extra: Release) -> list[Release]:
    return [OLD, NEW, *extra]


def run(checks, releases=None, current="r-new", now=60):
    return decide(
        releases or lane(), checks, current_id=current, sync_window=WINDOW, now=minute(now)
    )


def test_a_healthy_pin_needs_nothing():
    assert run([check(-8, "passed", "P")]).action == "none"


def test_one_broken_verdict_waits_for_a_second_after_the_sync_window():
    decision = run([check(-8, "passed", "P"), check(0, "drift", "F")], now=1)
    assert decision.action == "confirm" and decision.failed.record_id == "F"
    assert decision.confirm_after == minute(3)
    assert "after the sync window" in decision.reason
    # a second broken look inside the window does not confirm it either
    early = run([check(0, "drift", "F"), check(2, "drift")], now=2.5)
    assert early.action == "confirm"


def test_a_confirmed_failure_rolls_back_to_the_last_known_good_release():
    decision = run([check(-8, "passed", "P"), check(0, "degraded", "F"), check(3, "degraded")])
    assert decision.action == "rollback"
    assert (decision.target, decision.replaces) == (OLD, NEW)
    assert decision.failed.record_id == "F" and decision.confirmed_by.at == minute(3)
    assert decision.reason.startswith("degraded at 2026-12-07 09:00:00 UTC, confirmed by")


def test_a_single_flake_followed_by_a_pass_rolls_nothing_back():
    flake = [check(0, "failed", "F"), check(1, "passed", "P"), check(5, "passed")]
    assert run(flake).action == "none"
    # and a later broken look starts a new suspicion, not a confirmation of the old one
    again = run([*flake, check(20, "drift", "D")], now=21)
    assert again.action == "confirm" and again.failed.record_id == "D"


def test_a_timeout_or_an_unreachable_argocd_neither_confirms_nor_clears():
    checks = [check(0, "drift", "F"), check(4, "timeout"), check(5, "unreachable")]
    assert run(checks).action == "confirm"
    assert run([*checks, check(6, "drift")]).action == "rollback"


def test_checks_of_another_digest_or_before_the_pin_landed_do_not_count():
    stale = [check(-30, "drift", "X"), check(-20, "drift", "Y"), check(0, "failed", digest=GOOD)]
    assert run(stale).action == "none"


def test_no_earlier_good_release_means_nothing_to_go_back_to():
    never_passed = Release("r-old", GOOD, minute(-120), "promoted", minute(-119))
    decision = run([check(0, "drift"), check(4, "drift")], releases=[never_passed, NEW])
    assert decision.action == "none" and "nothing to go back to" in decision.reason


def test_a_rollback_already_queued_is_not_queued_twice():
    queued = Release(
        "r-back", GOOD, minute(5), "pending", rollback_of="r-new", requested_by=AUTOMATIC
    )
    decision = run([check(0, "drift"), check(4, "drift")], releases=lane(queued))
    assert decision.action == "none" and "queued already" in decision.reason


def test_a_rollback_that_fails_smoke_escalates_instead_of_rolling_back_again():
    back = Release(
        "r-back",
        GOOD,
        minute(5),
        "promoted",
        minute(6),
        rollback_of="r-new",
        requested_by=AUTOMATIC,
    )
    checks = [check(7, "degraded", "F2", GOOD), check(11, "degraded", digest=GOOD)]
    decision = run(checks, releases=lane(back), current="r-back")
    assert decision.action == "escalate" and "no further rollback" in decision.reason


def test_at_most_one_automatic_rollback_until_a_person_acknowledges_it():
    failed_back = Release(
        "r-back", GOOD, minute(5), "failed", rollback_of="r-new", requested_by=AUTOMATIC
    )
    broken = [check(0, "drift"), check(4, "drift")]
    held = run(broken, releases=lane(failed_back))
    assert held.action == "held" and "not acknowledged" in held.reason
    assert unacknowledged(lane(failed_back)) == failed_back
    approved = Release(**{**failed_back.__dict__, "approved_by": "ana"})
    assert unacknowledged(lane(approved)) is None
    assert run(broken, releases=lane(approved)).action == "rollback"
    # a new release acknowledges it too; a manual rollback does not
    manual = Release("r-hand", GOOD, minute(8), "failed", rollback_of="r-new", requested_by="bo")
    assert unacknowledged(lane(failed_back, manual)) == failed_back
    newer = Release("r-next", BAD, minute(9), "failed", requested_by="ci")
    assert unacknowledged(lane(failed_back, newer)) is None


def test_time_to_restore_counts_from_the_failed_smoke_to_the_healthy_rollback():
    failed = check(0, "drift", "F")
    after = [check(-5, "passed", digest=GOOD), check(9.5, "passed", "H", GOOD)]
    assert time_to_restore(failed, after) == timedelta(minutes=9.5)
    assert time_to_restore(failed, [check(4, "drift")]) is None
