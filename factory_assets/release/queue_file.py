"""Load and save `release/queue.yaml`, round-trip: comments and hand formatting survive.

Structural problems (not a mapping, `releases` not a list, an entry without an
id, duplicate ids) reject the whole file: nothing can be trusted. A single
entry with a bad field becomes an `InvalidEntry` that the pass marks failed,
so one typo never blocks every other service.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.tokens import CommentToken

from factory_assets.common import roundtrip_yaml
from factory_assets.common.clock import parse_rfc3339, rfc3339
from factory_assets.common.errors import InputError
from factory_assets.layout import four_lists
from factory_assets.layout.config import load_layout
from factory_assets.release.model import STATES, InvalidEntry, ReleaseEntry, ReleaseQueue

QUEUE_FILE = "release/queue.yaml"
TOP_LEVEL_KEYS = ("releases",)
# The order new entries are written in; existing entries keep their own order.
FIELD_ORDER = tuple(ReleaseEntry.model_fields)


def queue_relpath(repo: Path) -> str:
    """The queue file of this repository (factory.yaml `queue.path`, else release/queue.yaml)."""
    return load_layout(repo).queue_path


def queue_path(repo: Path) -> Path:
    return repo / queue_relpath(repo)


@dataclass
class QueueDocument:
    """The parsed queue plus the YAML it came from, so that saving edits in place."""

    path: Path
    data: CommentedMap
    queue: ReleaseQueue
    raw_ids: list[str | None] = field(default_factory=list)  # per raw item: its id if it parsed
    format: str = "releases"
    slots: list[four_lists.Slot] = field(default_factory=list)  # four-lists: where each item sits
    text: str = ""  # as read: the four-list writer keeps its list style
    parsed: Any = None  # four-lists: the text's regions and entry line ranges

    @property
    def keeps_history(self) -> bool:
        """The four-list queue never drops an entry (no compaction)."""
        return self.format == "four-lists"


def _plain(value: Any) -> Any:
    """ruamel containers and timestamps to what pydantic validates."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return roundtrip_yaml.as_utc(value)


def _message(err: dict) -> str:
    msg = str(err["msg"])
    for prefix in ("Value error, ", "Assertion failed, "):
        if msg.startswith(prefix):
            msg = msg[len(prefix) :]
    if err.get("type") == "extra_forbidden":
        msg = "unknown field (typo?)"
    return msg


def _structure(data: Any, path: Path) -> CommentedSeq:
    if data is None:
        return CommentedSeq()
    if not isinstance(data, dict):
        raise InputError(
            path,
            "-",
            f"expected a mapping with a `releases:` list, found {roundtrip_yaml.kind_of(data)}",
        )
    unknown = [str(k) for k in data if k not in TOP_LEVEL_KEYS]
    if unknown:
        raise InputError(path, unknown[0], "unknown top-level key (expected only `releases`)")
    releases = data.get("releases")
    if releases is None:
        return CommentedSeq()
    if not isinstance(releases, list):
        raise InputError(
            path,
            "releases",
            f"expected a list of entries, found {roundtrip_yaml.kind_of(releases)}",
        )
    return releases


