"""A lane's pin, whatever holds it: the one thing the engine talks to about a lane.

A `PinTarget` says where the lane's pin is (`target`, the layout's facts), whether the lane
is held, what the pin holds now, which repository a request's digest is verified at, how a
new pin is written (`pin_write`, written with every other by `write_pins`) and how it is
proven. Two kinds implement it: a pin file (`pin_file_target`) and an overlay `images:`
entry (`overlay_target`); `PinTargets.for_lane` is the one place that picks between them.
The read methods read the tree the target was made for; `target`, `verified_image` and
`pin_write` use only the layout's facts, so a target may outlive its transaction for those.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from factory_assets.layout.config import Layout, load_layout
from factory_assets.layout.targets import Target, TargetError, TargetResolver

if TYPE_CHECKING:
    from factory_assets.pins.lane_view import PinView
    from factory_assets.pins.pin_file import PinChange
    from factory_assets.release.model import ReleaseEntry, ReleaseQueue

Show = Callable[[str, str], "str | None"]  # (commit, path) -> the file's text then, or None


@dataclass(frozen=True)
class LanePin:
    """What a lane's pin holds now (None: nothing pinned yet, or not known)."""

    digest: str | None = None
    tag: str | None = None
    release_id: str | None = None
    repository: str | None = None  # the repository whose digest the pin names, to re-verify
    track: str | None = None  # the tag a pin file follows (`track:`), if any


@dataclass(frozen=True)
class PinWritten:
    """A pin written and proven: what each file said before and after, and how it was proven."""

    changes: tuple[PinChange, ...]


@dataclass(frozen=True)
class PinNotWritten:
    """A pin that was not written (nothing of it is on disk); `retryable`: time may fix it."""

    error: str
    retryable: bool = False


PinResult = PinWritten | PinNotWritten


class PinWrite(Protocol):
    """One pin to write, keyed by its release; `write_all` writes a batch of its own kind."""

    key: str

    @staticmethod
    def write_all(
        tree: Path, writes: Sequence[PinWrite], meanwhile: Callable[[], object]
    ) -> dict[str, PinResult]: ...


class PinTarget(Protocol):
    """A lane's pin: see the module docstring."""

    lane: tuple[str, str]

    @property
    def target(self) -> Target:
        """Where the pin lives and what the layout names for it (TargetError: nowhere usable)."""
        ...

    def held(self) -> bool:
        """The lane waits (unless forced): held by factory.yaml, or by the pin itself."""
        ...

    def problem(self) -> str | None:
        """Why the pin cannot be read as it stands (the lane waits for a human), else None."""
        ...

    def current(self, queue: ReleaseQueue) -> LanePin:
        """What the pin holds now: its digest and the release it came from (InputError: the
        file that says it does not validate)."""
        ...

    def verified_image(self, entry: ReleaseEntry, registry_host: str) -> str:
        """The repository whose digest is checked on the env's registry (at `registry_host`)."""
        ...

    def pin_write(self, entry: ReleaseEntry, image: str, digest: str, now: datetime) -> PinWrite:
        """What writing `digest` into this pin takes (`image`: where it was verified)."""
        ...

    def changed_by(self, show: Show, commit: str) -> tuple[PinChange, ...]:
        """What `commit` changed in this pin (to record a pin its runner never recorded)."""
        ...

    def deploys(self) -> bool:
        """Whether the service runs in this lane at all (a stage hands off only where it does)."""
        ...

    def view(self) -> PinView:
        """What runs in the lane as the smoke check reads it (InputError: nothing to check)."""
        ...


@dataclass
class LaneTargetBase:
    """What every kind of pin target knows: the tree it reads, the layout's resolver, the lane."""

    tree: Path
    resolver: TargetResolver
    service: str
    env: str

    @property
    def lane(self) -> tuple[str, str]:
        return (self.service, self.env)

    @cached_property
    def target(self) -> Target:
        return self.resolver.target(self.service, self.env)


def request_image(entry: ReleaseEntry, registry_host: str) -> str:
    """The request's own repository; a stage request (from the pipeline) names the upstream
    one, and its stage checks the replica under the same path on its own registry."""
    if not entry.upstream:
        return entry.image
    from resources.registry.environments import (
        on_registry,  # the HTTP stack only once a registry is asked
    )

    return on_registry(entry.image, registry_host)


def verified_image(entry: ReleaseEntry, pin: PinTarget | None, registry_host: str) -> str:
    """`pin`'s repository to verify `entry` at; the request's own without a usable target."""
    return pin.verified_image(entry, registry_host) if pin else request_image(entry, registry_host)


@dataclass
class PinTargets:
    """The pin targets of one repository tree (factory.yaml and the service map read once)."""

    tree: Path
    layout: Layout
    _resolver: TargetResolver | None = field(default=None, repr=False)

    @classmethod
    def for_tree(cls, tree: Path) -> PinTargets:
        return cls(Path(tree), load_layout(tree))

    @property
    def resolver(self) -> TargetResolver:
        if self._resolver is None:
            self._resolver = TargetResolver(self.tree, self.layout)
        return self._resolver

    def for_lane(self, service: str, env: str) -> PinTarget:
        """The lane's pin target (TargetError: the repository has no such environment)."""
        from factory_assets.pins.overlay_target import OverlayTarget
        from factory_assets.pins.pin_file_target import PinFileTarget

        kind = self.layout.pin_kind(env)
        if kind == "overlays":
            return OverlayTarget(self.tree, self.resolver, service, env)
        if kind == "pin-files":
            return PinFileTarget(self.tree, self.resolver, service, env)
        self.resolver.target(service, env)  # raises: it names the environments there are
        raise AssertionError(f"no pin kind for {env!r}")  # pragma: no cover

    def usable(self, service: str, env: str) -> PinTarget | None:
        """The lane's pin target if the repository names a usable one, else None."""
        try:
            pin = self.for_lane(service, env)
            pin.target  # noqa: B018 - resolved now: a map entry that is unusable raises here
        except TargetError:
            return None
        return pin


def write_pins(
    tree: Path, writes: Sequence[PinWrite], *, meanwhile: Callable[[], object] | None = None
) -> dict[str, PinResult]:
    """Write every pin, each kind in one batch, and prove each (key -> what happened).

    `meanwhile` (the caller's own work) runs once, while a batch waits on a render if one
    does, else at the end.
    """
    once = _Once(meanwhile)
    batches: dict[Callable, list[PinWrite]] = {}
    for write in writes:
        batches.setdefault(type(write).write_all, []).append(write)
    results: dict[str, PinResult] = {}
    for write_all, batch in batches.items():
        results.update(write_all(tree, batch, once))
    once()
    return results


class _Once:
    """A callable that runs `work` the first time it is called, and never again."""

    def __init__(self, work: Callable[[], object] | None) -> None:
        self._work = work

    def __call__(self) -> None:
        work, self._work = self._work, None
        if work is not None:
            work()
