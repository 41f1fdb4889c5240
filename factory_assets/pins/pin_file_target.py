"""A lane pinned by its pin file, `envs/<env>/<service>.yaml` (and the overlay its
`kustomization:` names): the factory's own layout, as a `PinTarget`.

The file names the release it came from (`release_id`) and may hold the lane itself
(`hold: true`, beside factory.yaml's holds). A pin is written round-trip with its kustomize
write-through, both or neither, and proven by parsing the result before it is written.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from factory_assets.common import roundtrip_yaml
from factory_assets.common.errors import InputError
from factory_assets.pins.kustomize import kustomization_file
from factory_assets.pins.pin_file import PinChange, PinDocument, PinRequest, read_pin
from factory_assets.pins.target import (
    LanePin,
    LaneTargetBase,
    PinNotWritten,
    PinResult,
    PinWritten,
    request_image,
)

if TYPE_CHECKING:
    from factory_assets.pins.lane_view import PinView
    from factory_assets.release.model import ReleaseEntry, ReleaseQueue


@dataclass(frozen=True)
class PinFileWrite:
    """The pin file's new pin, written by `write_all` with the others of its batch."""

    key: str
    doc: PinDocument
    request: PinRequest

    @staticmethod
    def write_all(
        tree: Path, writes: Sequence[PinFileWrite], meanwhile: Callable[[], object]
    ) -> dict[str, PinResult]:
        """Each pin file (and its kustomize write-through) in turn; a file that turned invalid
        since it was read is left as it was, and its pin is retried by the next pass."""
        from factory_assets.pins.write import write_pin_file

        results: dict[str, PinResult] = {}
        for write in writes:
            try:
                changes = write_pin_file(write.doc, write.request, repo=tree)
            except InputError as exc:
                results[write.key] = PinNotWritten(str(exc), retryable=True)
                continue
            results[write.key] = PinWritten(tuple(changes))
        return results


@dataclass
class PinFileTarget(LaneTargetBase):
    """See the module docstring."""

    _doc: PinDocument | None = field(default=None, repr=False)

    def document(self) -> PinDocument:
        """The pin file as it is now (read once; InputError when it does not validate)."""
        if self._doc is None:
            self._doc = read_pin(self.tree, self.service, self.env)
        return self._doc

    def held(self) -> bool:
        if self.resolver.layout.held(self.service, self.env):
            return True
        try:
            return self.document().pin.hold
        except InputError:
            return False  # an unreadable file holds nothing; `problem` says what is wrong

    def problem(self) -> str | None:
        """The file, or the kustomization its `kustomization:` names, does not validate."""
        try:
            doc = self.document()
            if doc.pin.kustomization:
                _check_kustomization(self.tree, doc.pin.kustomization, doc.path)
        except InputError as exc:
            return str(exc)
        return None

    def current(self, queue: ReleaseQueue) -> LanePin:
        pin = self.document().pin
        return LanePin(
            digest=pin.digest,
            tag=pin.tag,
            release_id=pin.release_id,
            repository=pin.repository,
            track=pin.track,
        )

    def verified_image(self, entry: ReleaseEntry, registry_host: str) -> str:
        return request_image(entry, registry_host)

    def pin_write(
        self, entry: ReleaseEntry, image: str, digest: str, now: datetime
    ) -> PinFileWrite:
        request = PinRequest(
            # A stage request pins the replica it was verified on (its own env's registry).
            image=image if entry.upstream else entry.image,
            digest=digest,
            tag=entry.label,  # the tag it came from: requested, or the build's
            release_id=entry.id,
            promoted_at=now,
        )
        return PinFileWrite(entry.id, self.document(), request)

    def changed_by(self, show: Callable[[str, str], str | None], commit: str) -> tuple:
        from factory_assets.pins.lane_view import pinned_image

        path = self.target.path
        after = pinned_image(show(commit, path), path)
        before = pinned_image(show(f"{commit}^", path), path)
        return (PinChange(path=path, before=before, after=after),) if after else ()

    def deploys(self) -> bool:
        return (self.tree / self.target.path).exists()

    def view(self) -> PinView:
        from factory_assets.pins.lane_view import read_pin_view

        return read_pin_view(self.tree, self.service, self.env)


def _check_kustomization(tree: Path, relative: str, source: Path) -> None:
    """The kustomization a pin writes through to must be a mapping with an `images:` list."""
    path = kustomization_file(tree, relative, source=source)
    data = roundtrip_yaml.load_file_for_reading(path)
    images = data.get("images") if isinstance(data, dict) else None
    if not isinstance(data, dict) or not isinstance(images, (list, type(None))):
        raise InputError(path, "images", "expected a kustomization mapping with an `images:` list")
