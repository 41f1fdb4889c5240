"""Round-trip YAML for files users own: bounded, alias-free, comments kept.

A YAML bomb ("billion laughs") needs aliases to expand; a deep bomb needs
nesting. Both are refused by the composer as the document is built, before
anything could expand, and the 1 MiB cap of `read_bounded` bounds the rest.

ruamel is imported by the functions that use it: a caller that only reads a file
(`loads_for_reading`) loads libyaml alone, a fraction of a command's start-up.
"""

from __future__ import annotations

import io
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from factory_assets.common.errors import InputError
from factory_assets.common.files import MAX_STATE_FILE_BYTES, atomic_write_text, read_text_bounded

if TYPE_CHECKING:
    from ruamel.yaml import YAML
    from ruamel.yaml.error import YAMLError

MAX_DEPTH = 32  # state files are a few levels deep; anything deeper is hostile or broken


def gitops_yaml(*, sequence: int = 4, offset: int = 2, width: int = 4096) -> YAML:
    """The one round-trip YAML configuration for GitOps files: load, dump and normalise with it."""
    from ruamel.yaml import YAML

    yaml = YAML(typ="rt")
    yaml.preserve_quotes = True
    yaml.width = width  # by default never fold long digests or error messages
    yaml.indent(mapping=2, sequence=sequence, offset=offset)
    return yaml


def sequence_style(text: str) -> tuple[int, int]:
    """(sequence indent, dash offset) of the first block list item under a key in `text`.

    `key:` then `- item` at the key's column is PyYAML's style (2, 0); `  - item` is the
    hand-written style (4, 2). Keeping the file's own style keeps a diff to what changed.
    """
    lines = text.splitlines()
    for index, line in enumerate(lines[:-1]):
        stripped = line.rstrip()
        if not stripped.endswith(":") or stripped.lstrip().startswith(("#", "-")):
            continue
        key_column = len(line) - len(line.lstrip())
        for following in lines[index + 1 :]:
            if not following.strip() or following.lstrip().startswith("#"):
                continue
            if following.lstrip().startswith("- "):
                dash = len(following) - len(following.lstrip()) - key_column
                if dash >= 0:
                    return dash + 2, dash
            break
    return 4, 2


@cache
def _pyyaml_wrap_emitter() -> type:
    """ruamel's emitter, wrapping plain scalars as PyYAML's `safe_dump` does (made on first use)."""
    from ruamel.yaml.emitter import Emitter

    class PyYAMLWrapEmitter(Emitter):
        """Wraps plain scalars as PyYAML's `safe_dump` does: at a space once past the width.

        ruamel also moves a long word to a line of its own; PyYAML never does, and the files
        this is for are written by PyYAML tools too.
        """

        def write_plain(self, text: Any, split: Any = True) -> None:
            if self.root_context:
                self.open_ended = True
            if not text:
                return
            if not self.whitespace:
                self.column += 1
                self.stream.write(" ")
            self.whitespace = False
            self.indention = False
            spaces = breaks = False
            start = end = 0
            while end <= len(text):
                ch = text[end] if end < len(text) else None
                if spaces:
                    if ch != " ":
                        if start + 1 == end and self.column > self.best_width and split:
                            self.write_indent()
                            self.whitespace = False
                            self.indention = False
                        else:
                            self.column += end - start
                            self.stream.write(text[start:end])
                        start = end
                elif breaks:
                    if ch not in "\n\x85\u2028\u2029":
                        if text[start] == "\n":
                            self.write_line_break()
                        for br in text[start:end]:
                            self.write_line_break(None if br == "\n" else br)
                        self.write_indent()
                        self.whitespace = False
                        self.indention = False
                        start = end
                elif ch is None or ch in " \n\x85\u2028\u2029":
                    self.column += end - start
                    self.stream.write(text[start:end])
                    start = end
                if ch is not None:
                    spaces = ch == " "
                    breaks = ch in "\n\x85\u2028\u2029"
                end += 1

    return PyYAMLWrapEmitter


def dumps_like(data: Any, original: str, *, width: int = 4096) -> str:
    """Dump `data` in the list style `original` was written in (see `sequence_style`).

    A `width` below the default wraps long multi-word strings as PyYAML's `safe_dump` does,
    so files that PyYAML writers share keep their shape.
    """
    sequence, offset = sequence_style(original)
    out = io.StringIO()
    yaml = gitops_yaml(sequence=sequence, offset=offset, width=width)
    if width < 4096:
        yaml.Emitter = _pyyaml_wrap_emitter()
    yaml.dump(data, out)
    return out.getvalue()


