"""DORA metrics and per-step latency over a 90-day window, from record summaries.

Everything is an integer (counts, milliseconds) so the output is deterministic;
the browser divides. The window ends on the UTC day of the newest record, not
"today", so rebuilding the same records gives the same bytes.

Definitions (what the dashboard shows), per lane (service, env), in time order:
- deployment: a promotion with result success (the pin landed), or one the repository's
  promoter made before adoption (an `imported` legacy record, at its own promotion time,
  see `legacy.py`); each counts on the day it happened;
- lead time: promotion finished_at - details.requested_at (request -> pinned); a legacy
  record holds no request time, so an imported deployment has none;
- change failure rate: deployments that led to a failure / deployments, so at most 100 %;
  a deployment led to a failure when a smoke check of it failed (verdict failed or timeout,
  or a legacy `tests.smoke.status: fail`), however many checks failed;
- time to restore: from the first failed check of a lane's current deployment to the next
  passed check of the lane's deployment then current (the same one recovering, or a newer
  one deployed since): the lane is healthy again;
- pinned -> healthy: a deployment -> the first passed check of it.
`compute_metrics` gives them over every environment and, in `by_env`, per environment.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
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


@dataclass(frozen=True, eq=False)  # by identity: two deployments of one release stay two
class _Deployment:
    lane: tuple[str, str]
    at: str
    release_id: str | None
    digest: str | None
    requested_at: str | None


@dataclass(frozen=True)
class _Check:
    lane: tuple[str, str]
    at: str
    verdict: str
    release_id: str | None
    digest: str | None


Event = tuple[str, int, _Deployment | _Check]  # (when, order, what)


def _lane(service: str | None, env: str | None) -> tuple[str, str]:
    return (service or "", env or DEFAULT_ENV)


def _events(lines: list[dict], legacy: dict[int, dict]) -> list[Event]:
    """Deployments and smoke checks of every lane, in time order (sequence order on a tie)."""
    events: list[Event] = []
    for line in lines:
        seq = line["seq"] * 2
        if line["kind"] == "promotion" and line["result"] == "success":
            deployment = _Deployment(
                _lane(line.get("service"), line.get("env")),
                line["finished_at"],
                line.get("release_id"),
                line.get("digest"),
                line.get("requested_at"),
            )
            events.append((deployment.at, seq, deployment))
        elif line["kind"] == "smoke" and line.get("verdict") in (*FAILED_VERDICTS, "passed"):
            check = _Check(
                _lane(line.get("service"), line.get("env")),
                line["finished_at"],
                line["verdict"],
                line.get("release_id"),
                line.get("digest"),
            )
            events.append((check.at, seq, check))
        elif line["kind"] == "imported" and line["seq"] in legacy:
            past = legacy[line["seq"]]
            lane = _lane(past["service"], past["env"])
            events.append(
                (
                    past["at"],
                    seq,
                    _Deployment(lane, past["at"], past["release_id"], past["digest"], None),
                )
            )
            if past["check"]:
                verdict, at = past["check"]["verdict"], past["check"]["at"]
                events.append(
                    (at, seq + 1, _Check(lane, at, verdict, past["release_id"], past["digest"]))
                )
    # Factory records come in time order already, so this sort costs one pass over them.
    events.sort(key=lambda event: (event[0], event[1]))
    return events


def compute_metrics(
    lines: list[dict], legacy: dict[int, dict] | None = None, window_days: int = WINDOW_DAYS
) -> dict:
    """The dashboard's metrics block from summaries in sequence order (and the deployments of
    the `imported` ones among them, by sequence, see `legacy.py`), with the DORA tiles of each
    environment too (`by_env`; a record without an env is the default one's)."""
    events = _events(lines, legacy or {})
    if not lines:
        return {"window_days": window_days, "days": [], "series": {}, "tiles": {}}
    last_day = max(
        max(line["finished_at"][:10] for line in lines),
        max((at[:10] for at, _, _ in events), default=""),
    )
    metrics = _metrics(events, window_days, last_day)
    metrics["by_env"] = {
        env: _metrics([e for e in events if e[2].lane[1] == env], window_days, last_day)["tiles"]
        for env in sorted({what.lane[1] for _, _, what in events})
    }
    return metrics


def _checked(
    check: _Check, current: _Deployment | None, by_release: dict[tuple, _Deployment]
) -> _Deployment | None:
    """The deployment a check looked at: the lane's current one when they agree (or the check
    names neither release nor digest), else the earlier deployment of the release it names."""
    if current is not None and _same_release(current, check):
        return current
    if check.release_id:
        return by_release.get((check.lane, check.release_id))
    return None


def _metrics(events: list[Event], window_days: int, last_day: str) -> dict:
    end = datetime.strptime(last_day, "%Y-%m-%d").replace(tzinfo=UTC)
    days = [
        (end - timedelta(days=window_days - 1 - i)).strftime("%Y-%m-%d") for i in range(window_days)
    ]
    in_window = set(days)

    deploys, failed_deploys, lead, failed_checks, restore = (_Series() for _ in range(5))
    to_healthy, request_to_healthy = _Series(), _Series()
    current: dict[tuple[str, str], _Deployment] = {}
    by_release: dict[tuple, _Deployment] = {}
    broken_since: dict[tuple[str, str], str] = {}  # the lane's first failure not yet restored
    deployments: list[_Deployment] = []
    failed: set[_Deployment] = set()  # led to a failure
    healthy: set[_Deployment] = set()  # had a passed check

    for at, _, what in events:
        if isinstance(what, _Deployment):
            deployments.append(what)
            current[what.lane] = what
            if what.release_id:
                by_release[(what.lane, what.release_id)] = what
            continue
        lane_now = current.get(what.lane)
        checked = _checked(what, lane_now, by_release)
        if what.verdict in FAILED_VERDICTS:
            if at[:10] in in_window:
                failed_checks.add(at[:10], 1)
            if checked is not None:
                failed.add(checked)
                if checked is lane_now:
                    broken_since.setdefault(what.lane, at)
            continue
        if checked is None or checked is not lane_now:
            continue  # a late check of a release the lane no longer runs: not its health
        if what.lane in broken_since:
            took = _ms(broken_since.pop(what.lane), at)
            if took is not None and at[:10] in in_window:
                restore.add(at[:10], took)
        if checked not in healthy:
            healthy.add(checked)
            pinned_day = checked.at[:10]
            took = _ms(checked.at, at)
            if took is not None and pinned_day in in_window:
                to_healthy.add(pinned_day, took)
                if checked.requested_at:
                    total = _ms(checked.requested_at, at)
                    if total is not None:
                        request_to_healthy.add(pinned_day, total)

    for deployment in deployments:
        day = deployment.at[:10]
        if day not in in_window:
            continue
        deploys.add(day, 1)
        if deployment in failed:
            failed_deploys.add(day, 1)
        if deployment.requested_at:
            waited = _ms(deployment.requested_at, deployment.at)
            if waited is not None:
                lead.add(day, waited)

    return {
        "window_days": window_days,
        "days": days,
        "series": {
            "deployments": deploys.counts(days),
            "failed_deployments": failed_deploys.counts(days),
            "failed_smokes": failed_checks.counts(days),
            "lead_time_ms": lead.medians(days),
            "restore_ms": restore.medians(days),
            "pinned_to_healthy_ms": to_healthy.medians(days),
            "request_to_healthy_ms": request_to_healthy.medians(days),
        },
        "tiles": {
            "deployments": sum(deploys.counts(days)),
            "failed_deployments": sum(failed_deploys.counts(days)),
            "failed_smokes": sum(failed_checks.counts(days)),
            "lead_time_ms": _stats(lead.all(days)),
            "restore_ms": _stats(restore.all(days)),
            "pinned_to_healthy_ms": _stats(to_healthy.all(days)),
            "request_to_healthy_ms": _stats(request_to_healthy.all(days)),
        },
    }


def _same_release(deployment: _Deployment, check: _Check) -> bool:
    """A check is of a deployment when release ids (else digests) agree, or it names neither."""
    for key in ("release_id", "digest"):
        if getattr(deployment, key) and getattr(check, key):
            return getattr(deployment, key) == getattr(check, key)
    return True
