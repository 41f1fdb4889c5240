"""The engine's shape, held by scans of its source: one code path for both layouts, small steps.

- Only `layout/` (which file holds the queue and the pins, in what format) and `pins/` (how a
  lane's pin is read, written and proven) may tell the two layouts apart. Everything else asks
  them: a queue codec (`release.queue_codec`) or a pin target (`pins.target`), never "which
  format is this" or "which kind of pin is this".
- No function in `promotion/`, `pins/` or `layout/` is longer than 60 lines: a step that grows
  past that is two steps.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PRODUCT = ("factory_assets", "resources", "sensors")
# Where the layouts may be told apart: the seam itself.
SEAM = ("factory_assets/layout/", "factory_assets/pins/")
# The names of the queue formats and pin kinds, as factory.yaml and Target spell them.
LAYOUT_WORDS = frozenset({"releases", "four-lists", "pin-files", "overlays", "pin-file", "overlay"})
# What says which format or kind a thing is (reading one outside the seam is a branch on it).
LAYOUT_ATTRIBUTES = frozenset({"queue_format", "pin_kind", "keeps_history", "format"})
# The seam's own types: an isinstance() on them outside the seam is a branch on the kind.
SEAM_TYPES = frozenset(
    {
        "OverlayRequest",
        "OverlayPin",
        "OverlayRefused",
        "PinRequest",
        "PinFileTarget",
        "OverlayTarget",
    }
)
# Branches that are not yet behind the seam, each named with where it goes (emptied as the
# engine moves behind it; a new one fails the test below).
NOT_YET: dict[str, int] = {}
MAX_LINES = 60
ENGINE = ("factory_assets/promotion", "factory_assets/pins", "factory_assets/layout")
TOO_LONG_YET: dict[str, int] = {}


def product_files(*roots: str) -> list[Path]:
    return sorted(p for root in roots for p in (ROOT / root).rglob("*.py"))


def _is_word(node: ast.AST) -> bool:
    return isinstance(node, ast.Constant) and node.value in LAYOUT_WORDS


def _words_in(node: ast.AST) -> bool:
    """A layout word, or a tuple/list/set of them (`x in ("overlays", ...)`)."""
    if isinstance(node, (ast.Tuple, ast.List, ast.Set)):
        return any(_is_word(item) for item in node.elts)
    return _is_word(node)


def layout_branches(tree: ast.AST) -> list[tuple[int, str]]:
    """Where a module compares a format or a kind, reads what says which one it is, or asks
    isinstance() of the seam's types: (line, what)."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Compare):
            operands = [node.left, *node.comparators]
            if any(_words_in(operand) for operand in operands):
                found.append((node.lineno, ast.unparse(node)))
        elif isinstance(node, ast.Attribute) and node.attr in LAYOUT_ATTRIBUTES:
            if node.attr != "format" or _compared(tree, node):
                found.append((node.lineno, ast.unparse(node)))
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id == "isinstance"
            and len(node.args) == 2
            and any(name in SEAM_TYPES for name in _names(node.args[1]))
        ):
            found.append((node.lineno, ast.unparse(node)))
    lines = {line: what for line, what in sorted(found, reverse=True)}  # one per line
    return sorted(lines.items())


def _compared(tree: ast.AST, attribute: ast.Attribute) -> bool:
    """`x.format` only counts where it is compared (args.format of a CLI is a choice of output)."""
    return any(
        isinstance(node, ast.Compare) and attribute in (node.left, *node.comparators)
        for node in ast.walk(tree)
    )


def _names(node: ast.AST) -> list[str]:
    if isinstance(node, ast.Tuple):
        return [name for item in node.elts for name in _names(item)]
    if isinstance(node, ast.Name):
        return [node.id]
    if isinstance(node, ast.Attribute):
        return [node.attr]
    return []


def test_only_layout_and_pins_tell_the_layouts_apart():
    """Outside `layout/` and `pins/`, nothing compares a queue format or a pin kind."""
    counts: dict[str, list[str]] = {}
    for path in product_files(*PRODUCT):
        rel = path.relative_to(ROOT).as_posix()
        if rel.startswith(SEAM):
            continue
        for line, what in layout_branches(ast.parse(path.read_text())):
            counts.setdefault(rel, []).append(f"{rel}:{line}: {what}")
    new = {rel: lines for rel, lines in counts.items() if len(lines) > NOT_YET.get(rel, 0)}
    assert not new, "ask the queue codec or the pin target instead:\n" + "\n".join(
        line for lines in new.values() for line in lines
    )
    gone = {rel for rel, n in NOT_YET.items() if len(counts.get(rel, [])) < n}
    assert not gone, f"behind the seam now: lower NOT_YET for {sorted(gone)}"


def test_the_scan_finds_each_way_of_telling_the_layouts_apart():
    """The scan above would see a branch written any of the ways the engine used to write one."""
    source = "\n".join(
        [
            'if layout.queue_format == "four-lists": pass',
            'if target.kind != "overlay": pass',
            'if kind in ("pin-files", "overlays"): pass',
            "if doc.keeps_history: pass",
            "if load_layout(repo).pin_kind(env): pass",
            "if isinstance(pinned, OverlayRequest): pass",
            'if doc.format == "x": pass',
            'print(args.format, "overlays")',  # neither a comparison nor a layout attribute
        ]
    )
    assert [line for line, _ in layout_branches(ast.parse(source))] == [1, 2, 3, 4, 5, 6, 7]


def long_functions(*roots: str) -> dict[str, int]:
    """`path:function` -> its length in lines, for every function over MAX_LINES."""
    found = {}
    for path in product_files(*roots):
        rel = path.relative_to(ROOT).as_posix()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                length = node.end_lineno - node.lineno + 1
                if length > MAX_LINES:
                    found[f"{rel}:{node.name}"] = length
    return found


def test_no_function_in_the_engine_is_over_60_lines():
    found = long_functions(*ENGINE)
    grown = {name: n for name, n in found.items() if n > TOO_LONG_YET.get(name, MAX_LINES)}
    assert not grown, f"split these into steps of at most {MAX_LINES} lines: {grown}"
    shrunk = {name for name, n in TOO_LONG_YET.items() if found.get(name, 0) < n}
    assert not shrunk, f"shorter now: lower TOO_LONG_YET for {sorted(shrunk)}"
