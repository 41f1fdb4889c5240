"""`evidence/metrics/queue-health.json`: the four-list queue's health, in the repository's shape.

The deploy repository's dashboard and nightly workflow read this file, so its fields are
exactly the ones its own `queue_metrics.py` writes (reference section 7): counts per list,
the pending backlog's age and stale ids, failures of the last day, the highest attempt
counts and the superseded/promoted ratio.
"""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from factory_assets.common import roundtrip_yaml
from factory_assets.common.files import atomic_write_text
from factory_assets.common.yaml_lists import read
from factory_assets.layout.config import load_layout
from factory_assets.layout.four_lists import LISTS, stamp, structure

QUEUE_HEALTH_FILE = "evidence/metrics/queue-health.json"
STALE_THRESHOLD_SECONDS = 1800


def _moment(value: Any) -> datetime | None:
    """A queue timestamp as the validator reads it; None when empty or unreadable."""
    if isinstance(value, datetime):
        return value.replace(tzinfo=value.tzinfo or UTC).astimezone(UTC)
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).astimezone(UTC)


def _key(entry: dict) -> str:
    return f"{entry.get('service', '')}/{entry.get('env', '')}"


def _attempts(entries: list[dict]) -> int:
    values = [e.get("attempts") for e in entries]
    return max((v for v in values if isinstance(v, int) and not isinstance(v, bool)), default=0)


def queue_health(data: dict, now: datetime) -> dict:
    """The metrics of the queue `data` (the four lists) at `now`."""
    lists = {name: [e for e in data.get(name) or [] if isinstance(e, dict)] for name in LISTS}
    pending = lists["pending"]
    created = [(m, e) for e in pending if (m := _moment(e.get("createdAt"))) is not None]
    oldest = min((m for m, _ in created), default=None)
    stale = [
        str(e.get("id")) for m, e in created if (now - m).total_seconds() > STALE_THRESHOLD_SECONDS
    ]
    day_ago = now - timedelta(hours=24)
    failed_recent = 0
    for entry in lists["failed"]:
        when = _moment(entry.get("failedAt")) or _moment(entry.get("createdAt"))
        if when is not None and when >= day_ago:
            failed_recent += 1
    promoted, superseded = len(lists["promoted"]), len(lists["superseded"])
    total = promoted + superseded
    return {
        "generatedAt": stamp(now),
        "counts": {name: len(lists[name]) for name in LISTS},
        "pending": {
            "oldestCreatedAt": stamp(oldest) if oldest else "",
            "maxAgeSeconds": max(0, int((now - oldest).total_seconds())) if oldest else 0,
            "staleThresholdSeconds": STALE_THRESHOLD_SECONDS,
            "staleIds": stale,
            "byServiceEnv": dict(sorted(Counter(map(_key, pending)).items())),
        },
        "failed": {
            "last24h": failed_recent,
            "byServiceEnv": dict(sorted(Counter(map(_key, lists["failed"])).items())),
        },
        "retries": {
            "pendingMaxAttempts": _attempts(pending),
            "failedMaxAttempts": _attempts(lists["failed"]),
        },
        "ratios": {"supersededVsPromoted": round(superseded / total, 4) if total else 0.0},
    }


def queue_health_text(data: dict, now: datetime) -> str:
    return json.dumps(queue_health(data, now), indent=2, ensure_ascii=False) + "\n"


def read_queue_data(repo: Path, queue_path: str) -> dict:
    """The queue file's four lists (an InputError names the file when it is not that shape)."""
    path = Path(repo) / queue_path
    # libyaml, as the queue is read everywhere else: a round-trip parse costs seconds at 1,000
    return structure(read(roundtrip_yaml.read_text(path), path).data, path)


def layout_queue_health(repo: Path, now: datetime) -> dict | None:
    """The repository's queue-health figures at `now`, as its queue's codec has them (the
    four-list queue has them, a missing file being an empty queue; a `releases:` queue has
    none: None). `factory release status --json` and the dashboard both show these figures.
    """
    from factory_assets.layout.queue_codecs import queue_codec

    return queue_codec(load_layout(repo)).health(repo, now)


def write_queue_health(repo: Path, queue_path: str, now: datetime) -> Path:
    target = Path(repo) / QUEUE_HEALTH_FILE
    atomic_write_text(target, queue_health_text(read_queue_data(repo, queue_path), now))
    return target
