"""The four-list queue file as text, written back entry by entry (read by `yaml_lists`).

A write splices the text: an entry nobody changed keeps its bytes, a changed one is edited
round-trip on its own few lines, a moved one goes to the end of its new list. The file is
read as YAML 1.1, as the repository's PyYAML tools write and read it (so a SHA like
`1234e56` stays a string).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from factory_assets.common import roundtrip_yaml
from factory_assets.common.yaml_lists import QueueText, dedent, indent

if TYPE_CHECKING:  # ruamel is imported where an entry is written (a reader never needs it)
    from ruamel.yaml.comments import CommentedMap, CommentedSeq

LISTS = ("pending", "promoted", "failed", "superseded")
WIDTH = 80  # PyYAML's line width: long notes wrap as the repository's writers wrap them


def _dump_items(items: CommentedSeq) -> str:
    return roundtrip_yaml.dumps_like(items, "x:\n- y\n", width=WIDTH)


def edit_block(block: str, dash: int, change: Callable[[CommentedMap], Any], where: str) -> str:
    """One entry's lines, changed round-trip (its other lines keep their bytes)."""
    items = roundtrip_yaml.loads(dedent(block, dash), where)
    change(items[0])
    return indent(_dump_items(items), dash)


def new_block(entry: CommentedMap, dash: int) -> str:
    from ruamel.yaml.comments import CommentedSeq

    items = CommentedSeq([entry])
    return indent(_dump_items(items), dash)


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
