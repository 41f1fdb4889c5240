"""Smoke targets of the ljwx-deploy layout: `scripts/smoke/targets*.json`, picked by
`SMOKE_TARGETS` (else factory.yaml's `smoke_targets`).

Shape: `{"profile": ..., "targets": [{"service", "environment", "argocd_app", "endpoint",
"queue_id"?}]}`. Each target becomes the `smoke:` block an overlay lane has no file for:
`argocd_app` and `url` (the endpoint), with the factory's defaults for the rest.
"""

from __future__ import annotations

import json
from pathlib import Path

from factory_assets.common import settings
from factory_assets.common.errors import InputError
from factory_assets.common.files import read_text_bounded
from factory_assets.layout.config import load_layout, relative_path


def targets_path(repo: Path) -> str | None:
    """The targets file this runner reads (SMOKE_TARGETS, else factory.yaml), if any."""
    chosen = settings.SMOKE_TARGETS.get() or load_layout(repo).smoke_targets
    if not chosen:
        return None
    try:
        return relative_path(chosen)
    except ValueError as exc:
        raise InputError("SMOKE_TARGETS", "-", str(exc)) from None


def load_smoke_targets(repo: Path) -> dict[tuple[str, str], dict]:
    """(service, env) -> its smoke block; InputError names the file and the entry when bad."""
    rel = targets_path(repo)
    if rel is None:
        return {}
    path = Path(repo) / rel
    if not path.is_file():
        raise InputError(rel, "-", "the smoke targets file does not exist (SMOKE_TARGETS)")
    try:
        data = json.loads(read_text_bounded(path))
    except ValueError as exc:
        raise InputError(rel, "-", f"not valid JSON: {exc}") from None
    targets = data.get("targets") if isinstance(data, dict) else None
    if not isinstance(targets, list):
        raise InputError(rel, "targets", "expected a list of targets")
    found: dict[tuple[str, str], dict] = {}
    for index, item in enumerate(targets):
        where = f"targets[{index}]"
        if not isinstance(item, dict):
            raise InputError(rel, where, "expected a mapping")
        service, env = item.get("service"), item.get("environment")
        if not isinstance(service, str) or not isinstance(env, str):
            raise InputError(rel, where, "needs `service` and `environment` strings")
        block = {
            key: item[name]
            for key, name in (("argocd_app", "argocd_app"), ("url", "endpoint"))
            if isinstance(item.get(name), str) and item[name].strip()
        }
        found[(service, env)] = block
    return found