def read_text(path: Path, *, field: str = "-") -> str:
    """A state file's text (at most 1 MiB, UTF-8)."""
    return read_text_bounded(path, field=field)


def _problem_of(exc: YAMLError) -> str:
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    where = f" at line {mark.line + 1} column {mark.column + 1}" if mark is not None else ""
    return f"not valid YAML: {problem}{where}"


@cache
def _guarded_composer() -> type:
    """ruamel's round-trip composer, refusing aliases and deep nesting (made on first use)."""
    from ruamel.yaml.composer import Composer
    from ruamel.yaml.events import AliasEvent

    class GuardedComposer(Composer):
        """The round-trip composer, refusing aliases (bombs) and deep nesting as it builds nodes.

        Checking here, in the one parse that builds the document, costs nothing extra; the
        1 MiB cap bounds the rest.
        """

        def compose_node(self, parent: Any, index: Any) -> Any:
            if self.parser.check_event(AliasEvent):
                event = self.parser.peek_event()
                line = event.start_mark.line + 1 if event.start_mark else "?"
                raise _Refused(f"YAML aliases are not allowed (line {line})")
            if self.depth >= MAX_DEPTH:
                raise _Refused(f"nested deeper than {MAX_DEPTH} levels")
            return super().compose_node(parent, index)

    return GuardedComposer


class _Refused(Exception):
    pass


def loads(text: str, path: Path | str) -> Any:
    """Parse one YAML document round-trip (CommentedMap/CommentedSeq), safely."""
    from ruamel.yaml.error import YAMLError

    yaml = gitops_yaml()
    yaml.Composer = _guarded_composer()
    try:
        return yaml.load(text)
    except _Refused as exc:
        raise InputError(path, "-", str(exc)) from None
    except YAMLError as exc:
        raise InputError(path, "-", _problem_of(exc)) from None
    except RecursionError:
        raise InputError(path, "-", "nested too deeply") from None


def loads_for_reading(text: str, path: Path | str) -> Any:
    """The values of one YAML document a caller only reads, never writes back: libyaml reads
    it (ten times faster than the round trip, and ruamel is not imported), with the round
    trip's YAML 1.2 scalars; a document libyaml refuses is read round-trip, so that what is
    refused, and how the refusal reads, stays `loads`'s. Mappings are plain dicts."""
    from factory_assets.common import yaml_lists

    try:
        return yaml_lists.load(text, path)
    except InputError:
        return loads(text, path)


def load_file_for_reading(path: Path, *, field: str = "-") -> Any:
    """`loads_for_reading` of a file (at most 1 MiB) the user may have edited."""
    return loads_for_reading(read_text_bounded(path, field=field), path)


def load_file(path: Path, *, field: str = "-") -> Any:
    """Read (at most 1 MiB) and parse a YAML file the user may have edited."""
    return loads(read_text_bounded(path, field=field), path)


def dumps(data: Any) -> str:
    out = io.StringIO()
    gitops_yaml().dump(data, out)
    return out.getvalue()


def write_file(path: Path, data: Any) -> str:
    """Dump and write atomically, refusing to produce a file over the 1 MiB cap."""
    return write_text(path, dumps(data))


def write_text(path: Path, text: str) -> str:
    """Write already-rendered YAML atomically, refusing anything over the 1 MiB cap."""
    size = len(text.encode("utf-8"))
    if size > MAX_STATE_FILE_BYTES:
        raise InputError(
            path, "-", f"would be {size} bytes, over the {MAX_STATE_FILE_BYTES}-byte limit"
        )
    atomic_write_text(path, text)
    return text


def kind_of(value: Any) -> str:
    """What a YAML value is, for "expected ..., found ..." messages."""
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return f"a {type(value).__name__} ({str(value)[:40]!r})"


def plain(value: Any) -> Any:
    """Loaded YAML as plain dicts and lists with string keys (to compare or validate it)."""
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    return value


def as_utc(value: Any) -> Any:
    """ruamel parses unquoted timestamps into datetimes: normalize them to aware UTC."""
    if isinstance(value, datetime):
        moment = datetime(
            value.year,
            value.month,
            value.day,
            value.hour,
            value.minute,
            value.second,
            value.microsecond,
            tzinfo=value.tzinfo or UTC,
        )
        return moment.astimezone(UTC)
    return value
