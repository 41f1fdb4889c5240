"""The factory's own queue format: a `releases:` list in `release/queue.yaml`.

The file is read with libyaml (YAML 1.2, as ruamel reads it) and written back by splicing
its text (`common.yaml_lists`): an entry nobody changed keeps its bytes, a changed one is
edited round-trip on its own lines, new ones are appended. A sensor tick that requests a
thousand releases, or a pass over a queue holding a month of them, does well under a
second of YAML work, where a round trip of the whole file took seconds.

Structural problems (not a mapping, `releases` not a list, an entry without an
id, duplicate ids) reject the whole file: nothing can be trusted. A single
entry with a bad field becomes an `InvalidEntry` that the pass marks failed,
so one typo never blocks every other service.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from factory_assets.common import roundtrip_yaml, yaml_lists
from factory_assets.common.clock import parse_rfc3339, rfc3339, utc_now
from factory_assets.common.errors import InputError
from factory_assets.common.plain_model import ValidationError
from factory_assets.layout.config import DEFAULT_QUEUE
from factory_assets.release.model import STATES, InvalidEntry, ReleaseEntry, ReleaseQueue
from factory_assets.release.queue_codec import QueueDocument, QueueRules, RequestDraft
from factory_assets.release.request_checks import (
    ARGS,
    argument_error,
    current_user,
    harbor_host,
    normal_host,
)

if TYPE_CHECKING:
    from ruamel.yaml.comments import CommentedMap

    from factory_assets.layout.targets import TargetResolver

TOP_LEVEL_KEYS = ("releases",)
# The order new entries are written in; existing entries keep their own order.
FIELD_ORDER = tuple(ReleaseEntry.model_fields)


@dataclass(frozen=True)
class ReleasesList:
    """The codec of the `releases:` list (see the module docstring)."""

    path: str = DEFAULT_QUEUE
    rules: QueueRules = field(default_factory=QueueRules)
    empty_text: str = ""

    def parse(self, path: Path, text: str) -> QueueDocument:
        parsed = yaml_lists.read(text, path, yaml_lists.YAML12_LOADER)
        queue, raw_ids = parse_queue(parsed.data, path)
        return QueueDocument(path, queue, self, parsed.data, raw_ids, text, parsed)

    def render(
        self, doc: QueueDocument, queue: ReleaseQueue, invalid_updates: dict[int, dict] | None
    ) -> str:
        return render_text(doc, queue, invalid_updates)

    def comparable(self, entry: ReleaseEntry) -> ReleaseEntry:
        return entry  # every field survives the format

    def request_id(
        self, now: datetime, words: tuple[str, ...], taken: frozenset[str] | None = None
    ) -> str:
        from factory_assets.evidence.ids import new_record_id

        return new_record_id()  # a ULID: unique, and it sorts by time

    def new_request(
        self, tree: Path, draft: RequestDraft, resolver: TargetResolver
    ) -> ReleaseEntry:
        """By tag or by digest, of an image on HARBOR_URL's host (default: the pin file's)."""
        if (draft.tag is None) == (draft.digest is None):
            raise InputError(ARGS, "--tag/--digest", "give exactly one of --tag or --digest")
        image = draft.image or _pinned_repository(tree, draft.service, draft.env)
        try:
            entry = ReleaseEntry.model_validate(
                {
                    "id": draft.release_id or self.request_id(draft.now or utc_now(), ()),
                    "service": draft.service,
                    "env": draft.env,
                    "image": image,
                    "tag": draft.tag,
                    "digest": draft.digest,
                    "requested_at": draft.now or utc_now(),
                    "requested_by": draft.requested_by or current_user(),
                }
            )
        except ValidationError as exc:
            raise argument_error(exc) from None
        allowed = harbor_host(draft.harbor_url)
        host = normal_host(entry.image.partition("/")[0])
        if host != allowed:
            raise InputError(
                ARGS, "--image", f"registry host {host!r} is not HARBOR_URL's host {allowed!r}"
            )
        return entry

    def health(self, repo: Path, now: datetime) -> dict | None:
        return None  # the factory's own queue has no health file


def _pinned_repository(tree: Path, service: str, env: str) -> str:
    """The image repository the lane's pin file names (the default of a request's --image)."""
    from factory_assets.pins.pin_file import read_pin

    pin = read_pin(tree, service, env)
    if pin.pin.repository is None:
        raise InputError(
            ARGS,
            "--image",
            f"required: {pin.path.relative_to(tree)} does not name the image repository yet",
        )
    return pin.pin.repository


def _plain(value: Any) -> Any:
    """ruamel containers and timestamps as plain values, to validate."""
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


def _structure(data: Any, path: Path) -> list:
    if data is None:
        return []
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
        return []
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


def _fresh(entry: ReleaseEntry) -> dict:
    """A new entry's fields in their written order (what `sync_entry` gives an empty map)."""
    values = entry.model_dump()
    return {name: _yaml_value(values[name]) for name in FIELD_ORDER if values[name] is not None}


