"""The deploy repository's own queue validator, rule by rule (ljwx-deploy.md 2.4).

Its PR gate runs `scripts/promoter/validate_queue.py` on every change: a queue the factory
writes must pass it, or service releases stop merging. This restates its 14 rules so the
tests can hold every file the factory writes to them. It reads YAML the way that script does
(PyYAML, YAML 1.1).
"""

from __future__ import annotations

import re
from datetime import datetime

import yaml

LISTS = ("pending", "promoted", "failed", "superseded")
REQUIRED = (
    "id service env source createdAt status attempts lastError promotedAt supersededAt failedAt"
).split()
DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")
STAMP_OF = {"promoted": "promotedAt", "failed": "failedAt", "superseded": "supersededAt"}


def _parses(value: object) -> bool:
    if not isinstance(value, str):
        return False
    try:
        datetime.fromisoformat(value.replace("Z", "+00:00"))
        return True
    except ValueError:
        return False


def queue_errors(text: str) -> list[str]:
    """Every rule the text breaks (empty: the validator exits 0)."""
    return data_errors(yaml.safe_load(text))


def data_errors(data: object) -> list[str]:
    """Every rule the loaded file breaks: `queue_errors` once PyYAML has read it (the soak
    reads each commit's queue entry by entry, and only the entries that changed)."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        return ["root is not a mapping"]
    for name in LISTS:
        if not isinstance(data.get(name), list):
            return [f"{name}: missing or not a list"]
    errors: list[str] = []
    seen: set[str] = set()
    pending_lanes: set[tuple] = set()
    for name in LISTS:
        for index, item in enumerate(data[name]):
            where = f"{name}[{index}]"
            if not isinstance(item, dict):
                errors.append(f"{where}: not a mapping")
                continue
            errors += [f"{where}: missing {key}" for key in REQUIRED if key not in item]
            rid = item.get("id")
            if not isinstance(rid, str) or not rid.strip():
                errors.append(f"{where}: id")
            elif rid in seen:
                errors.append(f"{where}: duplicate id {rid}")
            else:
                seen.add(rid)
            for key in ("service", "env"):
                if not isinstance(item.get(key), str) or not item.get(key).strip():
                    errors.append(f"{where}: {key}")
            if item.get("status") != name:
                errors.append(f"{where}: status {item.get('status')!r} is not {name!r}")
            attempts = item.get("attempts")
            if not isinstance(attempts, int) or attempts < 0:
                errors.append(f"{where}: attempts")
            if not _parses(item.get("createdAt")):
                errors.append(f"{where}: createdAt {item.get('createdAt')!r}")
            for key in STAMP_OF.values():
                value = item.get(key)
                if value not in ("", None) and not _parses(value):
                    errors.append(f"{where}: {key} {value!r}")
            if name == "pending":
                if any(item.get(k) not in ("", None) for k in STAMP_OF.values()):
                    errors.append(f"{where}: a pending entry has a timestamp")
                lane = (item.get("service"), item.get("env"))
                if lane in pending_lanes:
                    errors.append(f"{where}: a second pending entry for {lane}")
                pending_lanes.add(lane)
            elif not _parses(item.get(STAMP_OF[name])):
                errors.append(f"{where}: {STAMP_OF[name]} does not parse")
            source = item.get("source")
            if not isinstance(source, dict):
                errors.append(f"{where}: source")
                continue
            for key in ("ghcr", "tag", "digest"):
                if not isinstance(source.get(key), str) or not source.get(key):
                    errors.append(f"{where}: source.{key}")
            digest = source.get("digest")
            if isinstance(digest, str) and not DIGEST.match(digest):
                errors.append(f"{where}: source.digest")
            ghcr = source.get("ghcr")
            if isinstance(ghcr, str) and "@" in ghcr and ghcr.rpartition("@")[2] != digest:
                errors.append(f"{where}: source.ghcr digest differs")
    return errors
