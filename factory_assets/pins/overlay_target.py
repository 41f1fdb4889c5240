"""A lane pinned by an overlay's `images:` entry that the service map names (the ljwx-deploy
layout), as a `PinTarget`.

An overlay entry keeps no release id: the lane's newest promoted request stands for what it
holds. Only factory.yaml holds such a lane (the overlay has no room for it). A pin is written
with every other pin of its file in one write, then proven by rendering the overlay with the
real kustomize (`overlay_entry`); a digest is verified at the map's `harborImage`, the
replica this environment pulls.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from factory_assets.common.errors import InputError
from factory_assets.layout.targets import TargetError
from factory_assets.pins.pin_file import PinChange
from factory_assets.pins.target import LanePin, LaneTargetBase, PinNotWritten, PinResult, PinWritten

if TYPE_CHECKING:
    from factory_assets.pins.lane_view import PinView
    from factory_assets.pins.overlay_entry import OverlayRequest
    from factory_assets.release.model import ReleaseEntry, ReleaseQueue


@dataclass(frozen=True)
class OverlayWrite:
    """The overlay entry's new pin, written and rendered with the others of its batch."""

    key: str
    request: OverlayRequest

    @staticmethod
    def write_all(
        tree: Path, writes: Sequence[OverlayWrite], meanwhile: Callable[[], object]
    ) -> dict[str, PinResult]:
        """Every overlay in one write per file, each proven by one render (`pin_overlays`);
        a pin the render does not show is refused, and its file keeps its other pins."""
        from factory_assets.pins.overlay_entry import OverlayRefused, pin_overlays

        proven = pin_overlays(tree, [w.request for w in writes], meanwhile=meanwhile)
        results: dict[str, PinResult] = {}
        for write in writes:
            outcome = proven[write.request.key]
            if isinstance(outcome, OverlayRefused):
                results[write.key] = PinNotWritten(str(outcome), retryable=False)
                continue
            change = PinChange(write.request.relative, outcome.before, outcome.after, outcome.proof)
            results[write.key] = PinWritten((change,))
        return results


@dataclass
class OverlayTarget(LaneTargetBase):
    """See the module docstring."""

    def held(self) -> bool:
        return self.resolver.layout.held(self.service, self.env)

    def problem(self) -> str | None:
        return None  # the overlay is checked when it is written and rendered

    def current(self, queue: ReleaseQueue) -> LanePin:
        pinned = queue.newest_promoted(self.service, self.env)
        if pinned is None:
            return LanePin()
        try:
            repository = self.target.verify_reference(pinned.image)
        except TargetError:
            repository = None  # the map no longer names it: nothing to re-verify at
        return LanePin(pinned.digest, pinned.label, pinned.id, repository)

    def verified_image(self, entry: ReleaseEntry, registry_host: str) -> str:
        return self.target.verify_reference(entry.image)

    def pin_write(
        self, entry: ReleaseEntry, image: str, digest: str, now: datetime
    ) -> OverlayWrite:
        from factory_assets.pins.overlay_entry import OverlayRequest

        target = self.target
        request = OverlayRequest(
            key=entry.id,
            relative=target.path,
            name=target.image_name or "",
            deploy=target.deploy_reference(entry.image),
            digest=digest,
        )
        return OverlayWrite(entry.id, request)

    def changed_by(self, show: Callable[[str, str], str | None], commit: str) -> tuple:
        return ()  # the overlay's text does not say which release it came from

    def deploys(self) -> bool:
        return True  # the map names the lane's overlay

    def view(self) -> PinView:
        """The lane's newest promoted release as its overlay deploys it, checked as the
        repository's smoke targets file says."""
        from factory_assets.pins.lane_view import PinView
        from factory_assets.release.queue_file import load_queue
        from factory_assets.smoke.targets import load_smoke_targets

        try:
            target = self.target
        except TargetError as exc:
            raise InputError(exc.path, exc.field, exc.problem) from None
        pinned = load_queue(self.tree).queue.newest_promoted(self.service, self.env)
        image = f"{target.deploy_reference(pinned.image)}@{pinned.digest}" if pinned else None
        return PinView(
            service=self.service,
            path=self.tree / target.path,
            rel_path=target.path,
            image=image,
            tag=pinned.label if pinned else None,
            release_id=pinned.id if pinned else None,
            smoke=load_smoke_targets(self.tree).get(self.lane),
        )