def parse_queue(data: Any, path: Path) -> tuple[ReleaseQueue, list[str | None]]:
    """Validate the queue's structure and each entry; see the module docstring."""
    releases = _structure(data, path)
    entries: list[ReleaseEntry] = []
    invalid: list[InvalidEntry] = []
    raw_ids: list[str | None] = []
    seen: dict[str, int] = {}
    for position, raw in enumerate(releases):
        where = f"releases[{position}]"
        if not isinstance(raw, dict):
            raise InputError(
                path, where, f"expected a mapping, found {roundtrip_yaml.kind_of(raw)}"
            )
        release_id = raw.get("id")
        if not isinstance(release_id, str) or not release_id:
            raise InputError(path, f"{where}.id", "missing: every entry needs a string id")
        if release_id in seen:
            raise InputError(
                path,
                f"{where}.id",
                f"duplicate id {release_id!r} (also releases[{seen[release_id]}])",
            )
        seen[release_id] = position
        try:
            entries.append(ReleaseEntry.model_validate(_plain(raw)))
            raw_ids.append(release_id)
        except ValidationError as exc:
            err = exc.errors(include_url=False)[0]
            loc = ".".join(str(p) for p in err["loc"])
            state = raw.get("state")
            invalid.append(
                InvalidEntry(
                    position=position,
                    id=release_id,
                    service=raw.get("service") if isinstance(raw.get("service"), str) else None,
                    state=state if state in STATES else None,
                    field=f"{where} (id {release_id})" + (f".{loc}" if loc else ""),
                    problem=_message(err),
                )
            )
            raw_ids.append(None)
    return ReleaseQueue(entries=tuple(entries), invalid=tuple(invalid)), raw_ids


def load_queue(repo: Path) -> QueueDocument:
    """Read the queue in the repository's format (a missing file is an empty queue)."""
    layout = load_layout(repo)
    path = Path(repo) / layout.queue_path
    if layout.queue_format == "four-lists":
        return _load_four_lists(path)
    if not path.exists():
        data = CommentedMap()
        data["releases"] = CommentedSeq()
        return QueueDocument(path=path, data=data, queue=ReleaseQueue(), raw_ids=[])
    data = roundtrip_yaml.load_file(path)
    queue, raw_ids = parse_queue(data, path)
    if data is None:
        data = CommentedMap()
    if data.get("releases") is None:
        data["releases"] = CommentedSeq()
    return QueueDocument(path=path, data=data, queue=queue, raw_ids=raw_ids)


def _load_four_lists(path: Path) -> QueueDocument:
    text = roundtrip_yaml.read_text(path) if path.exists() else four_lists.EMPTY_TEXT
    parsed = four_lists.read(text, path)
    queue, slots = four_lists.parse(parsed.data, path)
    return QueueDocument(
        path, parsed.data, queue, format="four-lists", slots=slots, text=text, parsed=parsed
    )


def _yaml_value(value: Any) -> Any:
    if isinstance(value, datetime):
        return rfc3339(value)
    return value


def _same(old: Any, new: Any) -> bool:
    """Equal in meaning: keeps the user's quoting and timestamp style when nothing changed."""
    old = roundtrip_yaml.as_utc(old)
    if isinstance(old, datetime):
        return isinstance(new, str) and rfc3339(old) == new
    if isinstance(old, bool) != isinstance(new, bool):
        return False
    if _timestamp_like(old) and _timestamp_like(new) and old != new:
        # A quoted timestamp stays a string: '...:00Z' and '...:00.000000Z' are one moment.
        try:
            return parse_rfc3339(old) == parse_rfc3339(new)
        except ValueError:
            return False
    return old == new


def _timestamp_like(value: Any) -> bool:
    return isinstance(value, str) and "T" in value and value.endswith("Z")


def sync_entry(target: CommentedMap, entry: ReleaseEntry) -> CommentedMap:
    """Write the entry's fields into its YAML mapping, touching only what changed.

    A field a hand-written entry leaves out stays out while it keeps its default value: a
    rewrite must not add lines to entries nobody changed.
    """
    values = entry.model_dump()
    written = len(target) > 0
    for name in FIELD_ORDER:
        value = _yaml_value(values[name])
        if value is None:
            if name in target:
                del target[name]
            continue
        if name in target:
            if not _same(target[name], value):
                target[name] = value
            continue
        if written and values[name] == ReleaseEntry.model_fields[name].default:
            continue
        target.insert(_insert_position(target, name), name, value)
    return target


def _insert_position(target: CommentedMap, name: str) -> int:
    """Right after the nearest earlier field that is present, so entries read in a stable order."""
    earlier = FIELD_ORDER[: FIELD_ORDER.index(name)]
    keys = list(target)
    for index in range(len(keys) - 1, -1, -1):
        if keys[index] in earlier:
            return index + 1
    return 0 if keys and keys[0] not in FIELD_ORDER else len(keys)


