"""Writing a pin file: the pin and its kustomize write-through, both or neither."""

from __future__ import annotations

from pathlib import Path

from factory_assets.common import roundtrip_yaml
from factory_assets.pins.kustomize import render_image_digest
from factory_assets.pins.pin_file import PinChange, PinDocument, PinRequest, render_pin_text


def write_pin_file(doc: PinDocument, request: PinRequest, *, repo: Path) -> list[PinChange]:
    """Pin `request` in the pin file and in the overlay its `kustomization:` names.

    Both are rendered and checked before either is written, so a bad overlay (or a pin
    that would not parse) leaves both files as they were. Returns the pin file's change,
    then the overlay's.
    """
    text, change = render_pin_text(doc, request, repo=repo)
    overlay = None
    if doc.pin.kustomization:
        overlay = render_image_digest(
            repo,
            doc.pin.kustomization,
            image=request.image,
            digest=request.digest,
            source=doc.path,
        )
    roundtrip_yaml.write_text(doc.path, text)
    changes = [change]
    if overlay is not None:
        path, overlay_text, overlay_change = overlay
        roundtrip_yaml.write_text(path, overlay_text)
        changes.append(overlay_change)
    return changes
