"""Kustomize write-through: the overlay's `images:` entry gets the pinned digest.

The entry whose `name` (or `newName`) is the image's `host/repository` gets
`digest:`; a `newTag` there is removed, since a pin is by digest only. When
no entry matches, one is appended; when two do, the pin is refused (kustomize would
apply both, and one digest would go stale). Everything else in the file is untouched.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from factory_assets.common import roundtrip_yaml
from factory_assets.common.errors import InputError
from factory_assets.pins.pin_file import PinChange

if TYPE_CHECKING:  # ruamel is imported where an overlay is edited (a plan only reads)
    from ruamel.yaml.comments import CommentedMap, CommentedSeq

KUSTOMIZATION_NAMES = ("kustomization.yaml", "kustomization.yml", "Kustomization")


def kustomization_file(repo: Path, relative: str, *, source: Path | str) -> Path:
    """The kustomization file named by a pin's `kustomization:` (a file or an overlay directory)."""
    root = repo.resolve()
    target = (repo / relative).resolve()
    if not target.is_relative_to(root):
        raise InputError(source, "kustomization", f"{relative!r} points outside the repository")
    if target.is_dir():
        for name in KUSTOMIZATION_NAMES:
            if (target / name).is_file():
                return target / name
        raise InputError(source, "kustomization", f"{relative!r} has no kustomization.yaml")
    if not target.is_file():
        raise InputError(source, "kustomization", f"{relative!r} does not exist")
    return target


def images_of(data: object, path: Path) -> CommentedSeq:
    """The kustomization's `images:` list (created empty when absent)."""
    from ruamel.yaml.comments import CommentedMap, CommentedSeq

    if not isinstance(data, CommentedMap):
        raise InputError(path, "-", "expected a kustomization mapping")
    images = data.get("images")
    if images is None:
        data["images"] = images = CommentedSeq()
    if not isinstance(images, list):
        raise InputError(path, "images", "expected a list")
    return images


def image_entry(
    images: CommentedSeq,
    names: tuple[str, ...],
    path: Path | str,
    *,
    refuse: type[InputError] = InputError,
) -> CommentedMap | None:
    """The one `images:` entry whose `name` or `newName` is one of `names` (None: none is).

    Two such entries are refused with `refuse`: kustomize applies both in turn, so pinning
    one leaves the other's digest beside it, stale; which to keep is the user's choice.
    """
    found: list[tuple[int, CommentedMap]] = []
    for index, item in enumerate(images):
        if not isinstance(item, dict):
            raise InputError(
                path, f"images[{index}]", "expected a mapping with name/newName/digest"
            )
        if item.get("name") in names or item.get("newName") in names:
            found.append((index, item))
    if len(found) > 1:
        which = " and ".join(f"images[{i}] (name {e.get('name')!r})" for i, e in found)
        raise refuse(
            path,
            "images",
            f"{which} {'both' if len(found) == 2 else 'all'} match {' or '.join(map(repr, names))} "
            "by name or newName; kustomize "
            "applies both in turn, so a pin would leave a stale digest beside it: keep one entry",
        )
    return found[0][1] if found else None


def render_image_digest(
    repo: Path, relative: str, *, image: str, digest: str, source: Path | str
) -> tuple[Path, str, PinChange]:
    """The overlay's new text with `image` pointed at `digest`, without writing it."""
    from ruamel.yaml.comments import CommentedMap

    path = kustomization_file(repo, relative, source=source)
    data = roundtrip_yaml.load_file(path)
    images = images_of(data, path)
    entry = image_entry(images, (image,), path)
    before = None
    if entry is None:
        entry = CommentedMap()
        entry["name"] = image
        images.append(entry)
    elif entry.get("digest"):
        before = f"{image}@{entry['digest']}"
    elif entry.get("newTag"):
        before = f"{image}:{entry['newTag']}"
    entry.pop("newTag", None)
    if entry.get("newName") not in (None, image):
        entry["newName"] = image  # the digest is `image`'s: the render must say so
    entry["digest"] = digest
    text = roundtrip_yaml.dumps(data)
    change = PinChange(
        path=str(path.relative_to(repo.resolve())), before=before, after=f"{image}@{digest}"
    )
    return path, text, change
