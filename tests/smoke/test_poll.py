"""The poll loop's timing and bookkeeping, on a virtual clock (the loop itself is pure logic)."""

from __future__ import annotations

from factory_assets.smoke.judgement import Judgement
from factory_assets.smoke.poll import MAX_OBSERVATIONS, ObservationLog, poll


class VirtualClock:
    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def scripted(*judgements: Judgement):
    items = list(judgements)

    def probe(remaining: float) -> Judgement:
        return items.pop(0) if len(items) > 1 else items[0]

    return probe


def test_waits_the_interval_between_looks_and_stops_on_a_verdict():
    clock = VirtualClock()
    result = poll(
        scripted(
            Judgement("wait", "w", {"note": "w"}),
            Judgement("wait", "w", {"note": "w"}),
            Judgement("pass", "ok", {"note": "ok"}),
        ),
        timeout_seconds=60,
        interval_seconds=5,
        clock=clock,
        sleep=clock.sleep,
    )
    assert result.verdict == "passed" and clock.sleeps == [5, 5]
    assert [o.get("count", 1) for o in result.observations] == [2, 1]


def test_last_look_is_at_the_deadline():
    clock = VirtualClock()
    looks: list[float] = []

    def probe(remaining: float) -> Judgement:
        looks.append(clock.now)
        return Judgement("wait", "still", {"note": "still"})

    result = poll(probe, timeout_seconds=12, interval_seconds=5, clock=clock, sleep=clock.sleep)
    assert result.verdict == "timeout" and looks == [0, 5, 10, 12]
    assert result.reason.startswith("timed out after 12 s: still")


def test_errors_back_off_then_the_interval_returns():
    clock = VirtualClock()
    down = Judgement("wait", "503", {"note": "503"}, error="unavailable")
    up = Judgement("wait", "progressing", {"note": "progressing"})
    poll(
        scripted(down, down, down, down, up, up, Judgement("pass", "ok")),
        timeout_seconds=600,
        interval_seconds=2,
        clock=clock,
        sleep=clock.sleep,
    )
    assert clock.sleeps == [2, 4, 8, 16, 2, 2]


def test_timeout_after_errors_reports_the_error_kind():
    clock = VirtualClock()
    down = Judgement("wait", "503", {"note": "503"}, error="unavailable")
    result = poll(
        scripted(down), timeout_seconds=10, interval_seconds=1, clock=clock, sleep=clock.sleep
    )
    assert result.verdict == "timeout" and result.error == "unavailable"


def test_flapping_observations_are_bounded_keeping_first_and_last():
    log = ObservationLog()
    for i in range(MAX_OBSERVATIONS + 50):
        log.add({"note": f"look {i % 2}"}, f"t{i}")
    items = log.as_list()
    assert len(items) == MAX_OBSERVATIONS + 1
    assert items[0] == {"at": "t0", "note": "look 0"}
    assert "50 earlier observation(s) elided" in items[1]["note"]
    assert items[-1]["at"] == f"t{MAX_OBSERVATIONS + 49}"
