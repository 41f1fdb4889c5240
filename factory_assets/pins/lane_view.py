"""What runs in a lane, read-only and lenient: the pin as the smoke check needs it, what a
pin (or overlay) file pinned at a past revision, and every lane's status row.

`lane_status_rows` is the one reader of "what runs where": `factory release status` prints
it and the dashboard shows it, so the two never disagree.

`pin_file` reads the pin file strictly (every key validated). This view reads only what
the check needs and leaves the `smoke:` block raw, so that a bad smoke setting becomes a
recorded `failed` verdict naming the field, rather than an error that writes no evidence.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from factory_assets.common import roundtrip_yaml
from factory_assets.common.clock import rfc3339
from factory_assets.common.errors import InputError
from factory_assets.common.files import read_text_bounded
from factory_assets.evidence.vocabulary import SERVICE_NAME
from factory_assets.layout.config import DEFAULT_ENV, load_layout
from factory_assets.layout.targets import TargetError, pin_file_path

IMAGE_WITH_DIGEST = re.compile(r"^(?P<repo>[^@\s]+)@(?P<digest>sha256:[a-f0-9]{64})$")
_SERVICE = re.compile(SERVICE_NAME)

if TYPE_CHECKING:
    from factory_assets.release.model import ReleaseEntry


@dataclass(frozen=True)
class PinView:
    service: str
    path: Path  # absolute
    rel_path: str  # relative to the repository, as git names it
    image: str | None  # host/repo@sha256:...
    tag: str | None
    release_id: str | None
    smoke: object  # the raw user-owned block; parsed by smoke.config

    @property
    def digest(self) -> str | None:
        match = IMAGE_WITH_DIGEST.match(self.image or "")
        return match["digest"] if match else None

    @property
    def repository(self) -> str | None:
        match = IMAGE_WITH_DIGEST.match(self.image or "")
        return match["repo"] if match else None


def read_pin_view(repo: Path, service: str, environment: str = DEFAULT_ENV) -> PinView:
    """Parse one pin file; InputError names the file and the field when it is unusable."""
    rel = pin_file_path(service, environment)
    path = repo / rel
    if not _SERVICE.match(service):
        raise InputError(
            rel, "service", f"{service!r} is not a valid service name ({SERVICE_NAME})"
        )
    if not path.is_file():
        raise InputError(rel, "-", f"no pin file for service {service!r}")
    from ruamel.yaml import YAML  # the smoke check's reading; `factory release status` needs none
    from ruamel.yaml.error import YAMLError

    try:
        data = YAML(typ="safe", pure=True).load(read_text_bounded(path, field="pin"))
    except YAMLError as exc:
        raise InputError(rel, "-", f"not valid YAML ({str(exc).splitlines()[0]})") from None
    if not isinstance(data, dict):
        raise InputError(rel, "-", f"expected a mapping, found {type(data).__name__}")
    image = data.get("image")
    if image is not None and (not isinstance(image, str) or not IMAGE_WITH_DIGEST.match(image)):
        raise InputError(rel, "image", f"expected host/repo@sha256:<64 hex>, got {image!r}")
    return PinView(
        service=service,
        path=path,
        rel_path=rel,
        image=image,
        tag=_optional_text(data.get("tag")),
        release_id=_optional_text(data.get("release_id")),
        smoke=data.get("smoke"),
    )


def _optional_text(value: object) -> str | None:
    return None if value is None else str(value)


def lane_pin_view(repo: Path, service: str, environment: str = DEFAULT_ENV) -> PinView:
    """What runs in the lane, for the smoke check: its pin target's view (a pin file, or the
    lane's newest promoted release as its overlay deploys it, with the targets file's check)."""
    from factory_assets.pins.target import PinTargets

    try:
        pin = PinTargets.for_tree(repo).for_lane(service, environment)
    except TargetError:  # no such environment: read as the pin file it would be
        return read_pin_view(repo, service, environment)
    return pin.view()


def lane_services(repo: Path, environment: str) -> list[str]:
    """Services with something to smoke-check in `environment`: a pin file, or (overlays)
    a smoke target."""
    from factory_assets.pins.pin_file import list_pin_services
    from factory_assets.smoke.targets import load_smoke_targets

    if load_layout(repo).pin_kind(environment) == "overlays":
        return sorted(s for s, e in load_smoke_targets(repo) if e == environment)
    return list_pin_services(repo, environment)


def pinned_image(text: str | None, path: str) -> str | None:
    """The `image` a pin file's text pins (None: no file, unreadable, or no pin yet)."""
    if text is None:
        return None
    try:
        data = roundtrip_yaml.loads(text, path)
    except InputError:
        return None
    return str(data.get("image")) if isinstance(data, dict) and data.get("image") else None


