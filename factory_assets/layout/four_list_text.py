"""The four-list queue file as text: read fast with libyaml, written back entry by entry.

The file grows by one entry per release and is read on every sensor tick, so a full
round-trip YAML parse (seconds at a thousand entries) is too slow. libyaml reads it, and
gives each entry's line range; a write splices the text: an entry nobody changed keeps its
bytes, a changed one is edited round-trip on its own few lines, a moved one goes to the end
of its new list. It reads YAML 1.1, as the repository's PyYAML tools write and read it (so
a SHA like `1234e56` stays a string).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from ruamel.yaml.comments import CommentedMap, CommentedSeq

from factory_assets.common import roundtrip_yaml
from factory_assets.common.errors import InputError

LISTS = ("pending", "promoted", "failed", "superseded")
WIDTH = 80  # PyYAML's line width: long notes wrap as the repository's writers wrap them
MAX_DEPTH = 32
_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@dataclass(frozen=True)
class Item:
    """One entry's lines: [start, end) of the file, its dash at column `dash`."""

    start: int
    end: int
    dash: int


@dataclass
class Region:
    """A top-level key and its lines [start, end); for a list, its entries' line ranges."""

    name: str | None
    start: int
    end: int
    items: list[Item] = field(default_factory=list)
    flow: bool = False  # written `[...]` (usually `[]`)


@dataclass
class QueueText:
    """The file's lines, its top-level regions, and the data libyaml read."""

    lines: list[str]
    regions: list[Region]
    data: Any

    def region(self, name: str) -> Region | None:
        return next((r for r in self.regions if r.name == name), None)

    def block(self, item: Item) -> str:
        return "".join(self.lines[item.start : item.end])

    def dash(self, name: str) -> int:
        """The dash column of `name`'s entries (else of any list's, else 0)."""
        for candidate in (self.region(name), *self.regions):
            if candidate is not None and candidate.items:
                return candidate.items[0].dash
        return 0


def _refuse_hostile(text: str, path: Path | str) -> None:
    """No aliases (a YAML bomb needs them) and no absurd nesting, checked before building."""
    depth = 0
    try:
        for event in yaml.parse(text, Loader=_Loader):
            if isinstance(event, yaml.AliasEvent):
                line = event.start_mark.line + 1 if event.start_mark else "?"
                raise InputError(path, "-", f"YAML aliases are not allowed (line {line})")
            if isinstance(event, (yaml.MappingStartEvent, yaml.SequenceStartEvent)):
                depth += 1
                if depth > MAX_DEPTH:
                    raise InputError(path, "-", f"nested deeper than {MAX_DEPTH} levels")
            elif isinstance(event, (yaml.MappingEndEvent, yaml.SequenceEndEvent)):
                depth -= 1
    except yaml.YAMLError as exc:
        raise InputError(path, "-", _problem(exc)) from None


def _problem(exc: yaml.YAMLError) -> str:
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    where = f" at line {mark.line + 1} column {mark.column + 1}" if mark is not None else ""
    return f"not valid YAML: {problem}{where}"


def read(text: str, path: Path | str) -> QueueText:
    """Parse the queue text; InputError when it is not YAML (or is hostile YAML)."""
    if text and not text.endswith("\n"):
        text += "\n"  # so that an entry appended after the last line starts a line of its own
    _refuse_hostile(text, path)
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else None
    except yaml.YAMLError as exc:
        raise InputError(path, "-", _problem(exc)) from None
    finally:
        loader.dispose()
    lines = text.splitlines(keepends=True)
    regions: list[Region] = []
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            region = Region(str(key.value), key.start_mark.line, len(lines))
            if isinstance(value, yaml.SequenceNode):
                region.flow = bool(value.flow_style)
                if not region.flow:
                    region.items = [
                        Item(i.start_mark.line, 0, max(0, i.start_mark.column - 2))
                        for i in value.value
                    ]
            regions.append(region)
        for before, after in zip(regions, regions[1:], strict=False):
            before.end = after.start
        for region in regions:
            for index, item in enumerate(region.items):
                end = region.items[index + 1].start if index + 1 < len(region.items) else region.end
                region.items[index] = Item(item.start, end, item.dash)
    first = regions[0].start if regions else len(lines)
    if first > 0:
        regions.insert(0, Region(None, 0, first))
    return QueueText(lines, regions, data)


def _dedent(text: str, columns: int) -> str:
    if not columns:
        return text
    pad = " " * columns
    return "".join(
        line[columns:] if line.startswith(pad) else line for line in text.splitlines(keepends=True)
    )


def _indent(text: str, columns: int) -> str:
    if not columns:
        return text
    pad = " " * columns
    return "".join(pad + line if line.strip() else line for line in text.splitlines(keepends=True))


def _dump_items(items: CommentedSeq) -> str:
    return roundtrip_yaml.dumps_like(items, "x:\n- y\n", width=WIDTH)


def edit_block(block: str, dash: int, change: Callable[[CommentedMap], Any], where: str) -> str:
    """One entry's lines, changed round-trip (its other lines keep their bytes)."""
    items = roundtrip_yaml.loads(_dedent(block, dash), where)
    change(items[0])
    return _indent(_dump_items(items), dash)


def new_block(entry: CommentedMap, dash: int) -> str:
    items = CommentedSeq([entry])
    return _indent(_dump_items(items), dash)


def compose(qt: QueueText, blocks: dict[str, list[str]], changed: set[str]) -> str:
    """The file with each list in `changed` rewritten from `blocks`; the rest as it was."""
    out: list[str] = []
    for region in qt.regions:
        text = "".join(qt.lines[region.start : region.end])
        if region.name not in changed:
            out.append(text)
            continue
        items = blocks[region.name]
        if not items:
            trailing = "".join(qt.lines[region.items[-1].end : region.end]) if region.items else ""
            out.append(f"{region.name}: []\n" + trailing)
            continue
        if region.flow or not region.items:
            head = f"{region.name}:\n"
            rest = "".join(qt.lines[region.start + 1 : region.end])
        else:
            head = "".join(qt.lines[region.start : region.items[0].start])
            rest = ""
        out.append(head + "".join(items) + rest)
    for name in LISTS:  # a list the file lacks is written after the others
        if qt.region(name) is None:
            items = blocks.get(name, [])
            out.append(f"{name}:\n" + "".join(items) if items else f"{name}: []\n")
    text = "".join(out)
    return text if text.endswith("\n") or not text else text + "\n"


EMPTY_TEXT = "".join(f"{name}: []\n" for name in LISTS)
