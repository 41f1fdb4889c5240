"""Typed results of a promotion pass, as the CLI and the Dagster layer consume them."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Literal

from factory_assets.common.clock import rfc3339
from factory_assets.promotion.plan import PromotionPlan

# `waiting`: the env's registry has no replica of the digest yet; not a failure.
OutcomeResult = Literal["success", "failure", "superseded", "refused", "retry", "waiting"]
FAILED_RESULTS = frozenset({"failure", "refused", "retry"})


@dataclass(frozen=True)
class ServiceOutcome:
    """What happened to one release in a pass.

    `attempted` is False for entries the pass did not try (e.g. another runner holds the
    service's claim): those never make the pass fail.
    """

    service: str
    release_id: str | None
    result: OutcomeResult
    digest: str | None = None
    media_type: str | None = None
    tag: str | None = None
    commit: str | None = None
    evidence_id: str | None = None
    evidence_digest: str | None = None
    error: str | None = None
    attempt: int = 0
    attempted: bool = True
    forced: bool = False
    superseded_by: str | None = None
    next_attempt_at: datetime | None = None
    env: str = "dev"
    pin_proof: str | None = None  # how an overlay pin was proven (the kustomize and its version)

    def to_dict(self) -> dict:
        data = asdict(self)
        data["next_attempt_at"] = rfc3339(self.next_attempt_at) if self.next_attempt_at else None
        return data


@dataclass(frozen=True)
class PassResult:
    """Every outcome of one pass, the commits it landed, and a pass-level error if any."""

    plan: PromotionPlan
    outcomes: tuple[ServiceOutcome, ...] = ()
    commits: tuple[str, ...] = ()
    pushed: bool = False
    mode: str = "remote"
    error: str | None = None
    runner: str | None = None
    notes: tuple[str, ...] = field(default=())

    @property
    def ok(self) -> bool:
        """No attempted promotion failed, and the pass itself completed."""
        return self.error is None and not any(
            o.attempted and o.result in FAILED_RESULTS for o in self.outcomes
        )

    @property
    def exit_code(self) -> int:
        return 0 if self.ok else 1

    def by_service(self) -> dict[str, list[ServiceOutcome]]:
        grouped: dict[str, list[ServiceOutcome]] = {}
        for outcome in self.outcomes:
            grouped.setdefault(outcome.service, []).append(outcome)
        return grouped

    def to_dict(self) -> dict:
        return {
            "ok": self.ok,
            "mode": self.mode,
            "runner": self.runner,
            "commits": list(self.commits),
            "pushed": self.pushed,
            "error": self.error,
            "outcomes": [o.to_dict() for o in self.outcomes],
            "notes": list(self.notes),
        }
