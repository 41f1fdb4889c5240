"""`factory.yaml`: the repository declares its layout; without it, the factory's own layout.

The factory's own layout: a `releases:` queue at `release/queue.yaml`, pin files at
`envs/<env>/<service>.yaml`, any environment name. A repository in the ljwx-deploy layout
declares the four-list queue, its service map and its environments instead, e.g.

    queue: {path: release/queue.yaml, format: four-lists}
    service_map: release/services.yaml
    environments:
      dev: {pins: overlays}
      prod: {pins: overlays, hold: [web]}

`SERVICE_MAP_PATH` overrides `service_map`, so each cluster's runner picks its profile.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path, PurePosixPath
from typing import Any, Literal

from factory_assets.common import roundtrip_yaml, settings
from factory_assets.common.errors import InputError
from factory_assets.common.plain_model import (
    PlainModel,
    Problems,
    ValidationError,
    boolean,
    field,
    literal,
    mapping_of,
    model,
    optional,
    text,
    then,
    tuple_of,
)
from factory_assets.policy.durations import parse_duration
from factory_assets.policy.windows import BadWindow, Window, parse_window

LAYOUT_FILE = "factory.yaml"
DEFAULT_QUEUE = "release/queue.yaml"
DEFAULT_ENV = "dev"
ENV_NAME = r"^[a-z0-9]([a-z0-9-]{0,30}[a-z0-9])?$"
ENV_RE = re.compile(ENV_NAME)
FOUR_LIST_MAX_ATTEMPTS = 10  # the deploy repository's RETRY_MAX


def _relative(value: str) -> str:
    """A path inside the repository: relative, no `..` (the writes must stay in it)."""
    path = PurePosixPath(value)
    if not value or path.is_absolute() or ".." in path.parts or "\\" in value or "\x00" in value:
        raise ValueError("expected a relative path inside the repository (no `..`, not absolute)")
    return value


relative_path = _relative


def check_env(value: str) -> str:
    """An environment name is also a directory and a partition key: a short lowercase label."""
    if not isinstance(value, str) or not ENV_RE.fullmatch(value):
        raise ValueError(
            f"{value!r} is not an environment name: 1-32 lowercase letters, digits and '-'"
        )
    return value


relative_path_text = then(text(), _relative)
env_name = then(text(), check_env)
QueueFormat = Literal["releases", "four-lists"]
PinKind = Literal["pin-files", "overlays"]
# the duration's own message for any input: `soak: 30` is "expected a duration such as 30m"
duration = then(lambda value: value, parse_duration)
# Argo CD's default reconciliation period (`timeout.reconciliation`, 180 s): a pin's second
# smoke check after this long has seen the application settle again.
DEFAULT_SYNC_WINDOW = timedelta(minutes=3)


def _window(value: Any) -> Window:
    """One promotion window (policy/windows.py); a problem is located at its key."""
    try:
        return parse_window(value)
    except BadWindow as exc:
        where = (exc.key,) if exc.key else ()
        raise Problems([(where, "value_error", f"Value error, {exc.problem}", value)]) from None


class QueueLayout(PlainModel, extra="forbid"):
    path: str = field(relative_path_text, default=DEFAULT_QUEUE)
    format: QueueFormat = field(literal("releases", "four-lists"), default="releases")


class EnvironmentLayout(PlainModel, extra="forbid"):
    pins: PinKind = field(literal("pin-files", "overlays"), default="pin-files")
    # Services held in this environment: the queue waits for them (the overlay has no room).
    hold: tuple[str, ...] = field(tuple_of(text()), default=())
    # A pipeline stage: requests come from `after` once its smoke passed on that exact digest.
    after: str | None = field(optional(env_name), default=None)
    # a stage request also waits for `factory release approve`
    approval: bool = field(boolean(), default=False)
    # Tag the digest `<retag><tag>` on the upstream registry before queuing, so that a
    # tag-filtered replication rule (Harbor's `prod-*`) carries it to this stage's registry.
    retag: str | None = field(
        optional(text(pattern=r"^[A-Za-z0-9_][A-Za-z0-9._-]{0,63}$")), default=None
    )
    # A stage's request is queued only once the upstream pin stayed healthy this long.
    soak: timedelta | None = field(optional(duration), default=None)
    # When a ready request may land here: allow/deny windows in Argo CD's sync-window shape.
    windows: tuple[Window, ...] = field(tuple_of(_window), default=())
    # Roll a confirmed broken pin back to the last known-good digest (policy/auto_rollback.py).
    auto_rollback: bool = field(boolean(), default=False)
    # How long after a broken smoke verdict a second one confirms it.
    sync_window: timedelta = field(duration, default=DEFAULT_SYNC_WINDOW)


class LayoutFile(PlainModel, extra="forbid"):
    """The contents of `factory.yaml`, validated."""

    queue: QueueLayout = field(model(QueueLayout), default=QueueLayout())
    service_map: str | None = field(optional(relative_path_text), default=None)
    environments: dict[str, EnvironmentLayout] = field(
        mapping_of(env_name, model(EnvironmentLayout), min_length=1)
    )
    # the targets file overlay lanes are checked by
    smoke_targets: str | None = field(optional(relative_path_text), default=None)


@dataclass(frozen=True)
class Layout:
    """Where a repository keeps its queue, service map and pins (see the module docstring)."""

    queue_path: str = DEFAULT_QUEUE
    queue_format: QueueFormat = "releases"
    service_map: str | None = None
    environments: dict[str, EnvironmentLayout] | None = None  # None: any name, pin files
    declared: bool = False  # read from factory.yaml (False: the factory's own default)
    smoke_targets: str | None = None

    def env_names(self) -> list[str] | None:
        return list(self.environments) if self.environments is not None else None

    def environment(self, env: str) -> EnvironmentLayout | None:
        """The environment's layout, or None when this repository does not have it."""
        if self.environments is None:
            return EnvironmentLayout() if ENV_RE.fullmatch(env or "") else None
        return self.environments.get(env)

    def pin_kind(self, env: str) -> PinKind | None:
        found = self.environment(env)
        return found.pins if found else None

    def stages_after(self, env: str) -> list[str]:
        """The environments whose requests come from `env` (its downstream stages)."""
        if self.environments is None:
            return []
        return [name for name, layout in self.environments.items() if layout.after == env]

    def needs_approval(self, env: str) -> bool:
        found = self.environment(env)
        return bool(found and found.approval)

    def held(self, service: str, env: str) -> bool:
        found = self.environment(env)
        return bool(found and service in found.hold)


