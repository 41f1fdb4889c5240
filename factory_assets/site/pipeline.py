"""The dashboard's pipeline view: each release as it moves through the environments.

One row per release that entered the first stage of a chain (its request in the first
environment), with one cell per environment: where it is (waiting for replication, awaiting
approval, pinned, failed...), since when, and the lead time from the first request to the
last stage's passed smoke (healthy). Built from the queue and the records' summaries.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from factory_assets.common.clock import rfc3339
from factory_assets.common.errors import InputError
from factory_assets.layout.config import load_layout
from factory_assets.pipeline.soak_gate import soak_of
from factory_assets.release.model import ReleaseEntry, ReleaseQueue
from factory_assets.release.queue_file import load_queue
from factory_assets.site.lanes import without_root
from factory_assets.site.metrics import _ms

MAX_ROWS = 50
EVER = datetime.max.replace(tzinfo=UTC)  # every recorded check counts, whenever it is built


def stage_order(repo: Path) -> list[str]:
    """The environments in pipeline order (`after` chains), or [] without stages."""
    layout = load_layout(repo)
    envs = layout.environments or {}
    if not any(env.after for env in envs.values()):
        return []
    order: list[str] = []
    for name in envs:  # each env after its upstream chain (config rules out cycles)
        chain: list[str] = []
        current: str | None = name
        while current is not None and current not in order:
            chain.append(current)
            current = envs[current].after
        order += reversed(chain)
    return order


def _where(entry: ReleaseEntry) -> str:
    if entry.state == "pending" and entry.awaiting_approval:
        return "awaiting approval"
    if entry.state == "pending" and entry.waiting_since:
        return "waiting for replication"
    if entry.state == "pending" and entry.window_since:
        return "outside its window"
    return entry.state


def _healthy_at(entry: ReleaseEntry, lines_by_release: dict[str, list[dict]]) -> str | None:
    for line in lines_by_release.get(entry.id, []):
        if line["kind"] == "smoke" and line.get("verdict") == "passed":
            return line["finished_at"]
    return None


def _soaking(repo: Path, layout, upstream: ReleaseEntry | None, env: str) -> dict | None:
    """A stage not handed to yet because the upstream pin soaks: when the soak began and how
    long it takes (the page counts the minutes, so the build stays the same bytes)."""
    if upstream is None or env in (upstream.handed_off or {}):
        return None
    state = soak_of(repo, layout, upstream, env, EVER)
    if state is None:
        return None
    return {
        "release_id": upstream.id,
        "soak": {
            "began_at": rfc3339(state.began_at) if state.began_at else None,
            "required_ms": int(state.required.total_seconds() * 1000),
            "restarted_at": rfc3339(state.restarted_by.at) if state.restarted_by else None,
            "restarted_by": state.restarted_by.kind if state.restarted_by else None,
        },
    }


def pipeline_rows(repo: Path, lines: list[dict], warnings: list[str]) -> dict:
    """`{"stages": [...], "rows": [...]}` for the dashboard (empty without stages)."""
    try:
        order = stage_order(repo)
        if not order:
            return {"stages": [], "rows": []}
        layout = load_layout(repo)
        queue: ReleaseQueue = load_queue(repo).queue
    except InputError as exc:
        warnings.append(without_root(f"pipeline: {exc}", repo))
        return {"stages": [], "rows": []}
    by_release: dict[str, list[dict]] = {}
    for line in lines:
        if line.get("release_id"):
            by_release.setdefault(line["release_id"], []).append(line)
    children: dict[str, ReleaseEntry] = {}
    for entry in queue.entries:
        if entry.upstream:
            children[f"{entry.upstream}>{entry.env}"] = entry
    first = order[0]
    heads = [e for e in queue.entries if e.env == first and e.state != "superseded"]
    rows = []
    for head in sorted(heads, key=lambda e: e.requested_at, reverse=True)[:MAX_ROWS]:
        cells, current, healthy = [], head, None
        for env in order:
            entry = (
                current
                if env == first
                else children.get(f"{current.id}>{env}")
                if current
                else None
            )
            if entry is None:
                skipped = current and (current.handed_off or {}).get(env) == "skipped"
                soaking = None if skipped else _soaking(repo, layout, current, env)
                cells.append(
                    {"env": env, "where": "no target" if skipped else None}
                    if soaking is None
                    else {"env": env, "where": "soaking", **soaking}
                )
                current = None
                continue
            healthy = _healthy_at(entry, by_release)
            cells.append(
                {
                    "env": env,
                    "release_id": entry.id,
                    "where": _where(entry),
                    "since": rfc3339(
                        entry.waiting_since or entry.window_since or entry.requested_at
                    ),
                    "pinned_at": rfc3339(entry.finished_at)
                    if entry.state == "promoted" and entry.finished_at
                    else None,
                    "healthy_at": healthy,
                    "approved_by": entry.approved_by,
                }
            )
            current = entry
        last = cells[-1]
        lead = (
            _ms(rfc3339(head.requested_at), last["healthy_at"]) if last.get("healthy_at") else None
        )
        rows.append(
            {
                "service": head.service,
                "digest": head.digest,
                "tag": head.label,
                "cells": cells,
                "lead_time_ms": lead,
            }
        )
    return {"stages": order, "rows": rows}
