"""Step 3: write each resolved claim's pin through its lane's pin target, every kind in one
batch; the entries become `promoted` (git transaction 2)."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from factory_assets.common.errors import InputError
from factory_assets.layout.targets import TargetError
from factory_assets.pins.target import PinNotWritten, PinTargets, PinWrite, write_pins
from factory_assets.promotion.outcome import ServiceOutcome
from factory_assets.promotion.steps.results import (
    RELEASE_TRAILER,
    PassRun,
    PinStep,
    Resolution,
    WrittenPin,
    lost,
    state_paths,
)
from factory_assets.release.model import ReleaseEntry, ReleaseQueue
from factory_assets.release.queue_file import load_queue, save_queue
from factory_assets.release.state import mark_pinned


def write_pin(tree: Path, run: PassRun, resolutions: Sequence[Resolution]) -> PinStep:
    """Write the pins of resolved claims that are still this runner's; what each pin target
    could not write (or found newer, or held) is said in the result."""
    doc = load_queue(tree)
    queue = doc.queue
    pins = PinTargets.for_tree(tree)
    decided = _PinDecisions()
    for res in resolutions:
        current = queue.by_id(res.claim.entry.id)
        if current is None or current.state != "promoting" or current.claimed_by != run.runner:
            decided.lost.append(lost(res.claim.entry, current))
            continue
        decided.decide(pins, queue, res, current, run.now)
    # Most pins prove themselves: write the queue that says so while a render runs, and
    # write it again only when one did not.
    now = run.now
    hoped = queue.replace(*(mark_pinned(c, digest=w.digest, now=now) for _, c, w in decided.writes))
    results = write_pins(
        tree,
        [w.write for _, _, w in decided.writes],
        meanwhile=functools.partial(save_queue, doc, hoped),
    )
    written: list[WrittenPin] = []
    for res, current, write in decided.writes:
        result = results[write.write.key]
        if isinstance(result, PinNotWritten):
            decided.failed.append(_not_written(res, result))
            continue
        queue = queue.replace(mark_pinned(current, digest=write.digest, now=now))
        written.append(WrittenPin(res, result.changes))
    if queue != hoped:
        save_queue(doc, queue)
    paths = [*state_paths(tree), *(c.path for w in written for c in w.changes)]
    return PinStep(
        tuple(written),
        tuple(decided.superseded),
        tuple(decided.failed),
        tuple(decided.lost),
        tuple(paths),
    )


def pin_message(step: PinStep) -> str:
    """`factory: pin api, web` + one line per pin + a trailer per release (for recovery)."""
    services = ", ".join(w.resolution.claim.entry.service for w in step.written) or "nothing"
    lines = [f"factory: pin {services}", ""]
    for w in step.written:
        entry = w.resolution.claim.entry
        digest = w.resolution.resolved.digest if w.resolution.resolved else "?"
        source = f"tag {entry.tag}" if entry.tag else "digest"
        lines.append(f"{entry.service}: {digest} (release {entry.id}, {source})")
    lines.append("")
    lines += [f"{RELEASE_TRAILER}: {w.resolution.claim.entry.id}" for w in step.written]
    return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class _Write:
    digest: str
    write: PinWrite


@dataclass
class _PinDecisions:
    """What the pin step decided per claim, before anything is written."""

    writes: list[tuple[Resolution, ReleaseEntry, _Write]] = field(default_factory=list)
    superseded: list[tuple[Resolution, str]] = field(default_factory=list)
    failed: list[Resolution] = field(default_factory=list)
    lost: list[ServiceOutcome] = field(default_factory=list)

    def decide(
        self,
        pins: PinTargets,
        queue: ReleaseQueue,
        res: Resolution,
        current: ReleaseEntry,
        now: datetime,
    ) -> None:
        """Held since the claim: wait; the pin has a newer release: superseded; else write."""
        assert res.resolved is not None
        try:
            pin = pins.for_lane(current.service, current.env)
            if pin.held() and not res.claim.forced:
                self.failed.append(_held(res))
                return
            newer = _newer_pin(queue, pin.current(queue).release_id, current)
            if newer:
                self.superseded.append((res, newer))
                return
            digest = res.resolved.digest
            write = pin.pin_write(current, res.resolved.image, digest, now)
        except TargetError as exc:
            self.failed.append(Resolution(res.claim, res.resolved, str(exc), "refused", False))
            return
        except InputError as exc:
            self.failed.append(
                Resolution(res.claim, error=str(exc), result="retry", retryable=True)
            )
            return
        self.writes.append((res, current, _Write(digest, write)))


def _not_written(res: Resolution, result: PinNotWritten) -> Resolution:
    """A pin its writer could not write: tried again (a file that turned invalid), or refused
    (an overlay whose render does not show it)."""
    if result.retryable:
        return Resolution(res.claim, error=result.error, result="retry", retryable=True)
    return Resolution(res.claim, res.resolved, result.error, "refused", False)


def _newer_pin(queue: ReleaseQueue, release_id: str | None, current: ReleaseEntry) -> str | None:
    """The id of the lane's pinned release when it is newer than `current` (never go back)."""
    pinned = queue.by_id(release_id) if release_id else None
    if (
        pinned
        and pinned.lane == current.lane
        and pinned.state == "promoted"
        and _newer(queue, pinned, current)
    ):
        return pinned.id
    return None


def _newer(queue: ReleaseQueue, a: ReleaseEntry, b: ReleaseEntry) -> bool:
    """Is `a` a newer request than `b` (time, then file position)?"""
    position = {e.id: i for i, e in enumerate(queue.entries)}
    return a.order_key(position[a.id]) > b.order_key(position[b.id])


def _held(res: Resolution) -> Resolution:
    # Set while this pass resolved the digest: the hold wins over the claim.
    reason = "service put on hold during the promotion: not pinned; waits for the hold"
    return Resolution(res.claim, error=reason, result="retry", retryable=True)
