"""Read the dev pins and the release queue for the dashboard, defensively.

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

PINS_DIR = "envs/dev"
QUEUE_FILE = "release/queue.yaml"
MAX_TEXT = 512  # a matrix cell, not a document


@dataclass
class RepoState:
    pins: dict[str, dict] = field(default_factory=dict)
    queue: dict[str, dict] = field(default_factory=dict)
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


def read_pins(repo: Path, warnings: list[str]) -> dict[str, dict]:
    """`envs/dev/<service>.yaml` -> {service: pin summary}."""
    directory = repo / PINS_DIR
    pins: dict[str, dict] = {}
    if not directory.is_dir():
        return pins
    for path in sorted(directory.glob("*.y*ml")):
        rel = f"{PINS_DIR}/{path.name}"
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
        pins[service] = {
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


def read_queue(repo: Path, warnings: list[str]) -> dict[str, dict]:
    """`release/queue.yaml` -> {service: {latest entry, count per state}}."""
    path = repo / QUEUE_FILE
    if not path.exists():
        return {}
    data = _load_yaml(path, QUEUE_FILE, warnings)
    if data is None:
        return {}
    entries = data.get("releases") if isinstance(data, dict) else None
    if entries is None:
        entries = []
    if not isinstance(entries, list):
        warnings.append(f"{QUEUE_FILE}: releases: expected a list")
        return {}
    out: dict[str, dict] = {}
    for number, entry in enumerate(entries):
        if not isinstance(entry, dict) or not isinstance(entry.get("service"), str):
            warnings.append(f"{QUEUE_FILE}: releases[{number}]: expected a mapping with a service")
            continue
        state = as_text(entry.get("state")) or "unknown"
        slot = out.setdefault(entry["service"], {"states": {}, "latest": None})
        slot["states"][state] = slot["states"].get(state, 0) + 1
        slot["latest"] = {
            "id": as_text(entry.get("id")),
            "state": state,
            "attempts": _int_or_none(entry.get("attempts")),
            "tag": as_text(entry.get("tag")),
        }
    for slot in out.values():
        slot["states"] = dict(sorted(slot["states"].items()))
    return out


def read_repo_state(repo: Path) -> RepoState:
    warnings: list[str] = []
    return RepoState(read_pins(repo, warnings), read_queue(repo, warnings), warnings)