def _keep_comments_after(releases: CommentedSeq, position: int) -> None:
    """Move the comment lines that follow entry `position` to where they stay put when it goes.

    ruamel keeps a comment written above an entry on the last line of the entry before it:
    compacting that earlier entry would silently drop a note about the next one.
    """
    entry = releases[position]
    if not isinstance(entry, CommentedMap) or not entry:
        return
    slot = entry.ca.items.get(list(entry)[-1])
    token = slot[2] if slot and len(slot) > 2 else None
    if token is None:
        return
    _, _, lines = token.value.partition("\n")  # what follows the entry's own last line
    if not lines.strip():
        return
    if position > 0:
        before = releases[position - 1]
        last = before.ca.items.setdefault(list(before)[-1], [None, None, None, None])
        if last[2] is None:
            last[2] = CommentToken("\n" + lines, token.start_mark)
        else:
            text = last[2].value
            last[2].value = text + ("" if text.endswith("\n") else "\n") + lines
        return
    if releases.ca.comment is None:
        releases.ca.comment = [None, []]
    if releases.ca.comment[1] is None:
        releases.ca.comment[1] = []
    releases.ca.comment[1].append(CommentToken(lines.lstrip(" "), token.start_mark))


def render_queue(
    doc: QueueDocument, queue: ReleaseQueue, invalid_updates: dict[int, dict] | None = None
) -> CommentedMap:
    """Apply `queue` (and updates to unparsable entries, by position) onto the YAML."""
    releases: CommentedSeq = doc.data["releases"]
    wanted = {e.id: e for e in queue.entries}
    known = {rid for rid in doc.raw_ids if rid}
    drop: list[int] = []
    for position, release_id in enumerate(doc.raw_ids):
        if release_id is None:
            for key, value in (invalid_updates or {}).get(position, {}).items():
                releases[position][key] = _yaml_value(value)
        elif release_id in wanted:
            sync_entry(releases[position], wanted[release_id])
        else:
            drop.append(position)
    for position in reversed(drop):
        _keep_comments_after(releases, position)
        del releases[position]
    for entry in queue.entries:
        if entry.id not in known:
            releases.append(sync_entry(CommentedMap(), entry))
    return doc.data


def save_queue(
    doc: QueueDocument, queue: ReleaseQueue, invalid_updates: dict[int, dict] | None = None
) -> None:
    """Write the queue atomically; a reload must give back exactly `queue`."""
    if doc.format == "four-lists":
        _save_four_lists(doc, queue, invalid_updates)
        return
    data = render_queue(doc, queue, invalid_updates)
    doc.path.parent.mkdir(parents=True, exist_ok=True)
    text = roundtrip_yaml.dumps(data)
    reparsed, _ = parse_queue(data, doc.path)  # validate what is written (a YAML re-parse is slow)
    back = {e.id: e for e in reparsed.entries}
    if any(back.get(e.id) != e for e in queue.entries):
        # A bug guard: never write a queue that reads back different from what was meant.
        raise RuntimeError(f"{doc.path}: rendered queue does not read back the same")
    roundtrip_yaml.write_text(doc.path, text)


def _save_four_lists(
    doc: QueueDocument, queue: ReleaseQueue, invalid_updates: dict[int, dict] | None
) -> None:
    text = four_lists.render(doc.parsed, doc.slots, doc.queue, queue, doc.path, invalid_updates)
    reparsed, _ = four_lists.parse(four_lists.read(text, doc.path).data, doc.path)
    back = {e.id: e for e in reparsed.entries}
    if any(back.get(e.id) != four_lists.comparable(e) for e in queue.entries):
        raise RuntimeError(f"{doc.path}: rendered queue does not read back the same")
    doc.path.parent.mkdir(parents=True, exist_ok=True)
    roundtrip_yaml.write_text(doc.path, text)
