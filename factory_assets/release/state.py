"""The release state machine: pure transitions between queue states.

    pending --claim--> promoting --pinned--> promoted
       ^                   |
       +------retry--------+--(out of attempts / not retryable)--> failed
    pending|promoting --newer release claimed--> superseded

Each function takes an entry and returns a new one; nothing here does I/O.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from factory_assets.common import settings
from factory_assets.release.model import ReleaseEntry

MAX_ERROR_CHARS = 2000


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential back-off: base * 2^(attempts-1), capped."""

    base_seconds: int = settings.FACTORY_RETRY_BASE_SECONDS.default
    max_seconds: int = settings.FACTORY_RETRY_MAX_SECONDS.default

    def delay(self, attempts: int) -> timedelta:
        exponent = max(0, min(attempts - 1, 30))
        return timedelta(seconds=min(self.base_seconds * (2**exponent), self.max_seconds))


class TransitionError(ValueError):
    """A transition that the state machine does not allow (a bug, never user input)."""


def _require(entry: ReleaseEntry, *states: str) -> None:
    if entry.state not in states:
        raise TransitionError(
            f"release {entry.id} is {entry.state}, expected {' or '.join(states)}"
        )


def _short(error: str) -> str:
    error = " ".join(error.split())
    return error if len(error) <= MAX_ERROR_CHARS else error[: MAX_ERROR_CHARS - 1] + "…"


def is_due(entry: ReleaseEntry, now: datetime) -> bool:
    """Pending and past its back-off."""
    return entry.state == "pending" and (
        entry.next_attempt_at is None or entry.next_attempt_at <= now
    )


def claim(entry: ReleaseEntry, *, runner: str, now: datetime, lease: timedelta) -> ReleaseEntry:
    """pending -> promoting: one more attempt, owned by `runner` until the lease ends."""
    _require(entry, "pending")
    return entry.model_copy(
        update={
            "state": "promoting",
            "attempts": entry.attempts + 1,
            "claimed_by": runner,
            "claim_expires_at": now + lease,
            "next_attempt_at": None,
        }
    )


def mark_pinned(entry: ReleaseEntry, *, digest: str, now: datetime) -> ReleaseEntry:
    """promoting -> promoted. The claim stays until the attempt's record is written."""
    _require(entry, "promoting")
    return entry.model_copy(
        update={
            "state": "promoted",
            "digest": digest,
            "finished_at": now,
            "last_error": None,
            "waiting_since": None,
        }
    )


def mark_recorded(
    entry: ReleaseEntry, *, evidence: str, promoted_commit: str | None = None
) -> ReleaseEntry:
    """Attach the attempt's evidence record (and the pin commit) and drop the claim."""
    extra = {"promoted_commit": promoted_commit} if promoted_commit else {}
    return _without_claim(entry, evidence=evidence, **extra)


def mark_retry(
    entry: ReleaseEntry, *, error: str, now: datetime, policy: RetryPolicy
) -> ReleaseEntry:
    """A retryable failure: back to pending with back-off, or failed when attempts are spent."""
    _require(entry, "promoting")
    return _retry_or_fail(
        entry, error=error, now=now, next_attempt_at=now + policy.delay(entry.attempts)
    )


def mark_failed(entry: ReleaseEntry, *, error: str, now: datetime) -> ReleaseEntry:
    """A failure that retrying cannot fix (auth, bad input) or the last allowed attempt."""
    _require(entry, "pending", "promoting")
    return _without_claim(
        entry, state="failed", last_error=_short(error), next_attempt_at=None, finished_at=now
    )


def mark_superseded(entry: ReleaseEntry, *, by: str, now: datetime) -> ReleaseEntry:
    """A newer release of the same service won: this one is never promoted."""
    _require(entry, "pending", "promoting")
    return _without_claim(
        entry, state="superseded", superseded_by=by, next_attempt_at=None, finished_at=now
    )


def abandon_claim(entry: ReleaseEntry, *, reason: str, now: datetime) -> ReleaseEntry:
    """A claim whose runner is gone: the attempt counts, the entry is ready again at once.

    No back-off, because a dead runner says nothing about the registry.
    """
    _require(entry, "promoting")
    return _retry_or_fail(entry, error=reason, now=now, next_attempt_at=None)


def _retry_or_fail(
    entry: ReleaseEntry, *, error: str, now: datetime, next_attempt_at: datetime | None
) -> ReleaseEntry:
    """Back to pending (the attempt counted), or failed once the attempts are spent."""
    if entry.attempts >= entry.max_attempts:
        return mark_failed(
            entry, error=f"{error} (gave up after {entry.attempts} attempts)", now=now
        )
    return _without_claim(
        entry, state="pending", last_error=_short(error), next_attempt_at=next_attempt_at
    )


def _without_claim(entry: ReleaseEntry, **update: object) -> ReleaseEntry:
    """`entry` with `update` applied and its claim dropped (every way out of `promoting`)."""
    return entry.model_copy(update={**update, "claimed_by": None, "claim_expires_at": None})
