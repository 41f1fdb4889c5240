"""A YAML file of top-level lists as text: read fast with libyaml, written back entry by entry.

The queue files grow by one entry per release and are read on every sensor tick, so a full
round-trip parse (seconds at a thousand entries) is too slow to read them with. libyaml reads
them and gives each list entry's line range, so a writer can splice the text: an entry nobody
changed keeps its bytes, and only a changed one is edited round-trip, on its own few lines.

Two readings of the same text: YAML 1.1 (`LOADER`), as PyYAML tools write and read a file they
share, and YAML 1.2 (`YAML12_LOADER`), as the round-trip writer (ruamel) has always read the
factory's own files; the 1.2 one resolves plain scalars by ruamel's own table, written out here
so that a reader does not import ruamel (tests/test_yaml_lists.py keeps the two equal).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from factory_assets.common.errors import InputError
from factory_assets.common.gc_pause import gc_paused

MAX_DEPTH = 32  # state files are a few levels deep; anything deeper is hostile or broken
LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when present: ~10x faster
_DUMPER = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
_MERGE = "tag:yaml.org,2002:merge"
# The plain-scalar types of YAML 1.2 as ruamel resolves them (its `implicit_resolvers` for 1.2:
# core schema plus timestamps and merge keys): (tag, pattern, re flags, first characters).
_DIGITS = list("0123456789")
YAML12_RESOLVERS: list[tuple[str, str, int, list[str]]] = [
    (
        "tag:yaml.org,2002:bool",
        "^(?:true|True|TRUE|false|False|FALSE)$",
        re.VERBOSE,
        ["t", "T", "f", "F"],
    ),
    (
        "tag:yaml.org,2002:float",
        "^(?:\n         [-+]?(?:[0-9][0-9_]*)\\.[0-9_]*(?:[eE][-+]?[0-9]+)?"
        "\n        |[-+]?(?:[0-9][0-9_]*)(?:[eE][-+]?[0-9]+)"
        "\n        |[-+]?\\.[0-9_]+(?:[eE][-+][0-9]+)?"
        "\n        |[-+]?\\.(?:inf|Inf|INF)"
        "\n        |\\.(?:nan|NaN|NAN))$",
        re.VERBOSE,
        ["-", "+", *_DIGITS, "."],
    ),
    (
        "tag:yaml.org,2002:int",
        "^(?:[-+]?0b[0-1_]+"
        "\n        |[-+]?0o?[0-7_]+"
        "\n        |[-+]?[0-9_]+"
        "\n        |[-+]?0x[0-9a-fA-F_]+)$",
        re.VERBOSE,
        ["-", "+", *_DIGITS],
    ),
    ("tag:yaml.org,2002:merge", "^(?:<<)$", 0, ["<"]),
    (
        "tag:yaml.org,2002:null",
        "^(?: ~\n        |null|Null|NULL\n        | )$",
        re.VERBOSE,
        ["~", "n", "N", ""],
    ),
    (
        "tag:yaml.org,2002:timestamp",
        "^(?:[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]"
        "\n        |[0-9][0-9][0-9][0-9] -[0-9][0-9]? -[0-9][0-9]?"
        "\n        (?:[Tt]|[ \\t]+)[0-9][0-9]?"
        "\n        :[0-9][0-9] :[0-9][0-9] (?:\\.[0-9]*)?"
        "\n        (?:[ \\t]*(?:Z|[-+][0-9][0-9]?(?::[0-9][0-9])?))?)$",
        re.VERBOSE,
        _DIGITS,
    ),
]
_YAML12_RESOLVERS = [
    (tag, re.compile(pattern, flags), first) for tag, pattern, flags, first in YAML12_RESOLVERS
]


class Yaml12Loader(LOADER):
    """libyaml's parser with YAML 1.2 scalars (`on` is a string, `0777` is 777) and no
    duplicate keys: the same values as ruamel's round-trip reading of the file."""

    yaml_implicit_resolvers: dict = {}

    def construct_mapping(self, node: Any, deep: bool = False) -> dict:
        merged = isinstance(node, yaml.MappingNode) and any(
            key.tag == _MERGE for key, _ in node.value
        )
        mapping = super().construct_mapping(node, deep=deep)
        if not merged and len(mapping) < len(node.value):  # a merge may override a key
            seen: set = set()
            for key_node, _ in node.value:
                key = self.construct_object(key_node, deep=True)
                if key in seen:
                    raise yaml.constructor.ConstructorError(
                        "while constructing a mapping",
                        node.start_mark,
                        f"found duplicate key {key!r}",
                        key_node.start_mark,
                    )
                seen.add(key)
        return mapping

    def construct_yaml_int(self, node: Any) -> int:
        """1.2 integers: `0o`, `0x`, `0b` prefixes; a leading zero is still decimal."""
        text = self.construct_scalar(node).replace("_", "")
        sign = -1 if text.startswith("-") else 1
        digits = text.lstrip("+-")
        base = {"0b": 2, "0o": 8, "0x": 16}.get(digits[:2], 10)
        return sign * int(digits[2:] if base != 10 else digits, base)


