"""The soak before a stage: its request is queued only once the upstream pin soaked.

`environments.<stage>.soak: 30m` makes the handoff wait until the upstream release's pin has
stayed healthy that long (policy/soak_time.py says what healthy is). The smoke checks are
the pin's records plus the check being landed, which is recorded when it is the one that
proves the soak (it found what the last record found, but it ends the soak: the handoff
names the records that prove it).
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from factory_assets.common.clock import rfc3339
from factory_assets.layout.config import Layout
from factory_assets.pipeline.lane_history import smoke_checks, this_check, with_this_check
from factory_assets.policy.soak_time import Soak, soak
from factory_assets.release.model import ReleaseEntry

if TYPE_CHECKING:  # `release status` reads soaks without loading the evidence models
    from factory_assets.evidence.model import EvidenceRecord, RecordBody


def soak_of(
    tree: Path,
    layout: Layout,
    entry: ReleaseEntry,
    stage: str,
    now: datetime,
    check: EvidenceRecord | RecordBody | None = None,
) -> Soak | None:
    """Where the upstream `entry`'s soak for `stage` stands (None: the stage has no soak)."""
    found = layout.environment(stage)
    if found is None or found.soak is None or entry.state != "promoted" or not entry.finished_at:
        return None
    checks = smoke_checks(tree, entry.id)
    if check is not None:
        checks = with_this_check(checks, this_check(tree, check))
    return soak(
        checks,
        landed_at=entry.finished_at,
        required=found.soak,
        now=now,
        digest=entry.digest,
    )


def unsoaked(
    tree: Path, layout: Layout, entry: ReleaseEntry, stages: list[str], now: datetime, check=None
) -> dict[str, Soak]:
    """The stages whose soak is not over yet, with where it stands."""
    found = {env: soak_of(tree, layout, entry, env, now, check) for env in stages}
    return {env: s for env, s in found.items() if s is not None and not s.soaked}


def proof(state: Soak) -> dict:
    """The handoff record's `soak` (evidence/model.py SoakProof)."""
    return {
        "required_ms": int(state.required.total_seconds() * 1000),
        "began_at": rfc3339(state.began_at),
        "ended_at": rfc3339(state.ended_at),
        "records": list(state.records),
        "restarted_at": rfc3339(state.restarted_by.at) if state.restarted_by else None,
    }
