"""Round-trip YAML for files users own: bounded, alias-free, comments kept.

A YAML bomb ("billion laughs") needs aliases to expand; a deep bomb needs
nesting. Both are refused from the event stream, before anything is built,
and the 1 MiB cap of `read_bounded` bounds everything else.
"""

from __future__ import annotations

import io
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError
from ruamel.yaml.events import AliasEvent, CollectionEndEvent, CollectionStartEvent

from factory_assets.common.errors import InputError
from factory_assets.common.files import MAX_STATE_FILE_BYTES, atomic_write_text, read_text_bounded

MAX_DEPTH = 32  # state files are a few levels deep; anything deeper is hostile or broken


def _yaml() -> YAML:
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


def check_events(text: str, path: Path | str) -> None:
    """Refuse aliases and deep nesting before composing any node."""
    depth = 0
    try:
        for event in _yaml().parse(io.StringIO(text)):
            if isinstance(event, AliasEvent):
                line = event.start_mark.line + 1 if event.start_mark else "?"
                raise InputError(path, "-", f"YAML aliases are not allowed (line {line})")
            if isinstance(event, CollectionStartEvent):
                depth += 1
                if depth > MAX_DEPTH:
                    raise InputError(path, "-", f"nested deeper than {MAX_DEPTH} levels")
            elif isinstance(event, CollectionEndEvent):
                depth -= 1
    except YAMLError as exc:
        raise InputError(path, "-", _problem_of(exc)) from None


def loads(text: str, path: Path | str) -> Any:
    """Parse one YAML document round-trip (CommentedMap/CommentedSeq), safely."""
    check_events(text, path)
    try:
        return _yaml().load(text)
    except YAMLError as exc:
        raise InputError(path, "-", _problem_of(exc)) from None
    except RecursionError:
        raise InputError(path, "-", "nested too deeply") from None


def load_file(path: Path, *, field: str = "-") -> Any:
    """Read (at most 1 MiB) and parse a YAML file the user may have edited."""
    return loads(read_text_bounded(path, field=field), path)


def dumps(data: Any) -> str:
    out = io.StringIO()
    _yaml().dump(data, out)
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
