"""Look at a target until it passes, fails or the timeout runs out, keeping every observation."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

from factory_assets.common.clock import rfc3339, utc_now
from factory_assets.smoke.judgement import ErrorKind, Judgement

Verdict = Literal["passed", "failed", "timeout", "skipped"]

MAX_ERROR_BACKOFF_SECONDS = 60.0
MAX_OBSERVATIONS = 400  # consecutive repeats are folded, so this only bounds pathological flapping

VERDICT_OF: dict[str, Verdict] = {"pass": "passed", "fail": "failed", "skip": "skipped"}

# probe(remaining_seconds) -> what one look says; it must not raise for expected failures.
Probe = Callable[[float], Judgement]


@dataclass
class PollResult:
    verdict: Verdict
    reason: str
    observations: list[dict] = field(default_factory=list)
    duration_ms: int = 0
    error: ErrorKind | None = None
    last: Judgement | None = None


class ObservationLog:
    """Observations in order; a look identical to the previous one only bumps its count."""

    def __init__(self) -> None:
        self.items: list[dict] = []
        self.elided = 0

    def add(self, observation: dict, at: str) -> None:
        if self.items:
            last = self.items[-1]
            if {
                k: v for k, v in last.items() if k not in ("at", "last_at", "count")
            } == observation:
                last["count"] = last.get("count", 1) + 1
                last["last_at"] = at
                return
        if len(self.items) >= MAX_OBSERVATIONS:
            # keep the first look and the most recent ones: how it started and how it ended
            self.items.pop(1)
            self.elided += 1
        self.items.append({"at": at, **observation})

    def as_list(self) -> list[dict]:
        if not self.elided:
            return list(self.items)
        note = {"at": self.items[1]["at"], "note": f"{self.elided} earlier observation(s) elided"}
        return [self.items[0], note, *self.items[1:]]


def poll(
    probe: Probe,
    *,
    timeout_seconds: float,
    interval_seconds: float,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
    on_observation: Callable[[Judgement], None] | None = None,
) -> PollResult:
    """Call `probe` every `interval_seconds` (backing off on errors) until a verdict or the deadline.

    The last look happens at the deadline itself, so a timeout always reflects
    the state at the end of the allowed time.
    """
    start = clock()
    deadline = start + timeout_seconds
    log = ObservationLog()
    errors_in_a_row = 0
    while True:
        judgement = probe(max(deadline - clock(), 0.0))
        log.add(judgement.observation, rfc3339(utc_now()))
        if on_observation:
            on_observation(judgement)
        if judgement.state != "wait":
            verdict: Verdict = {"pass": "passed", "fail": "failed", "skip": "skipped"}[
                judgement.state
            ]  # type: ignore[assignment]
            return _result(verdict, judgement.reason, log, start, clock, judgement)
        remaining = deadline - clock()
        if remaining <= 0:
            reason = f"timed out after {timeout_seconds:g} s: {judgement.reason}"
            return _result("timeout", reason, log, start, clock, judgement)
        errors_in_a_row = errors_in_a_row + 1 if judgement.error else 0
        delay = interval_seconds
        if errors_in_a_row > 1:
            delay = min(
                interval_seconds * 2 ** (errors_in_a_row - 1),
                max(interval_seconds, MAX_ERROR_BACKOFF_SECONDS),
            )
        sleep(min(delay, remaining))


def _without_times(observation: dict) -> dict:
    return {k: v for k, v in observation.items() if k not in ("at", "last_at", "count")}


def _result(
    verdict: Verdict, reason: str, log: ObservationLog, start: float, clock, last: Judgement
) -> PollResult:
    error = last.error if verdict in ("failed", "timeout") else None
    return PollResult(verdict, reason, log.as_list(), int((clock() - start) * 1000), error, last)
