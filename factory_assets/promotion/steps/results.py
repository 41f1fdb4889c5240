"""What the steps of a pass share and hand each other: the pass, and each step's typed result."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Literal

from factory_assets.evidence.model import EvidenceRecord
from factory_assets.pins.pin_file import PinChange
from factory_assets.pins.target import PinTarget
from factory_assets.promotion.outcome import ServiceOutcome
from factory_assets.promotion.pass_config import PassConfig
from factory_assets.promotion.plan import PromotionPlan
from factory_assets.promotion.records import RecordContext
from factory_assets.release.model import ReleaseEntry, ReleaseQueue
from factory_assets.release.queue_file import queue_relpath
from resources.registry import ResolvedDigest

RELEASE_TRAILER = "Factory-Release"  # names each release a pin commit pins (for recovery)


@dataclass(frozen=True)
class PassRun:
    """One pass as every step sees it: who runs it, when, what its records share, its rules."""

    runner: str
    now: datetime
    ctx: RecordContext
    config: PassConfig


def state_paths(tree: Path) -> tuple[str, ...]:
    """What every state transaction may change: the queue file and the evidence folder."""
    return (queue_relpath(tree), "evidence")


@dataclass(frozen=True)
class Claim:
    """An entry this runner owns for the pass: to pin, or (in `ClaimStep.recover`) to record."""

    entry: ReleaseEntry
    forced: bool = False
    target: PinTarget | None = None  # the lane's pin; None: no usable one (recovery only)
    replication_waits: bool = False  # a missing digest waits for the env's replica


@dataclass(frozen=True)
class Resolution:
    claim: Claim
    resolved: ResolvedDigest | None = None
    error: str | None = None
    # how to treat the error; `waiting`: the env's registry has no replica yet
    result: Literal["retry", "failure", "refused", "waiting"] | None = None
    retryable: bool = False


@dataclass(frozen=True)
class ClaimStep:
    plan: PromotionPlan
    claims: tuple[Claim, ...] = ()  # to resolve and pin
    recover: tuple[Claim, ...] = ()  # pinned by a runner that stopped before recording
    outcomes: tuple[ServiceOutcome, ...] = ()
    summary: tuple[str, ...] = ()
    paths: tuple[str, ...] = ()  # what its transaction commits: `state_paths(tree)`


@dataclass(frozen=True)
class WrittenPin:
    resolution: Resolution
    changes: tuple[PinChange, ...]


@dataclass(frozen=True)
class PinStep:
    written: tuple[WrittenPin, ...] = ()
    superseded: tuple[tuple[Resolution, str], ...] = ()  # the pin already has a newer release
    failed: tuple[Resolution, ...] = ()  # could not be written (a file turned invalid)
    lost: tuple[ServiceOutcome, ...] = ()  # the claim is no longer ours
    paths: tuple[str, ...] = ()  # what its transaction commits: `state_paths(tree)`


@dataclass(frozen=True)
class Recovery:
    """A pin whose runner stopped before recording it: its commit, re-verified digest, changes."""

    resolution: Resolution
    commit: str | None
    changes: tuple[PinChange, ...]


@dataclass(frozen=True)
class RecordStep:
    outcomes: tuple[ServiceOutcome, ...] = ()
    paths: tuple[str, ...] = ()  # what its transaction commits: `state_paths(tree)`


@dataclass
class Writes:
    """Entries changed in one apply, plus the outcomes to report."""

    queue: ReleaseQueue
    outcomes: list[ServiceOutcome] = field(default_factory=list)
    summary: list[str] = field(default_factory=list)

    def put(self, entry: ReleaseEntry) -> ReleaseEntry:
        self.queue = self.queue.replace(entry)
        return entry


def with_evidence(entry: ReleaseEntry, record: EvidenceRecord) -> ReleaseEntry:
    return entry.model_copy(update={"evidence": record.id})


def outcome(
    entry: ReleaseEntry, result: str, record: EvidenceRecord | None = None, **extra
) -> ServiceOutcome:
    return ServiceOutcome(
        service=entry.service,
        env=entry.env,
        release_id=entry.id,
        result=result,  # type: ignore[arg-type]
        tag=entry.label,
        attempt=entry.attempts,
        evidence_id=record.id if record else None,
        evidence_digest=record.integrity.content_digest if record else None,
        **extra,
    )


def lost(mine: ReleaseEntry, current: ReleaseEntry | None) -> ServiceOutcome:
    """The claim is no longer this runner's: superseded meanwhile, or taken over."""
    if current is not None and current.state == "superseded":
        return outcome(mine, "superseded", superseded_by=current.superseded_by)
    state = current.state if current else "gone from the queue"
    holder = f" by {current.claimed_by}" if current and current.claimed_by else ""
    return outcome(
        mine, "retry", error=f"claim lost before pinning: the entry is now {state}{holder}"
    )