for _tag, _regexp, _first in _YAML12_RESOLVERS:
    Yaml12Loader.add_implicit_resolver(_tag, _regexp, _first)
Yaml12Loader.add_constructor("tag:yaml.org,2002:int", Yaml12Loader.construct_yaml_int)
YAML12_LOADER = Yaml12Loader


class _BlockDumper(_DUMPER):
    """libyaml's emitter, quoting a string that either YAML 1.1 or 1.2 would read as
    something else: both kinds of reader get back the same values. It never writes an
    alias (the readers refuse them), even for a value two entries share."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


for _tag, _regexp, _first in _YAML12_RESOLVERS:
    _BlockDumper.add_implicit_resolver(_tag, _regexp, _first)


@dataclass(frozen=True)
class Item:
    """One list entry's lines: [start, end) of the file, its dash at column `dash`.

    `body_end` is where the entry's own content ends: the comment and blank lines from there
    to `end` are about the next entry (or the end of the list) and stay when it goes.
    """

    start: int
    end: int
    dash: int
    body_end: int = 0


@dataclass
class Region:
    """A top-level key and its lines [start, end); for a list, its entries' line ranges.

    `body_end` is the line after the key's value (its own comment lines follow).
    """

    name: str | None
    start: int
    end: int
    items: list[Item] = field(default_factory=list)
    flow: bool = False  # written `[...]` (usually `[]`)
    body_end: int = 0


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

    def body(self, item: Item) -> str:
        """The entry's own lines, without the comment lines that follow it."""
        return "".join(self.lines[item.start : item.body_end])

    def trailing(self, item: Item) -> str:
        """The comment and blank lines after the entry, up to the next one."""
        return "".join(self.lines[item.body_end : item.end])

    def dash(self, name: str) -> int:
        """The dash column of `name`'s entries (else of any list's, else 0)."""
        for candidate in (self.region(name), *self.regions):
            if candidate is not None and candidate.items:
                return candidate.items[0].dash
        return 0


def _refuse_hostile(root: Any, path: Path | str) -> None:
    """No aliases (a YAML bomb needs them) and no absurd nesting, checked before building.

    libyaml composes an alias as the very node its anchor named, so a node met twice is an
    alias; walking the composed nodes costs a fraction of a second pass over the events.
    """
    seen: set[int] = set()
    stack: list[tuple[Any, int, Any]] = [(root, 0, root)]  # (node, depth, where it is referenced)
    while stack:
        node, depth, where = stack.pop()
        if id(node) in seen:
            line = where.start_mark.line + 1 if where.start_mark else "?"
            raise InputError(path, "-", f"YAML aliases are not allowed (line {line})")
        seen.add(id(node))
        if isinstance(node, yaml.ScalarNode):
            continue
        depth += 1
        if depth > MAX_DEPTH:
            raise InputError(path, "-", f"nested deeper than {MAX_DEPTH} levels")
        if isinstance(node, yaml.SequenceNode):
            children = [(item, depth, item) for item in node.value]
        else:  # an alias value is reported on its key's line
            children = [c for k, v in node.value for c in ((k, depth, k), (v, depth, k))]
        stack.extend(reversed(children))  # in document order: the second mention is the alias


def _problem(exc: yaml.YAMLError) -> str:
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    if "maximum nesting depth" in problem:  # libyaml's own bound, met while looking ahead
        return f"nested deeper than {MAX_DEPTH} levels"
    where = f" at line {mark.line + 1} column {mark.column + 1}" if mark is not None else ""
    return f"not valid YAML: {problem}{where}"