def text_pins_image(text: str, image: str) -> bool:
    """Does the file at a revision still pin `image`: a pin file's `image`, or an overlay's
    `images:` entry rendering `<newName or name>@<digest>`?"""
    from ruamel.yaml import YAML
    from ruamel.yaml.error import YAMLError

    try:
        data = YAML(typ="safe", pure=True).load(text)
    except YAMLError:
        return False
    if not isinstance(data, dict):
        return False
    if isinstance(data.get("images"), list):
        return any(
            isinstance(e, dict)
            and f"{e.get('newName') or e.get('name')}@{e.get('digest')}" == image
            for e in data["images"]
        )
    return data.get("image") == image


def lane_status_rows(tree: Path) -> tuple[list[dict], list[str]]:
    """One row per (service, env) lane (pins and queue), plus problems found on the way.

    A pin-file lane shows its pin file; an overlay lane its newest promoted release (the
    overlay entry the factory, or the promoter before it, wrote from that request).
    """
    from factory_assets.pins.pin_file import pin_lanes
    from factory_assets.pins.target import PinTargets
    from factory_assets.release.queue_file import load_queue

    pins = PinTargets.for_tree(tree)
    queue = load_queue(tree).queue
    problems = [
        f"{pins.layout.queue_path}: {bad.field}: {bad.problem}"
        for bad in queue.invalid
        if bad.state != "failed"
    ]
    by_lane: dict[tuple[str, str], list[tuple[int, ReleaseEntry]]] = {}
    for position, entry in enumerate(queue.entries):
        by_lane.setdefault(entry.lane, []).append((position, entry))
    rows = []
    for service, env in sorted(
        set(by_lane) | pin_lanes(tree, pins.layout), key=lambda lane: (lane[1], lane[0])
    ):
        row = {"service": service, "env": env, "pinned": None, "tag": None, "release_id": None}
        row.update(_pin_cells(pins, queue, service, env, problems))
        row.update(_queue_cells(tree, _newest(by_lane.get((service, env), []))))
        rows.append(row)
    return rows, problems


def _pin_cells(pins, queue, service: str, env: str, problems: list[str]) -> dict:
    """What the lane's pin target says: its pin, its hold, and a target it cannot use."""
    try:
        pin = pins.for_lane(service, env)
    except TargetError:  # no such environment here: no pin
        return {"hold": pins.layout.held(service, env)}
    cells: dict = {"hold": pin.held()}
    try:
        current = pin.current(queue)
    except InputError as exc:
        problems.append(str(exc))
        return {**cells, "pinned": "(invalid pin file)"}
    cells.update(pinned=current.digest, tag=current.tag, release_id=current.release_id)
    try:
        pin.target  # noqa: B018 - resolved now: a map entry that is unusable raises here
    except InputError as exc:
        cells["target"] = str(exc)
    return cells


def _queue_cells(tree: Path, newest: ReleaseEntry | None) -> dict:
    """The lane's newest request: its state, attempts, back-off, wait and smoke verdict."""
    return {
        "release": newest.id if newest else None,
        "state": newest.state if newest else None,
        "attempts": f"{newest.attempts}/{newest.max_attempts}" if newest else None,
        "next_retry": rfc3339(newest.next_attempt_at)
        if newest and newest.next_attempt_at
        else None,
        "last_error": newest.last_error if newest else None,
        "smoke": _smoke_cell(tree, newest),
        "waiting_since": rfc3339(newest.waiting_since)
        if newest and newest.waiting_since and newest.state in ("pending", "promoting")
        else None,
        "awaiting_approval": bool(
            newest and newest.state == "pending" and newest.awaiting_approval
        ),
    }


def _newest(entries: list[tuple[int, ReleaseEntry]]) -> ReleaseEntry | None:
    if not entries:
        return None
    return max(entries, key=lambda pe: pe[1].order_key(pe[0]))[1]


def _smoke_cell(tree: Path, entry: ReleaseEntry | None) -> str | None:
    """The last verdict on the release's pin; a failure that is drift says so."""
    if entry is None or entry.smoke_verdict is None:
        return None
    if entry.smoke_verdict == "failed" and entry.smoke_evidence:
        # The evidence store (its pydantic models, orjson) only to read a failure's record.
        from factory_assets.evidence import store

        try:
            record = store.load_record(tree, entry.smoke_evidence)
        except (InputError, OSError, ValueError):
            return entry.smoke_verdict
        if getattr(record.details, "error", None) == "drift":
            return "failed (drift)"
    return entry.smoke_verdict