def _message(err: dict) -> str:
    msg = str(err["msg"]).removeprefix("Value error, ")
    if err.get("type") == "extra_forbidden":
        if len(err["loc"]) == 3 and err["loc"][0] == "environments":
            keys = ", ".join(EnvironmentLayout.model_fields)
            return f"unknown key (expected {keys}; see the README)"
        return (
            "unknown key (expected queue, service_map, environments, smoke_targets; see the README)"
        )
    if err.get("type") == "literal_error":
        return f"{msg}, got {err.get('input')!r}"
    return msg


def parse_layout(data: object, path: Path | str) -> LayoutFile:
    """Validate `factory.yaml` data; an InputError names the file, the field and the problem."""
    if not isinstance(data, dict):
        raise InputError(path, "-", "expected a mapping with queue, service_map and environments")
    try:
        layout = LayoutFile.model_validate(roundtrip_yaml.plain(data))
    except ValidationError as exc:
        errors = exc.errors(include_url=False)
        # A misspelt key is the likelier mistake than the missing one it stands for.
        err = next((e for e in errors if e.get("type") == "extra_forbidden"), errors[0])
        loc = ".".join(str(p) for p in err["loc"]) or "-"
        raise InputError(path, loc, _message(err)) from None
    _check_stages(layout, path)
    for name, env in layout.environments.items():
        if env.pins == "overlays" and layout.service_map is None:
            raise InputError(
                path,
                f"environments.{name}.pins",
                "is `overlays`, which needs `service_map` (the map that names each overlay)",
            )
    return layout


def _check_stages(layout: LayoutFile, path: Path | str) -> None:
    """`after` names another declared environment, and the stages form no cycle."""
    envs = layout.environments
    for name, env in envs.items():
        seen = {name}
        upstream = env.after
        while upstream is not None:
            if upstream not in envs:
                raise InputError(
                    path,
                    f"environments.{name}.after",
                    f"{upstream!r} is not a declared environment ({', '.join(envs)})",
                )
            if upstream in seen:
                raise InputError(path, f"environments.{name}.after", "the stages form a cycle")
            seen.add(upstream)
            upstream = envs[upstream].after
        if env.retag and env.after is None:
            raise InputError(
                path, f"environments.{name}.retag", "only a stage (with `after`) is fed by a retag"
            )
        if env.approval and env.after is None:
            raise InputError(
                path,
                f"environments.{name}.approval",
                "only a stage (with `after`) waits for approval",
            )
        if env.soak and env.after is None:
            raise InputError(
                path,
                f"environments.{name}.soak",
                "only a stage (with `after`) waits for its upstream pin to soak",
            )


def load_layout(repo: Path) -> Layout:
    """The repository's layout: `factory.yaml` if present (validated), else the default."""
    path = Path(repo) / LAYOUT_FILE
    override = settings.SERVICE_MAP_PATH.get()
    if not path.is_file():
        return Layout(service_map=_check_override(override))
    declared = parse_layout(roundtrip_yaml.load_file_for_reading(path), path)
    return Layout(
        queue_path=declared.queue.path,
        queue_format=declared.queue.format,
        service_map=_check_override(override) or declared.service_map,
        environments=dict(declared.environments),
        declared=True,
        smoke_targets=declared.smoke_targets,
    )


def _check_override(value: str | None) -> str | None:
    if value is None:
        return None
    try:
        return _relative(value)
    except ValueError as exc:
        raise InputError("SERVICE_MAP_PATH", "-", str(exc)) from None


def allowed_envs(environ: Mapping[str, str] | None = None) -> frozenset[str] | None:
    """FACTORY_ENVS: the environments this runner may promote (None: all of them)."""
    names = settings.FACTORY_ENVS.get(environ)
    if names is None:
        return None
    for name in names:
        if not ENV_RE.fullmatch(name):
            raise InputError("FACTORY_ENVS", "-", f"{name!r} is not an environment name")
    return frozenset(names)
