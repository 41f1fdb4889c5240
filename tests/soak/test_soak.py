"""The short seeded soak `make test` runs (about two minutes): every runner, both layouts, every
kind of fault, and no invariant broken. `make soak` is the long one (README, TEST.md)."""

from __future__ import annotations

import pytest

from tests.soak.harness import run_soak
from tests.soak.schedule import FAULT_KINDS, SoakConfig, make_schedule
from tests.soak.shrink import subject_service

pytestmark = pytest.mark.slow

# Seed 40 schedules every kind of fault within 45 s, a kill of the daemon among them.
SHORT = SoakConfig(seed=40, duration=45, services=16, requests=120, faults_per_minute=24, drain=75)


def test_a_short_seeded_soak_breaks_no_invariant(tmp_path):
    schedule = make_schedule(SHORT)
    assert {e.kind for e in schedule.faults} == set(FAULT_KINDS)
    report = run_soak(schedule, tmp_path / "soak")
    print("\n".join(report.lines()))
    if report.violations:
        first = report.violations[0]
        service = subject_service(first)
        story = [
            line.show()
            for line in report.history
            if line.at <= first.at + 1
            and (line.kind.startswith("fault") or (service and service in (line.subject or "")))
        ]
        pytest.fail(
            "\n".join(
                [f"{len(report.violations)} violation(s), seed {SHORT.seed}:"]
                + [v.line() for v in report.violations[:10]]
                + [f"history of {service or 'the soak'}:"]
                + story[-60:]
                + [
                    "shrink and replay it: python -m tests.soak --seed 40 --minutes 0.75 "
                    "--services 16 --requests 120 --faults-per-minute 24 --drain 75"
                ]
            )
        )
    # It was a soak: requests went through, faults were injected, every commit was checked.
    # How many land depends on the machine's speed (under a load of 22 on 2 cores, 52 of 120
    # did); these floors only say that the runners did real work, not how fast.
    assert report.landed >= 30 and report.states["promoted"] >= 15
    injected = {kind for kind, n in report.injected.items() if n > 0}
    assert {"registry_5xx", "git_reject", "kill", "skew"} <= injected, report.injected
    assert len(injected) >= 6, report.injected
    assert report.checks["queue read"] == sum(report.commits.values())
    assert report.checks["evidence validate"] == 2
