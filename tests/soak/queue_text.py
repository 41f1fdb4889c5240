"""The queue file as text blocks: one per entry, each parsed once and cached by its bytes.

The soak reads the queue at every commit on the remote (thousands of commits, thousands of
entries): parsing only the blocks that changed keeps that cheap, and the blocks are what
"an untouched entry keeps its bytes" is about. `data()` is what `yaml.safe_load` gives for
the whole file (the checker compares the two now and then, so the split is kept honest).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import yaml

LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_TOP = re.compile(r"^([A-Za-z_][\w-]*):(.*)$")
_CACHE: dict[str, dict] = {}
_CACHE_LIMIT = 200_000


def parse_block(block: str, dash: int) -> object:
    """One entry's text as PyYAML reads it (the repository's validator reads with PyYAML)."""
    cached = _CACHE.get(block)
    if cached is None:
        lines = [line[dash:] if line[:dash].strip() == "" else line for line in block.splitlines()]
        loaded = yaml.load("\n".join(lines) + "\n", Loader=LOADER)
        cached = {"value": loaded[0] if isinstance(loaded, list) and loaded else loaded}
        if len(_CACHE) > _CACHE_LIMIT:
            _CACHE.clear()
        _CACHE[block] = cached
    return cached["value"]


@dataclass
class Region:
    """A top-level key: its items' text blocks, or an inline value (`pending: []`)."""

    key: str
    inline: str
    dash: int = 0
    blocks: list[str] = field(default_factory=list)


@dataclass
class QueueBlocks:
    text: str
    regions: dict[str, Region]

    def entries(self, key: str) -> list[tuple[str, object]]:
        """(block text, parsed entry) for each item of `key`."""
        region = self.regions.get(key)
        if region is None:
            return []
        return [(b, parse_block(b, region.dash)) for b in region.blocks]

    def data(self) -> dict:
        """The whole file as `yaml.safe_load` reads it (for files shaped as the writers write)."""
        out: dict = {}
        for key, region in self.regions.items():
            if region.blocks:
                out[key] = [parse_block(b, region.dash) for b in region.blocks]
            else:
                out[key] = yaml.load(f"{key}:{region.inline}\n", Loader=LOADER)[key]
        return out


def split(text: str) -> QueueBlocks:
    """Regions by top-level key; within each, one block per `- ` item at the first dash column."""
    regions: dict[str, Region] = {}
    current: Region | None = None
    block: list[str] = []

    def close() -> None:
        if current is not None and block:
            current.blocks.append("\n".join(block) + "\n")
        block.clear()

    for line in text.splitlines():
        top = _TOP.match(line)
        if top:
            close()
            current = regions[top.group(1)] = Region(top.group(1), top.group(2))
            current.dash = -1
            continue
        if current is None:
            continue
        stripped = line.lstrip(" ")
        column = len(line) - len(stripped)
        if stripped.startswith("- ") or stripped == "-":
            if current.dash == -1:
                current.dash = column
            if column == current.dash:
                close()
        if block or stripped.startswith("-"):
            block.append(line)
    close()
    for region in regions.values():
        region.dash = max(region.dash, 0)
    return QueueBlocks(text, regions)


def ids(blocks: QueueBlocks, keys: tuple[str, ...]) -> dict[str, tuple[str, int]]:
    """id -> (list, position) over `keys`, in file order."""
    out: dict[str, tuple[str, int]] = {}
    for key in keys:
        for position, (_, entry) in enumerate(blocks.entries(key)):
            if isinstance(entry, dict) and isinstance(entry.get("id"), str):
                out.setdefault(entry["id"], (key, position))
    return out


def append_pending(text: str, new_blocks: list[str]) -> str:
    """Service CI's append: the blocks at the end of `pending` (the PyYAML style, dash at 0)."""
    lines = text.splitlines()
    out: list[str] = []
    inserted = False
    index = 0
    while index < len(lines):
        line = lines[index]
        top = _TOP.match(line)
        if top and top.group(1) == "pending" and not inserted:
            rest: list[str] = []
            index += 1
            while index < len(lines) and not _TOP.match(lines[index]):
                rest.append(lines[index])
                index += 1
            if top.group(2).strip() == "[]":
                out.append("pending:")
            else:
                out.append(line)
                out += rest
            out += "".join(new_blocks).rstrip("\n").splitlines()
            inserted = True
            continue
        out.append(line)
        index += 1
    if not inserted:
        raise ValueError("the queue has no `pending:` list")
    return "\n".join(out) + "\n"
