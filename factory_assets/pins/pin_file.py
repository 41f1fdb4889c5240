"""`envs/dev/<service>.yaml`: the digest pin the factory writes, next to settings the user owns.

Factory-owned keys: service, image (`host/repo@sha256:...`, never a tag), tag,
release_id, promoted_at. User-owned keys, never rewritten: track, hold, smoke,
kustomization. Edits are round-trip, so comments and key order survive.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from factory_assets.common import roundtrip_yaml, yaml_lists
from factory_assets.common.clock import rfc3339
from factory_assets.common.errors import InputError
from factory_assets.common.plain_model import (
    PlainModel,
    ValidationError,
    boolean,
    field,
    model,
    optional,
    text,
    then,
)
from factory_assets.evidence.vocabulary import SERVICE_NAME
from factory_assets.layout.config import Layout, relative_path
from factory_assets.layout.targets import pin_file_path
from factory_assets.release.model import (
    check_image_name,
    check_service,
    release_id_text,
    service_text,
    tag_text,
    utc_moment,
)
from factory_assets.smoke.config import SmokeConfig
from resources.registry import InvalidReference, validate_digest

if TYPE_CHECKING:
    from ruamel.yaml.comments import CommentedMap

ENV = "dev"
FACTORY_KEYS = ("service", "image", "tag", "release_id", "promoted_at")
USER_KEYS = ("track", "hold", "smoke", "kustomization")
SERVICE_RE = re.compile(SERVICE_NAME)


def _pinned_image(value: str) -> str:
    """`host/repository@sha256:<hex>`: a digest pin, never a tag."""
    name, sep, digest = value.partition("@")
    if not sep:
        raise ValueError(
            "expected host/repository@sha256:<64 hex>, a digest pin (tags are never pinned)"
        )
    check_image_name(name)
    try:
        validate_digest(digest)
    except InvalidReference as exc:
        raise ValueError(str(exc)) from None
    return value


def _names_a_target(value: SmokeConfig) -> SmokeConfig:
    if not value.configured:
        raise ValueError("smoke needs argocd_app and/or url")
    return value


class PinFile(PlainModel, extra="forbid"):
    """The whole pin file as data (user settings plus the factory's pin, if any)."""

    service: str | None = field(optional(service_text), default=None)
    image: str | None = field(optional(then(text(max_length=400), _pinned_image)), default=None)
    tag: str | None = field(optional(tag_text), default=None)
    release_id: str | None = field(optional(release_id_text), default=None)
    promoted_at: datetime | None = field(optional(utc_moment), default=None)
    track: str | None = field(optional(tag_text), default=None)
    hold: bool = field(boolean(strict=True), default=False)
    # The smoke domain owns the meaning of every `smoke:` key; the pin file only carries them.
    smoke: SmokeConfig | None = field(
        optional(then(model(SmokeConfig), _names_a_target)), default=None
    )
    kustomization: str | None = field(
        optional(then(text(max_length=1024), relative_path)), default=None
    )

    def _cross_check(self) -> None:
        if self.image is None and (self.tag or self.release_id or self.promoted_at):
            raise ValueError("tag/release_id/promoted_at without an image pin")

    @property
    def repository(self) -> str | None:
        """`host/repository` of the pinned image."""
        return self.image.partition("@")[0] if self.image else None

    @property
    def digest(self) -> str | None:
        return self.image.partition("@")[2] if self.image else None


@dataclass
class PinDocument:
    """A pin file as parsed, plus its YAML for round-trip editing (`data`, parsed when first
    asked for: a caller that only reads `pin` never loads the round-trip parser)."""

    service: str
    path: Path
    pin: PinFile
    exists: bool
    text: str = ""  # the file as read ("" when there is none yet)

    @cached_property
    def data(self) -> CommentedMap:
        from ruamel.yaml.comments import CommentedMap

        if not self.exists:
            return CommentedMap()
        data = roundtrip_yaml.loads(self.text, self.path)
        return data if isinstance(data, CommentedMap) else CommentedMap()


@dataclass(frozen=True)
class PinRequest:
    """What the factory pins in a lane's pin file: the factory-owned keys after `service`."""

    image: str  # host/repository, without the digest
    digest: str
    tag: str | None  # the tag it came from (None: the file keeps no tag)
    release_id: str
    promoted_at: datetime

    @property
    def pinned(self) -> str:
        """`host/repository@sha256:...`, the pin file's `image` value."""
        return f"{self.image}@{self.digest}"


@dataclass(frozen=True)
class PinChange:
    """One line of the pin diff: what a file said before and after."""

    path: str
    before: str | None
    after: str
    proof: str | None = None  # how the written pin was proven (an overlay render), if it was


def check_service_name(service: Any, *, source: str = "arguments", field: str = "SERVICE") -> str:
    """Validate a service name given on a command line or by a caller (InputError when bad)."""
    try:
        return check_service(service)
    except ValueError as exc:
        raise InputError(source, field, str(exc)) from None


def pin_relpath(service: str, env: str = ENV) -> str:
    return pin_file_path(check_service_name(service), env)


def pin_path(repo: Path, service: str, env: str = ENV) -> Path:
    return repo / pin_relpath(service, env)


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    return roundtrip_yaml.as_utc(value)


def parse_pin(data: Any, path: Path, service: str) -> PinFile:
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise InputError(path, "-", f"expected a mapping, found a {type(data).__name__}")
    try:
        pin = PinFile.model_validate(_plain(data))
    except ValidationError as exc:
        err = exc.errors(include_url=False)[0]
        loc = ".".join(str(p) for p in err["loc"]) or "-"
        msg = str(err["msg"]).removeprefix("Value error, ")
        if err.get("type") == "extra_forbidden":
            allowed = ", ".join(FACTORY_KEYS + USER_KEYS)
            msg = f"unknown key (allowed: {allowed})"
        raise InputError(path, loc, msg) from None
    if pin.service is not None and pin.service != service:
        raise InputError(
            path, "service", f"is {pin.service!r}, but the file is named for {service!r}"
        )
    return pin


def read_pin(repo: Path, service: str, env: str = ENV) -> PinDocument:
    """The pin file of `service` in `env` (an empty document when there is none yet)."""
    path = pin_path(repo, service, env)
    if not path.exists():
        return PinDocument(service, path, PinFile(), exists=False)
    text = roundtrip_yaml.read_text(path)
    pin = parse_pin(roundtrip_yaml.loads_for_reading(text, path), path, service)
    return PinDocument(service, path, pin, exists=True, text=text)


def pin_of(repo: Path, service: str, env: str = ENV) -> PinFile:
    """The pin of `service` in `env` (empty when there is none), read with libyaml: for a
    caller that only looks at it, as a sensor tick does at every pin file."""
    path = pin_path(repo, service, env)
    if not path.exists():
        return PinFile()
    return parse_pin(yaml_lists.load(roundtrip_yaml.read_text(path), path), path, service)


def list_pin_services(repo: Path, env: str = ENV) -> list[str]:
    """Services with a pin file (names that are not valid service names are skipped)."""
    directory = repo / "envs" / env
    if not directory.is_dir():
        return []
    return sorted(p.stem for p in directory.glob("*.yaml") if SERVICE_RE.fullmatch(p.stem))


def pin_lanes(
    repo: Path, layout: Layout, envs: Collection[str] | None = None
) -> set[tuple[str, str]]:
    """(service, env) of every pin file in the pin-file environments (only `envs`, if given)."""
    if layout.environments is not None:
        names = [name for name, env in layout.environments.items() if env.pins == "pin-files"]
    else:
        root = repo / "envs"
        names = sorted(p.name for p in root.iterdir() if p.is_dir()) if root.is_dir() else []
    return {
        (service, env)
        for env in names
        if envs is None or env in envs
        for service in list_pin_services(repo, env)
    }


def _set(data: CommentedMap, key: str, value: Any) -> None:
    """Set a factory key; new keys go before the first user key so files read top-down."""
    if key in data:
        if data[key] != value:
            data[key] = value
        return
    position = len(data)
    for index, existing in enumerate(data):
        if existing in USER_KEYS:
            position = index
            break
    data.insert(position, key, value)


def render_pin(doc: PinDocument, request: PinRequest) -> CommentedMap:
    """The pin written into the document's YAML; user keys are left exactly as they were."""
    data = doc.data
    _set(data, "service", doc.service)
    _set(data, "image", request.pinned)
    if request.tag:
        _set(data, "tag", request.tag)
    elif "tag" in data:
        del data["tag"]
    _set(data, "release_id", request.release_id)
    _set(data, "promoted_at", rfc3339(request.promoted_at))
    return data


def render_pin_text(doc: PinDocument, request: PinRequest, *, repo: Path) -> tuple[str, PinChange]:
    """The new file text and the change, validated, without writing anything."""
    before = doc.pin.image
    data = render_pin(doc, request)
    text = roundtrip_yaml.dumps(data)
    parse_pin(data, doc.path, doc.service)  # never write an invalid pin
    return text, PinChange(
        path=str(doc.path.relative_to(repo)), before=before, after=request.pinned
    )
