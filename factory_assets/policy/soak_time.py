"""Soak time: a stage's request waits until the upstream pin has stayed healthy that long.

Healthy means every smoke verdict on the pin since it landed passed: a verdict that judges the
pin and did not pass (`drift`, `degraded`, a `timeout`, ...) restarts the clock, which starts
again at the next passed check. A check that could not judge the pin (Argo CD unreachable)
neither passes nor restarts anything. The soak is over when a passed check comes at least the
soak time after the one that started the clock, with no other verdict in between: the time
alone proves nothing about a pin nobody looked at.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from factory_assets.policy.checks import Check, on_pin
from factory_assets.policy.durations import minutes

State = Literal["waiting", "soaking", "soaked"]


def _clock(moment: datetime) -> str:
    return f"{moment:%Y-%m-%d %H:%M} UTC"


@dataclass(frozen=True)
class Soak:
    """Where a pin's soak stands at `now` (see the module docstring)."""

    state: State  # waiting: no passed check since it landed or since the last failure
    required: timedelta
    now: datetime
    began_at: datetime | None = None  # the passed check that started the clock
    ended_at: datetime | None = None  # the passed check that proved it (soaked only)
    records: tuple[str, ...] = ()  # the smoke records from the start to the proof
    restarted_by: Check | None = None  # the last verdict that restarted the clock
    # a passed check that proves it wrote no record yet (its kind had not changed): the
    # caller records it, since the handoff names the records that prove the soak
    unrecorded: Check | None = None

    @property
    def elapsed(self) -> timedelta:
        if self.began_at is None:
            return timedelta(0)
        return (self.ended_at or self.now) - self.began_at

    @property
    def soaked(self) -> bool:
        return self.state == "soaked"

    def text(self) -> str:
        """`soaking, 12 min of 30`; `soaked (records X, Y)`; `clock restarted by ...`."""
        restart = (
            f"clock restarted by a {self.restarted_by.kind} verdict at "
            f"{_clock(self.restarted_by.at)}"
            if self.restarted_by
            else ""
        )
        if self.state == "soaked":
            return f"soaked (records {', '.join(self.records)})"
        if self.state == "waiting":
            return (
                f"{restart}: soak starts at the next passed check"
                if restart
                else ("soak starts at the first passed check")
            )
        if self.required < timedelta(minutes=2):  # a soak of seconds (the demo's) counts them
            done, total = int(self.elapsed.total_seconds()), int(self.required.total_seconds())
            unit = "s"
        else:
            done, total, unit = minutes(self.elapsed), minutes(self.required), "min"
        text = f"soaking, {min(done, total)} {unit} of {total}"
        if done >= total:
            text += ": the next passed check ends it"
        return f"{text} ({restart})" if restart else text


def soak(
    checks: Iterable[Check],
    *,
    landed_at: datetime,
    required: timedelta,
    now: datetime,
    digest: str | None = None,
) -> Soak:
    """The soak of the pin that landed at `landed_at` (its checks since then), at `now`."""
    seen = [c for c in on_pin(checks, since=landed_at, digest=digest) if c.at <= now]
    judged = [c for c in seen if c.judges]
    failures = [c for c in judged if not c.passed]
    restarted_by = failures[-1] if failures else None
    after = [c for c in judged if restarted_by is None or c.at > restarted_by.at]
    if not after:
        return Soak("waiting", required, now, restarted_by=restarted_by)
    began = after[0]
    proof = next((c for c in after if c.at - began.at >= required), None)
    if proof is None:
        return Soak(
            "soaking",
            required,
            now,
            began_at=began.at,
            records=_ids(after),
            restarted_by=restarted_by,
        )
    proving = [c for c in after if c.at <= proof.at]
    return Soak(
        "soaked",
        required,
        now,
        began_at=began.at,
        ended_at=proof.at,
        records=_ids(proving),
        restarted_by=restarted_by,
        unrecorded=None if proof.record_id else proof,
    )


def _ids(checks: list[Check]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(c.record_id for c in checks if c.record_id))
