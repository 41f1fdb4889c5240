"""Read the pins and the release queue for the dashboard, per (service, env), defensively.

The dashboard must build while these files are missing, half-migrated or
hand-edited badly: anything unreadable becomes a warning shown on the page,
never a failed build. Every value is reduced to plain strings/ints here.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError

from factory_assets.common.errors import InputError
from factory_assets.common.files import read_text_bounded
from factory_assets.layout.config import load_layout

PINS_DIR = "envs/dev"
QUEUE_FILE = "release/queue.yaml"
MAX_TEXT = 512  # a matrix cell, not a document
DEFAULT_ENV = "dev"
FOUR_LISTS = ("pending", "promoted", "failed", "superseded")

Lane = tuple[str, str]  # (service, env)


@dataclass
class RepoState:
    pins: dict[Lane, dict] = field(default_factory=dict)
    queue: dict[Lane, dict] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)


def _load_yaml(path: Path, rel: str, warnings: list[str]) -> object | None:
    try:
        text = read_text_bounded(path, field="-")
        return YAML(typ="safe", pure=True).load(text)
    except InputError as exc:
        warnings.append(str(exc).replace(str(path), rel))
    except YAMLError as exc:
        warnings.append(f"{rel}: -: not valid YAML ({_short(str(exc).splitlines()[0])})")
    return None


def _short(value: str) -> str:
    return value if len(value) <= MAX_TEXT else value[: MAX_TEXT - 1] + "…"


def as_text(value: object) -> str | None:
    """A cell value: strings as they are, other scalars and mappings as compact JSON."""
    if value is None or value is False:
        return None
    if value is True:
        return "yes"
    if isinstance(value, str):
        return _short(value) if value.strip() else None
    try:
        return _short(json.dumps(value, sort_keys=True, ensure_ascii=False, default=str))
    except (TypeError, ValueError):
        return _short(str(value))


def _int_or_none(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def read_pins(repo: Path, warnings: list[str]) -> dict[Lane, dict]:
    """`envs/<env>/<service>.yaml` -> {(service, env): pin summary}."""
    pins: dict[Lane, dict] = {}
    root = repo / "envs"
    if not root.is_dir():
        return pins
    for directory in sorted(p for p in root.iterdir() if p.is_dir()):
        pins.update(_read_env_pins(directory, directory.name, warnings))
    return pins


def _read_env_pins(directory: Path, env: str, warnings: list[str]) -> dict[Lane, dict]:
    pins: dict[Lane, dict] = {}
    for path in sorted(directory.glob("*.y*ml")):
        rel = f"envs/{env}/{path.name}"
        data = _load_yaml(path, rel, warnings)
        if data is None:
            continue
        if not isinstance(data, dict):
            warnings.append(f"{rel}: -: expected a mapping")
            continue
        service = data.get("service") if isinstance(data.get("service"), str) else path.stem
        image = data.get("image")
        image_text = as_text(image) if not isinstance(image, dict) else as_text(_image_ref(image))
        digest = None
        if image_text and "@" in image_text:
            digest = image_text.rsplit("@", 1)[1]
        pins[(service, env)] = {
            "file": rel,
            "image": image_text,
            "digest": digest,
            "tag": as_text(data.get("tag")),
            "release_id": as_text(data.get("release_id")),
            "promoted_at": as_text(data.get("promoted_at")),
            "hold": as_text(data.get("hold")),
            "track": as_text(data.get("track")),
            "smoke": as_text(data.get("smoke")),
        }
    return pins


def _image_ref(image: dict) -> str:
    """`{host, repo, digest}`-style mappings, in case a pin spells the image out."""
    host = image.get("host") or image.get("registry") or ""
    name = image.get("repo") or image.get("repository") or image.get("name") or ""
    digest = image.get("digest") or ""
    ref = "/".join(str(p) for p in (host, name) if p)
    return f"{ref}@{digest}" if digest else ref


def _queue_entries(data: object, rel: str, warnings: list[str]) -> list[tuple[str, object]]:
    """(where, entry) of either queue format: `releases:` or the four lists."""
    if not isinstance(data, dict):
        return []
    if any(name in data for name in FOUR_LISTS):
        found = []
        for name in FOUR_LISTS:
            items = data.get(name) or []
            if not isinstance(items, list):
                warnings.append(f"{rel}: {name}: expected a list")
                continue
            found += [(f"{name}[{i}]", item) for i, item in enumerate(items)]
        # Newest last, as in a `releases:` list: entries only move to the end of a list.
        return sorted(
            found, key=lambda wi: str(wi[1].get("createdAt", "")) if isinstance(wi[1], dict) else ""
        )
    entries = data.get("releases")
    if entries is None:
        return []
    if not isinstance(entries, list):
        warnings.append(f"{rel}: releases: expected a list")
        return []
    return [(f"releases[{i}]", item) for i, item in enumerate(entries)]


def read_queue(repo: Path, warnings: list[str]) -> dict[Lane, dict]:
    """The queue -> {(service, env): {latest entry, count per state}}."""
    try:
        rel = load_layout(repo).queue_path  # factory.yaml may keep the queue elsewhere
    except InputError as exc:
        warnings.append(f"factory.yaml: {exc.field}: {exc.problem}")  # no absolute path on a page
        rel = QUEUE_FILE
    path = repo / rel
    if not path.exists():
        return {}
    data = _load_yaml(path, rel, warnings)
    if data is None:
        return {}
    out: dict[Lane, dict] = {}
    for where, entry in _queue_entries(data, rel, warnings):
        if not isinstance(entry, dict) or not isinstance(entry.get("service"), str):
            warnings.append(f"{rel}: {where}: expected a mapping with a service")
            continue
        state = as_text(entry.get("state") or entry.get("status")) or "unknown"
        mine = (
            (entry.get("meta") or {}).get("factory")
            if isinstance(entry.get("meta"), dict)
            else None
        )
        if state == "pending" and isinstance(mine, dict) and mine.get("waitingSince"):
            state = "waiting"
        env = as_text(entry.get("env")) or DEFAULT_ENV
        source = entry.get("source") if isinstance(entry.get("source"), dict) else {}
        slot = out.setdefault((entry["service"], env), {"states": {}, "latest": None})
        slot["states"][state] = slot["states"].get(state, 0) + 1
        slot["latest"] = {
            "id": as_text(entry.get("id")),
            "state": state,
            "attempts": _int_or_none(entry.get("attempts")),
            "tag": as_text(entry.get("tag") or source.get("tag")),
        }
    for slot in out.values():
        slot["states"] = dict(sorted(slot["states"].items()))
    return out


def read_repo_state(repo: Path) -> RepoState:
    warnings: list[str] = []
    return RepoState(read_pins(repo, warnings), read_queue(repo, warnings), warnings)
