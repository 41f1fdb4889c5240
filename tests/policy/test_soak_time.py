"""Soak time: a pin must stay healthy that long, proven by smoke checks; a failure restarts it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from factory_assets.policy.checks import Check, from_record
from factory_assets.policy.soak_time import soak

LANDED = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)
THIRTY = timedelta(minutes=30)
PIN = "sha256:" + "a" * 64


def at(minute: int, kind: str = "passed", record: str | None = None, digest=PIN) -> Check:
    return Check(LANDED + timedelta(minutes=minute), kind, record, digest)


def test_no_check_yet_means_the_soak_has_not_started():
    state = soak([], landed_at=LANDED, required=THIRTY, now=LANDED + timedelta(hours=2))
    assert (state.state, state.text()) == ("waiting", "soak starts at the first passed check")


def test_the_clock_starts_at_the_first_passed_check_and_counts_whole_minutes():
    state = soak(
        [at(1, record="A")], landed_at=LANDED, required=THIRTY, now=LANDED + timedelta(minutes=13)
    )
    assert state.state == "soaking" and state.began_at == LANDED + timedelta(minutes=1)
    assert state.text() == "soaking, 12 min of 30"
    assert state.records == ("A",)


def test_a_soak_that_completes_names_the_records_that_prove_it():
    checks = [at(1, record="A"), at(16), at(31, record="B")]  # the 16-minute check wrote none
    state = soak(checks, landed_at=LANDED, required=THIRTY, now=LANDED + timedelta(minutes=40))
    assert state.soaked and state.ended_at == LANDED + timedelta(minutes=31)
    assert state.records == ("A", "B") and state.unrecorded is None
    assert state.text() == "soaked (records A, B)"
    assert state.elapsed == THIRTY


def test_a_proving_check_without_a_record_is_handed_back_to_be_recorded():
    state = soak(
        [at(1, record="A"), at(31)], landed_at=LANDED, required=THIRTY, now=LANDED + THIRTY * 2
    )
    assert state.soaked and state.records == ("A",)
    assert state.unrecorded == at(31)


def test_time_alone_does_not_end_a_soak_without_a_check():
    state = soak([at(1, record="A")], landed_at=LANDED, required=THIRTY, now=LANDED + THIRTY * 3)
    assert state.state == "soaking"
    assert state.text() == "soaking, 30 min of 30: the next passed check ends it"


def test_a_failed_verdict_restarts_the_clock_at_the_next_pass():
    checks = [at(1, record="A"), at(10, "drift", "D"), at(20, record="P")]
    state = soak(checks, landed_at=LANDED, required=THIRTY, now=LANDED + timedelta(minutes=35))
    assert state.state == "soaking" and state.began_at == LANDED + timedelta(minutes=20)
    assert state.restarted_by == at(10, "drift", "D")
    assert (
        state.text()
        == "soaking, 15 min of 30 (clock restarted by a drift verdict at 2026-12-07 09:10 UTC)"
    )
    # the 31st minute no longer ends it: 30 minutes from the pass after the drift do
    later = soak(
        [*checks, at(31, record="Q"), at(50, record="R")],
        landed_at=LANDED,
        required=THIRTY,
        now=LANDED + timedelta(hours=1),
    )
    assert later.soaked and later.records == ("P", "Q", "R")


def test_after_a_failure_with_no_pass_since_the_soak_waits():
    checks = [at(1, record="A"), at(5, "degraded", "F")]
    state = soak(checks, landed_at=LANDED, required=THIRTY, now=LANDED + timedelta(hours=1))
    assert state.state == "waiting" and state.records == ()
    assert state.text() == (
        "clock restarted by a degraded verdict at 2026-12-07 09:05 UTC: "
        "soak starts at the next passed check"
    )


def test_a_timeout_counts_against_the_pin_but_an_unreachable_argocd_does_not():
    timeout = soak(
        [at(1, record="A"), at(10, "timeout", "T"), at(31)],
        landed_at=LANDED,
        required=THIRTY,
        now=LANDED + timedelta(hours=1),
    )
    assert timeout.state == "soaking" and timeout.began_at == LANDED + timedelta(minutes=31)
    unreachable = soak(
        [at(1, record="A"), at(10, "unreachable", "U"), at(31, record="B")],
        landed_at=LANDED,
        required=THIRTY,
        now=LANDED + timedelta(hours=1),
    )
    assert unreachable.soaked and unreachable.records == ("A", "B")


def test_checks_before_the_pin_landed_or_of_another_digest_do_not_count():
    other = "sha256:" + "b" * 64
    checks = [at(-40, record="OLD"), at(-5, "drift", "OLD2"), at(1, "failed", "X", digest=other)]
    state = soak(
        [*checks, at(2, record="A")],
        landed_at=LANDED,
        required=THIRTY,
        now=LANDED + THIRTY,
        digest=PIN,
    )
    assert state.state == "soaking" and state.restarted_by is None and state.records == ("A",)


def test_a_check_is_read_from_a_smoke_record():
    raw = {
        "id": "01JABCDEFGHJKMNPQRSTVWXYZ0",
        "finished_at": "2026-12-07T09:10:00.000000Z",
        "details": {"kind": "smoke", "method": "argocd", "verdict": "failed", "error": "drift"},
    }
    check = from_record(raw)
    assert (check.kind, check.record_id, check.broken) == ("drift", raw["id"], True)
    assert check.at == LANDED + timedelta(minutes=10)


def test_a_soak_of_seconds_counts_seconds():
    state = soak(
        [at(1, record="A")],
        landed_at=LANDED,
        required=timedelta(seconds=5),
        now=LANDED + timedelta(minutes=1, seconds=3),
    )
    assert state.text() == "soaking, 3 s of 5"
