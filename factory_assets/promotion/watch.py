"""What the release-queue sensor needs: lanes, and which are ready, at the remote head.

Plain Python; `sensors/release_queue.py` turns it into partitions and run requests. A
runner plans only the environments it may promote (FACTORY_ENVS).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from factory_assets.common.clock import utc_now
from factory_assets.layout.config import DEFAULT_ENV, allowed_envs, load_layout
from factory_assets.pins.pin_file import pin_lanes
from factory_assets.promotion.claim_lease import claim_is_stale
from factory_assets.promotion.plan import read_plan
from resources.gitops import GitopsWriter


@dataclass(frozen=True)
class ReadyService:
    """A lane the next pass would act on, and the run key base for that exact state."""

    service: str
    release_id: str | None
    attempts: int
    run_key: str
    env: str = DEFAULT_ENV


@dataclass(frozen=True)
class QueueSnapshot:
    lanes: tuple[tuple[str, str], ...]  # (service, env), from the queue and the pin files
    ready: tuple[ReadyService, ...]
    waiting: tuple[str, ...]  # "service: reason" lines, for the tick log

    @property
    def services(self) -> tuple[str, ...]:
        return tuple(sorted({service for service, _ in self.lanes}))


def queue_snapshot(repo: Path, now: datetime | None = None) -> QueueSnapshot:
    """Fetch the branch and plan at the fresh remote head (never the local checkout)."""
    moment = now or utc_now()
    envs = allowed_envs()

    def read(tree: Path) -> QueueSnapshot:
        plan, queue, _ = read_plan(tree, now=moment, is_stale=claim_is_stale, envs=envs)
        lanes = {e.lane for e in queue.entries if envs is None or e.env in envs}
        lanes = sorted(
            lanes | pin_lanes(tree, load_layout(tree), envs), key=lambda lane: (lane[1], lane[0])
        )
        ready, waiting = [], []
        for item in plan.services:
            if item.busy_with:
                waiting.append(f"{item.service}@{item.env}: busy ({item.busy_with})")
                continue
            # The dev lane keeps its historical key; other lanes name their env.
            base = item.service if item.env == DEFAULT_ENV else f"{item.service}@{item.env}"
            if item.promote is not None:
                entry = item.promote
                if entry.waiting_since is not None:
                    # Waiting for replication: the Harbor sensor requests the run once the
                    # replica appears; re-running the pass every tick would find nothing.
                    waiting.append(f"{base}: {entry.id} waits for replication")
                    continue
                key = f"{base}:{entry.id}:a{entry.attempts}"
                ready.append(ReadyService(item.service, entry.id, entry.attempts, key, item.env))
            elif item.window is not None and item.waiting[-1].entry.window_since is None:
                # Outside its window, not recorded yet: one run records the wait (then none
                # until the window opens and the plan promotes it).
                entry = item.waiting[-1].entry
                key = f"{base}:{entry.id}:window"
                ready.append(ReadyService(item.service, entry.id, entry.attempts, key, item.env))
            elif item.acts:
                # Supersede, abandon, recover or fail-exhausted only: key on the exact state.
                touched = sorted(
                    e.id
                    for e in (
                        *item.supersede,
                        *item.abandon,
                        *item.recover,
                        *item.exhausted,
                        *item.refuse,
                    )
                )
                digest = hashlib.sha256(",".join(touched).encode()).hexdigest()[:12]
                ready.append(
                    ReadyService(item.service, None, 0, f"{base}:maint:{digest}", item.env)
                )
            for wait in item.waiting:
                waiting.append(f"{base}: {wait.entry.id} waits ({wait.reason})")
        return QueueSnapshot(tuple(lanes), tuple(ready), tuple(waiting))

    return GitopsWriter(repo).snapshot(read)
