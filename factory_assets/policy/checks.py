"""One smoke check of a lane's pin, as the policies read it: when, what it found, its record.

A check whose verdict kind had not changed writes no record (smoke records only what
changed), so `record_id` may be None: the policies count such a check as an observation, and
the caller records it when a decision rests on it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from factory_assets.common.clock import parse_rfc3339
from factory_assets.smoke.judgement import judges_the_pin, kind_of_details

# The kinds that say the pin is broken (the verdict `failed`): a timeout or a stale health may
# be a slow sync, which the soak counts against the pin but an automatic rollback does not.
BROKEN = frozenset({"degraded", "sync_failed", "drift", "failed"})


@dataclass(frozen=True)
class Check:
    """A smoke verdict on one pin (see the module docstring)."""

    at: datetime
    kind: str  # the verdict kind (`passed`, `drift`, `degraded`, ..., `unreachable`)
    record_id: str | None = None
    digest: str | None = None
    release_id: str | None = None

    @property
    def judges(self) -> bool:
        """Does it say anything about the pin (an unreachable Argo CD does not)?"""
        return judges_the_pin(self.kind)

    @property
    def passed(self) -> bool:
        return self.kind == "passed"

    @property
    def broken(self) -> bool:
        return self.kind in BROKEN


def from_record(record: object) -> Check:
    """A Check from a smoke evidence record (a model or its raw dict)."""
    if isinstance(record, dict):
        details = record.get("details") or {}
        at, rid = record.get("finished_at") or record.get("started_at"), record.get("id")
        get = details.get
    else:
        details = record.details
        at = record.finished_at or record.started_at
        rid = record.id

        def get(name: str):
            return getattr(details, name, None)

    moment = at if isinstance(at, datetime) else parse_rfc3339(str(at))
    return Check(moment, kind_of_details(details), rid, get("digest"), get("release_id"))


def on_pin(checks: Iterable[Check], *, since: datetime, digest: str | None = None) -> list[Check]:
    """The checks of one pin since it landed, oldest first (a check of another digest is not)."""
    return sorted(
        (c for c in checks if c.at >= since and (digest is None or c.digest in (None, digest))),
        key=lambda c: c.at,
    )
