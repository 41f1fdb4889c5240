"""Round-trip YAML for files users own: bounded, alias-free, comments kept.

A YAML bomb ("billion laughs") needs aliases to expand; a deep bomb needs
nesting. Both are refused by the composer as the document is built, before
anything could expand, and the 1 MiB cap of `read_bounded` bounds the rest.
"""

from __future__ import annotations

import io
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.composer import Composer
from ruamel.yaml.error import YAMLError
from ruamel.yaml.events import AliasEvent

from factory_assets.common.errors import InputError
from factory_assets.common.files import MAX_STATE_FILE_BYTES, atomic_write_text, read_text_bounded

MAX_DEPTH = 32  # state files are a few levels deep; anything deeper is hostile or broken


def gitops_yaml() -> YAML:
    """The one round-trip YAML configuration for GitOps files: load, dump and normalise with it."""
    yaml = YAML(typ="rt")
    yaml.preserve_quotes = True
    yaml.width = 4096  # never fold long digests or error messages
    yaml.indent(mapping=2, sequence=4, offset=2)
    return yaml


def _problem_of(exc: YAMLError) -> str:
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    where = f" at line {mark.line + 1} column {mark.column + 1}" if mark is not None else ""
    return f"not valid YAML: {problem}{where}"


class _GuardedComposer(Composer):
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


class _Refused(Exception):
    pass


def loads(text: str, path: Path | str) -> Any:
    """Parse one YAML document round-trip (CommentedMap/CommentedSeq), safely."""
    yaml = gitops_yaml()
    yaml.Composer = _GuardedComposer
    try:
        return yaml.load(text)
    except _Refused as exc:
        raise InputError(path, "-", str(exc)) from None
    except YAMLError as exc:
        raise InputError(path, "-", _problem_of(exc)) from None
    except RecursionError:
        raise InputError(path, "-", "nested too deeply") from None


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
