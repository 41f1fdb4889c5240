"""Automatic rollback: when a pin that replaced a good one breaks, request the good one again.

The decision, from the lane's releases and the smoke checks of its current pin:

- **Broken, confirmed.** A verdict that says the pin is broken (`drift`, `degraded`,
  `sync_failed`, `failed`: checks.BROKEN) starts a suspicion; a second broken verdict at least
  the environment's sync window later, with no pass in between, confirms it. One broken look
  followed by a pass is a flake and does nothing. A timeout counts neither way (a slow sync).
- **Somewhere to go back to.** The newest earlier release of the lane that was pinned and
  passed smoke with another digest: the one `factory rollback` would choose.
- **Once.** At most one automatic rollback per lane until a person acknowledges it (approves
  that rollback, or requests a new release); a rollback already queued is not queued again.
- **Never a loop.** When the broken pin is itself a rollback, the answer is to escalate.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from factory_assets.policy.checks import Check, on_pin

Action = Literal["none", "confirm", "rollback", "escalate", "held"]
AUTOMATIC = "factory-auto-rollback"  # who requests an automatic rollback (`requested_by`)
WAITING = ("pending", "promoting")  # a rollback on its way


@dataclass(frozen=True)
class Release:
    """A release of the lane, as far as the decision needs it."""

    id: str
    digest: str | None
    requested_at: datetime
    state: str  # pending, promoted, failed, superseded, ...
    promoted_at: datetime | None = None
    smoke_passed: bool = False  # its pin passed smoke (the queue's smoke_verdict)
    rollback_of: str | None = None
    requested_by: str | None = None
    approved_by: str | None = None

    @property
    def automatic(self) -> bool:
        return self.rollback_of is not None and self.requested_by == AUTOMATIC


@dataclass(frozen=True)
class Decision:
    action: Action
    reason: str
    failed: Check | None = None  # the first broken verdict of the run
    confirmed_by: Check | None = None  # the second, after the sync window
    confirm_after: datetime | None = None  # action `confirm`: a check from then on decides
    target: Release | None = None  # action `rollback`: the known-good release
    replaces: Release | None = None  # the release whose pin is broken


def _stamp(moment: datetime) -> str:
    return f"{moment:%Y-%m-%d %H:%M:%S} UTC"


def broken_run(checks: Iterable[Check]) -> list[Check]:
    """The broken verdicts since the pin's last pass (oldest first; [] while it is healthy)."""
    judged = [c for c in checks if c.judges]
    last_pass = max((i for i, c in enumerate(judged) if c.passed), default=-1)
    return [c for c in judged[last_pass + 1 :] if c.broken]


def known_good(releases: Sequence[Release], current: Release) -> Release | None:
    """The newest release before `current` that was pinned and passed smoke, another digest."""
    earlier = [
        r
        for r in releases
        if r.id != current.id
        and r.promoted_at is not None
        and r.smoke_passed
        and r.digest
        and r.digest != current.digest
        and r.requested_at <= current.requested_at
    ]
    return max(earlier, key=lambda r: (r.promoted_at, r.requested_at), default=None)


def unacknowledged(releases: Sequence[Release]) -> Release | None:
    """The lane's latest automatic rollback, unless a person approved it or asked for a new
    release after it (a rollback, by hand or not, is no new release)."""
    automatic = [r for r in releases if r.automatic]
    if not automatic:
        return None
    last = max(automatic, key=lambda r: r.requested_at)
    if last.approved_by:
        return None
    if any(r.rollback_of is None and r.requested_at > last.requested_at for r in releases):
        return None
    return last


def decide(
    releases: Sequence[Release],
    checks: Iterable[Check],
    *,
    current_id: str | None,
    sync_window: timedelta,
    now: datetime,
) -> Decision:
    """What to do about the lane's current pin at `now` (see the module docstring)."""
    current = next((r for r in releases if r.id == current_id), None)
    if current is None or current.promoted_at is None:
        return Decision("none", "no pinned release to judge")
    seen = [
        c for c in on_pin(checks, since=current.promoted_at, digest=current.digest) if c.at <= now
    ]
    run = broken_run(seen)
    if not run:
        return Decision("none", "healthy: no broken verdict since the last pass")
    first = run[0]
    due = first.at + sync_window
    confirmation = next((c for c in run[1:] if c.at >= due), None)
    what = f"{first.kind} at {_stamp(first.at)}"
    if confirmation is None:
        return Decision(
            "confirm",
            f"{what}: a second check from {_stamp(due)} (after the sync window) confirms it",
            failed=first,
            confirm_after=due,
            replaces=current,
        )
    found = dict(failed=first, confirmed_by=confirmation, replaces=current)
    confirmed = f"{what}, confirmed by {confirmation.kind} at {_stamp(confirmation.at)}"
    if current.rollback_of is not None:
        return Decision(
            "escalate",
            f"rollback {current.id} fails smoke too ({confirmed}): escalating, no further rollback",
            **found,
        )
    queued = next((r for r in releases if r.rollback_of == current.id and r.state in WAITING), None)
    if queued is not None:
        return Decision("none", f"rollback {queued.id} is queued already", **found)
    earlier = unacknowledged(releases)
    if earlier is not None:
        return Decision(
            "held",
            f"{confirmed}; automatic rollback {earlier.id} is not acknowledged yet (approve it or "
            "request a new release): no second one",
            **found,
        )
    target = known_good(releases, current)
    if target is None:
        return Decision(
            "none", f"{confirmed}; no earlier release passed smoke: nothing to go back to", **found
        )
    return Decision(
        "rollback",
        f"{confirmed}: rolling back to {target.id} ({target.digest})",
        target=target,
        **found,
    )


def time_to_restore(failed: Check, checks: Iterable[Check]) -> timedelta | None:
    """From the broken verdict to the first pass after it (the rollback's healthy smoke)."""
    passed = [c.at for c in checks if c.passed and c.at >= failed.at]
    return min(passed) - failed.at if passed else None
