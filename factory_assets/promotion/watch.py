"""What the release-queue sensor needs: services, and who is ready, at the remote head.

Plain Python; `sensors/release_queue.py` turns it into partitions and run requests.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from factory_assets.common.clock import utc_now
from factory_assets.promotion.plan import read_plan
from factory_assets.promotion.runner import claim_is_stale
from resources.gitops import GitopsWriter

PIN_DIR = "envs/dev"


@dataclass(frozen=True)
class ReadyService:
    """A service the next pass would act on, and the run key base for that exact state."""

    service: str
    release_id: str | None
    attempts: int
    run_key: str


@dataclass(frozen=True)
class QueueSnapshot:
    services: tuple[str, ...]
    ready: tuple[ReadyService, ...]
    waiting: tuple[str, ...]  # "service: reason" lines, for the tick log


def _pin_services(tree: Path) -> set[str]:
    directory = tree / PIN_DIR
    if not directory.is_dir():
        return set()
    return {p.stem for p in directory.glob("*.yaml") if not p.name.startswith(".")}


def queue_snapshot(repo: Path, now: datetime | None = None) -> QueueSnapshot:
    """Fetch the branch and plan at the fresh remote head (never the local checkout)."""
    moment = now or utc_now()

    def read(tree: Path) -> QueueSnapshot:
        plan, queue, _ = read_plan(tree, now=moment, is_stale=claim_is_stale)
        services = sorted(set(queue.services()) | _pin_services(tree))
        ready, waiting = [], []
        for item in plan.services:
            if item.busy_with:
                waiting.append(f"{item.service}: busy ({item.busy_with})")
                continue
            if item.promote is not None:
                entry = item.promote
                key = f"{item.service}:{entry.id}:a{entry.attempts}"
                ready.append(ReadyService(item.service, entry.id, entry.attempts, key))
            elif item.acts:
                # Supersede, abandon, finalize or fail-exhausted only: key on the exact state.
                touched = sorted(
                    e.id for e in (*item.supersede, *item.abandon, *item.finalize, *item.exhausted)
                )
                digest = hashlib.sha256(",".join(touched).encode()).hexdigest()[:12]
                ready.append(ReadyService(item.service, None, 0, f"{item.service}:maint:{digest}"))
            for wait in item.waiting:
                waiting.append(f"{item.service}: {wait.entry.id} waits ({wait.reason})")
        return QueueSnapshot(tuple(services), tuple(ready), tuple(waiting))

    return GitopsWriter(repo).snapshot(read)