def _edit(body: str, change: Callable[[CommentedMap], Any], where: str) -> str:
    """One entry's lines, changed round-trip: its comments, quoting and key order survive."""
    snippet = "releases:\n" + body
    data = roundtrip_yaml.loads(snippet, where)
    change(data["releases"][0])
    return roundtrip_yaml.dumps_like(data, snippet).partition("\n")[2]


def _set_fields(raw: CommentedMap, update: dict) -> CommentedMap:
    for key, value in update.items():
        raw[key] = _yaml_value(value)
    return raw


def _block_list(doc: QueueDocument) -> yaml_lists.QueueText:
    """The text, with a flow-style `releases: [...]` that holds entries rewritten as a block
    list (the same values), so that each entry has lines of its own to splice."""
    qt: yaml_lists.QueueText = doc.parsed
    region = qt.region("releases")
    if region is None or not region.flow or not doc.positions:
        return qt
    items = yaml_lists.block_items(list(doc.data["releases"]), 2)
    lines = qt.lines
    text = "".join([*lines[: region.start], "releases:\n", items, *lines[region.body_end :]])
    return yaml_lists.read(text, doc.path, yaml_lists.YAML12_LOADER)


def render_text(
    doc: QueueDocument, queue: ReleaseQueue, invalid_updates: dict[int, dict] | None = None
) -> str:
    """The file with `queue` (and updates to unparsable entries, by position) spliced in.

    An entry that did not change keeps its bytes and a changed one is edited round-trip; a
    dropped one leaves the comment lines after it, which are about the next entry (as
    `# HOTFIX r3: ...` above r3); new entries go at the end, in the list's indentation.
    """
    qt = _block_list(doc)
    region = qt.region("releases")
    items = region.items if region is not None else []
    before = {e.id: e for e in doc.queue.entries}
    wanted = {e.id: e for e in queue.entries}
    blocks: list[str] = []
    for position, release_id in enumerate(doc.positions):
        item = items[position]
        where = f"{doc.path}: releases[{position}]"
        update = (invalid_updates or {}).get(position) if release_id is None else None
        if release_id is not None and release_id not in wanted:
            blocks.append(qt.trailing(item))  # dropped
        elif update:
            change = lambda raw, u=update: _set_fields(raw, u)  # noqa: E731
            blocks.append(_edit(qt.body(item), change, where) + qt.trailing(item))
        elif release_id is None or wanted[release_id] == before.get(release_id):
            blocks.append(qt.block(item))
        else:
            change = lambda raw, e=wanted[release_id]: sync_entry(raw, e)  # noqa: E731
            blocks.append(_edit(qt.body(item), change, where) + qt.trailing(item))
    known = {rid for rid in doc.positions if rid}
    fresh = [_fresh(e) for e in queue.entries if e.id not in known]
    blocks.append(yaml_lists.block_items(fresh, items[0].dash if items else 2))
    listed = "".join(blocks)
    kept = len(fresh) + sum(rid is None or rid in wanted for rid in doc.positions)
    if items and kept:  # a block list: its entries' lines are replaced, everything else stays
        return "".join(qt.lines[: items[0].start]) + listed
    if items:  # every entry dropped: an empty list, and the comments that were around them
        lines = qt.lines
        return "".join(
            [
                *lines[: region.start],
                "releases: []\n",
                *lines[region.start + 1 : items[0].start],
                listed,
            ]
        )
    # No entries yet: an empty or missing file, `releases:` with no value, or `releases: []`.
    head = "".join(qt.lines[: region.start] if region else qt.lines)
    rest = "".join(qt.lines[region.body_end :]) if region else ""
    return head + ("releases:\n" + listed if listed.strip() else "releases: []\n") + rest
