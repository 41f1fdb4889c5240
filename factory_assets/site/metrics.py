"""DORA metrics and per-step latency over a 90-day window, from record summaries.

Everything is an integer (counts, milliseconds) so the output is deterministic;
the browser divides. The window ends on the UTC day of the newest record, not
"today", so rebuilding the same records gives the same bytes.

Definitions (what the dashboard shows):
- deployment: a promotion with result success (the pin landed);
- lead time: promotion finished_at - details.requested_at (request -> pinned);
- change failure rate: failed smokes (verdict failed or timeout) / deployments;
- time to restore: per service and env, first failed smoke -> next passed smoke;
- pinned -> healthy: a deployment -> the first passed smoke of the same service, env
  and release (or digest) after it.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime, timedelta
from statistics import median_low

from factory_assets.common.clock import parse_rfc3339

WINDOW_DAYS = 90
DEFAULT_ENV = "dev"
FAILED_VERDICTS = ("failed", "timeout")
_MS = timedelta(milliseconds=1)


def _ms(start: str, end: str) -> int | None:
    try:
        delta = (parse_rfc3339(end) - parse_rfc3339(start)) // _MS
    except ValueError:
        return None
    return delta if delta >= 0 else None


def _stats(values: list[int]) -> dict:
    if not values:
        return {"count": 0, "median": None, "p90": None}
    ordered = sorted(values)
    return {
        "count": len(ordered),
        "median": median_low(ordered),
        "p90": ordered[(len(ordered) * 9 - 1) // 10],
    }


class _Series:
    """Per-day lists of values, reduced to medians (or counts) per day."""

    def __init__(self) -> None:
        self.values: dict[str, list[int]] = defaultdict(list)

    def add(self, day: str, value: int) -> None:
        self.values[day].append(value)

    def medians(self, days: list[str]) -> list[int | None]:
        return [median_low(self.values[d]) if self.values.get(d) else None for d in days]

    def counts(self, days: list[str]) -> list[int]:
        return [len(self.values.get(d, ())) for d in days]

    def all(self, days: list[str]) -> list[int]:
        return [v for d in days for v in self.values.get(d, ())]


def compute_metrics(lines: list[dict], window_days: int = WINDOW_DAYS) -> dict:
    """The dashboard's metrics block from summaries in sequence order, with the DORA tiles
    of each environment too (`by_env`; a record without an env is the default one's)."""
    metrics = _metrics(lines, window_days)
    if lines:
        last_day = max(line["finished_at"][:10] for line in lines)
        envs = sorted({line.get("env") or DEFAULT_ENV for line in lines if line.get("service")})
        metrics["by_env"] = {
            env: _metrics(
                [line for line in lines if (line.get("env") or DEFAULT_ENV) == env],
                window_days,
                last_day,
            )["tiles"]
            for env in envs
        }
    return metrics


def _metrics(lines: list[dict], window_days: int, last_day: str | None = None) -> dict:
    if not lines:
        return {"window_days": window_days, "days": [], "series": {}, "tiles": {}}
    last_day = last_day or max(line["finished_at"][:10] for line in lines)
    end = datetime.strptime(last_day, "%Y-%m-%d").replace(tzinfo=UTC)
    days = [
        (end - timedelta(days=window_days - 1 - i)).strftime("%Y-%m-%d") for i in range(window_days)
    ]
    in_window = set(days)

    deploys, lead, failed_smokes, restore = _Series(), _Series(), _Series(), _Series()
    to_healthy, request_to_healthy = _Series(), _Series()
    # per (service, env): deployments not yet healthy, and since when the lane is broken
    awaiting: dict[tuple[str, str], list[dict]] = defaultdict(list)
    broken_since: dict[tuple[str, str], str] = {}

    for line in lines:
        service = (line.get("service") or "", line.get("env") or DEFAULT_ENV)
        day = line["finished_at"][:10]
        counted = day in in_window
        if line["kind"] == "promotion" and line["result"] == "success":
            if counted:
                deploys.add(day, 1)
            waited = (
                _ms(line["requested_at"], line["finished_at"]) if line.get("requested_at") else None
            )
            if counted and waited is not None:
                lead.add(day, waited)
            awaiting[service] = [line]  # a newer pin replaces what was waiting for health
        elif line["kind"] == "smoke":
            verdict = line.get("verdict")
            if verdict in FAILED_VERDICTS:
                if counted:
                    failed_smokes.add(day, 1)
                broken_since.setdefault(service, line["finished_at"])
            elif verdict == "passed":
                if service in broken_since:
                    took = _ms(broken_since.pop(service), line["finished_at"])
                    if counted and took is not None:
                        restore.add(day, took)
                for deployment in awaiting.pop(service, []):
                    if not _same_release(deployment, line):
                        awaiting[service] = [deployment]
                        continue
                    healthy = _ms(deployment["finished_at"], line["finished_at"])
                    pinned_day = deployment["finished_at"][:10]
                    if healthy is not None and pinned_day in in_window:
                        to_healthy.add(pinned_day, healthy)
                        if deployment.get("requested_at"):
                            total = _ms(deployment["requested_at"], line["finished_at"])
                            if total is not None:
                                request_to_healthy.add(pinned_day, total)

    deploy_count = sum(deploys.counts(days))
    failed_count = sum(failed_smokes.counts(days))
    return {
        "window_days": window_days,
        "days": days,
        "series": {
            "deployments": deploys.counts(days),
            "failed_smokes": failed_smokes.counts(days),
            "lead_time_ms": lead.medians(days),
            "restore_ms": restore.medians(days),
            "pinned_to_healthy_ms": to_healthy.medians(days),
            "request_to_healthy_ms": request_to_healthy.medians(days),
        },
        "tiles": {
            "deployments": deploy_count,
            "failed_smokes": failed_count,
            "lead_time_ms": _stats(lead.all(days)),
            "restore_ms": _stats(restore.all(days)),
            "pinned_to_healthy_ms": _stats(to_healthy.all(days)),
            "request_to_healthy_ms": _stats(request_to_healthy.all(days)),
        },
    }


def _same_release(deployment: dict, smoke: dict) -> bool:
    """A smoke belongs to a deployment when release ids (else digests) agree, or it names neither."""
    for key in ("release_id", "digest"):
        if deployment.get(key) and smoke.get(key):
            return deployment[key] == smoke[key]
    return True