def _content_end(node: Any) -> tuple[int, int]:
    """(line, column) just after a node's own text: a block collection ends with its last
    value (its end mark lies past any comment lines that follow), an empty value with its key."""
    while isinstance(node, (yaml.MappingNode, yaml.SequenceNode)) and not node.flow_style:
        if not node.value:
            break
        if isinstance(node, yaml.SequenceNode):
            node = node.value[-1]
            continue
        key, value = node.value[-1]
        empty = isinstance(value, yaml.ScalarNode) and value.value == "" and value.style is None
        node = key if empty else value
    return node.end_mark.line, node.end_mark.column


def _line_after(lines: list[str], node: Any) -> int:
    line, column = _content_end(node)
    return min(len(lines), line + 1 if column > 0 else line)


def _item(lines: list[str], node: Any) -> Item:
    """An entry's lines from its dash (`- id: x`, or a `-` alone on a line above) to where
    its content ends; `end` is set once the next entry's start is known."""
    line, column = node.start_mark.line, node.start_mark.column
    body_end = _line_after(lines, node)
    before = lines[line][:column].rstrip() if line < len(lines) else ""
    if before.endswith("-"):
        return Item(line, 0, len(before) - 1, body_end)
    if not before:
        above = line - 1
        while above >= 0 and not lines[above].strip():
            above -= 1
        if above >= 0 and lines[above].strip() == "-":
            return Item(above, 0, len(lines[above]) - len(lines[above].lstrip()), body_end)
    return Item(line, 0, max(0, column - 2), body_end)


def _compose(text: str, path: Path | str, loader: type) -> tuple[Any, Any]:
    """The document's root node and its data; InputError when it is not (or hostile) YAML."""
    parser = loader(text)
    try:
        # Tens of thousands of acyclic nodes and values: an automatic collection meanwhile
        # re-walks every object the process holds (a third of a read in a promotion pass).
        with gc_paused():
            node = parser.get_single_node()
            if node is None:
                return None, None
            _refuse_hostile(node, path)
            return node, parser.construct_document(node)
    except yaml.YAMLError as exc:
        raise InputError(path, "-", _problem(exc)) from None
    finally:
        parser.dispose()


def load(text: str, path: Path | str, loader: type = YAML12_LOADER) -> Any:
    """The data of a small YAML file, for a caller that only reads it (no line ranges)."""
    return _compose(text, path, loader)[1]


def read(text: str, path: Path | str, loader: type = LOADER) -> QueueText:
    """Parse the text with `loader`; InputError when it is not YAML (or is hostile YAML)."""
    if text and not text.endswith("\n"):
        text += "\n"  # so that an entry appended after the last line starts a line of its own
    node, data = _compose(text, path, loader)
    lines = text.splitlines(keepends=True)
    regions: list[Region] = []
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            region = Region(str(key.value), key.start_mark.line, len(lines))
            region.body_end = _line_after(lines, key if value.value == "" else value)
            if isinstance(value, yaml.SequenceNode):
                region.flow = bool(value.flow_style)
                if not region.flow:
                    region.items = [_item(lines, i) for i in value.value]
            regions.append(region)
        for before, after in zip(regions, regions[1:], strict=False):
            before.end = after.start
        for region in regions:
            for index, item in enumerate(region.items):
                end = region.items[index + 1].start if index + 1 < len(region.items) else region.end
                region.items[index] = Item(item.start, end, item.dash, min(item.body_end, end))
    first = regions[0].start if regions else len(lines)
    if first > 0:
        regions.insert(0, Region(None, 0, first))
    return QueueText(lines, regions, data)


def dedent(text: str, columns: int) -> str:
    if not columns:
        return text
    pad = " " * columns
    return "".join(
        line[columns:] if line.startswith(pad) else line for line in text.splitlines(keepends=True)
    )


def indent(text: str, columns: int) -> str:
    if not columns:
        return text
    pad = " " * columns
    return "".join(pad + line if line.strip() else line for line in text.splitlines(keepends=True))


def block_items(items: list[dict], dash: int) -> str:
    """New list entries as block YAML with their dash at column `dash` (libyaml's emitter:
    a thousand entries in milliseconds, where a round-trip dump takes seconds)."""
    if not items:
        return ""
    text = yaml.dump(
        items,
        Dumper=_BlockDumper,
        default_flow_style=False,
        sort_keys=False,
        allow_unicode=True,
        width=4096,
    )
    return indent(text, dash)
