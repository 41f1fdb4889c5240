"""The four-list queue (`pending`, `promoted`, `failed`, `superseded`), read and written natively.

The format is an interface: service repositories' CI appends entries to `pending`, and the
repository's own validator checks every file (its rules: tests/support/queue_rules.py).
So an entry keeps its shape: it moves to the end of another list, `status` equals its list,
and everything the engine needs beyond the format (claim, lease, back-off, attempt budget,
evidence id, pin commit, replication wait) lives under `meta.factory`. A claimed entry stays
in `pending`. Edits are in place: an entry nobody changed keeps its exact bytes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from factory_assets.common import roundtrip_yaml
from factory_assets.common.clock import parse_rfc3339, rfc3339
from factory_assets.common.errors import InputError
from factory_assets.common.plain_model import ValidationError
from factory_assets.common.yaml_lists import QueueText, read
from factory_assets.layout.config import FOUR_LIST_MAX_ATTEMPTS
from factory_assets.layout.four_list_text import EMPTY_TEXT, compose, edit_block, new_block
from factory_assets.release.model import InvalidEntry, ReleaseEntry, ReleaseQueue

if TYPE_CHECKING:  # ruamel is imported where an entry is written (a reader never needs it)
    from ruamel.yaml.comments import CommentedMap

LISTS = ("pending", "promoted", "failed", "superseded")
ENTRY_KEYS = (
    "id",
    "service",
    "env",
    "source",
    "createdAt",
    "status",
    "attempts",
    "lastError",
    "promotedAt",
    "supersededAt",
    "failedAt",
)
SUPERSEDE_REASON = "replaced by newer pending release for same service+env"
STATE_TIMESTAMP = {"promoted": "promotedAt", "failed": "failedAt", "superseded": "supersededAt"}
DEFAULT_MAX_ATTEMPTS = FOUR_LIST_MAX_ATTEMPTS
# ReleaseEntry field -> meta.factory key (everything the format has no field for).
META_FIELDS = {
    "requested_by": "requestedBy",
    "max_attempts": "maxAttempts",
    "next_attempt_at": "nextAttemptAt",
    "claimed_by": "claimedBy",
    "claim_expires_at": "claimExpiresAt",
    "evidence": "evidence",
    "promoted_commit": "promotedCommit",
    "superseded_by": "supersededBy",
    "smoke_verdict": "smokeVerdict",
    "smoke_evidence": "smokeEvidence",
    "waiting_since": "waitingSince",
    "waiting_evidence": "waitingEvidence",
    "window_since": "windowSince",
    "window_evidence": "windowEvidence",
    "upstream": "upstream",
    "upstream_smoke": "upstreamSmoke",
    "handed_off": "handedOff",
    "approval_required": "approvalRequired",
    "approved_by": "approvedBy",
    "approved_at": "approvedAt",
    "rollback_of": "rollbackOf",
}
TIME_FIELDS = {
    "next_attempt_at",
    "claim_expires_at",
    "waiting_since",
    "window_since",
    "approved_at",
}


@dataclass(frozen=True)
class Slot:
    """Where a raw entry sits: its list, its index there, and its id if it parsed."""

    list: str
    index: int
    id: str | None


def structure(data: Any, path: Path) -> dict:
    """The four lists (missing ones read as empty); anything else about them refuses the file."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise InputError(
            path,
            "-",
            f"expected a mapping with {', '.join(LISTS)}, found {roundtrip_yaml.kind_of(data)}",
        )
    for name in LISTS:
        value = data.get(name)
        if value is not None and not isinstance(value, list):
            raise InputError(
                path, name, f"expected a list of entries, found {roundtrip_yaml.kind_of(value)}"
            )
    return data


def _str(value: Any) -> str | None:
    """A scalar the format means as text (an unquoted all-digit SHA reads as a number)."""
    if value is None or isinstance(value, str):
        return value
    return str(value)


def _moment(value: Any) -> datetime | None:
    """`createdAt`-style text (as the validator reads it: Z, offsets, naive = UTC) to UTC."""
    if value in (None, ""):
        return None
    if isinstance(value, datetime):
        return roundtrip_yaml.as_utc(value)
    moment = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def stamp(moment: datetime) -> str:
    """The format's timestamp: `2026-04-01T09:00:12Z` (seconds, as its writers use)."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def entry_values(raw: dict, list_name: str) -> dict:
    """A raw four-list entry as ReleaseEntry fields (ReleaseEntry validates them)."""
    source = raw.get("source")
    if not isinstance(source, dict):
        raise ValueError("source: expected a mapping with ghcr, tag and digest")
    ghcr = _str(source.get("ghcr")) or ""
    digest = _str(source.get("digest")) or (ghcr.rpartition("@")[2] if "@" in ghcr else None)
    meta = raw.get("meta") if isinstance(raw.get("meta"), dict) else {}
    mine = meta.get("factory") if isinstance(meta.get("factory"), dict) else {}
    state = list_name
    if list_name == "pending" and mine.get("claimedBy"):
        state = "promoting"
    values: dict[str, Any] = {
        "id": raw.get("id"),
        "service": raw.get("service"),
        "env": raw.get("env") or "dev",
        "image": ghcr.partition("@")[0],
        "digest": digest,
        "source_tag": _str(source.get("tag")) or None,
        "requested_at": _moment(raw.get("createdAt")),
        "requested_by": "smoke" if meta.get("autoPromoteBySmoke") else "service-ci",
        "state": state,
        "attempts": raw.get("attempts", 0),
        "max_attempts": DEFAULT_MAX_ATTEMPTS,
        "last_error": raw.get("lastError") or None,
        "finished_at": _moment(raw.get(STATE_TIMESTAMP.get(list_name, ""))),
    }
    for field, key in META_FIELDS.items():
        if key in mine and mine[key] is not None:
            value = mine[key]
            values[field] = _moment(value) if field in TIME_FIELDS else value
    if state == "promoted" and values.get("digest") is None:
        raise ValueError("source.digest: a promoted entry needs its digest")
    return values


def parse(data: Any, path: Path) -> tuple[ReleaseQueue, list[Slot]]:
    """Validate the lists and each entry; one bad entry becomes an InvalidEntry, not a refusal."""
    data = structure(data, path)
    entries: list[ReleaseEntry] = []
    invalid: list[InvalidEntry] = []
    slots: list[Slot] = []
    seen: dict[str, str] = {}
    position = 0
    for name in LISTS:
        for index, raw in enumerate(data.get(name) or []):
            where = f"{name}[{index}]"
            if not isinstance(raw, dict):
                raise InputError(
                    path, where, f"expected a mapping, found {roundtrip_yaml.kind_of(raw)}"
                )
            release_id = raw.get("id")
            if not isinstance(release_id, str) or not release_id.strip():
                raise InputError(path, f"{where}.id", "missing: every entry needs a string id")
            if release_id in seen:
                raise InputError(
                    path, f"{where}.id", f"duplicate id {release_id!r} (also {seen[release_id]})"
                )
            seen[release_id] = where
            try:
                entries.append(ReleaseEntry.model_validate(entry_values(raw, name)))
                slots.append(Slot(name, index, release_id))
            except (ValidationError, ValueError) as exc:
                field, problem = _problem(exc)
                service = raw.get("service")
                invalid.append(
                    InvalidEntry(
                        position=position,
                        id=release_id,
                        service=service if isinstance(service, str) else None,
                        state="pending" if name == "pending" else name,
                        field=f"{where} (id {release_id})" + (f".{field}" if field else ""),
                        problem=problem,
                        env=str(raw.get("env") or "dev"),
                    )
                )
                slots.append(Slot(name, index, None))
            position += 1
    return ReleaseQueue(entries=tuple(entries), invalid=tuple(invalid)), slots


_NAMES = {
    "image": "source.ghcr",
    "digest": "source.digest",
    "source_tag": "source.tag",
    "requested_at": "createdAt",
    "last_error": "lastError",
    "finished_at": "the list's timestamp",
}


def _problem(exc: Exception) -> tuple[str, str]:
    if isinstance(exc, ValidationError):
        err = exc.errors(include_url=False)[0]
        loc = ".".join(str(p) for p in err["loc"])
        msg = str(err["msg"]).removeprefix("Value error, ")
        name = _NAMES.get(loc, META_FIELDS.get(loc) and f"meta.factory.{META_FIELDS[loc]}" or loc)
        return name, msg
    text = str(exc)
    field, sep, problem = text.partition(": ")
    return (field, problem) if sep and " " not in field else ("", text)


# -- writing ---------------------------------------------------------------------------------


def list_of(entry: ReleaseEntry) -> str:
    return "pending" if entry.state in ("pending", "promoting") else entry.state


def _same(old: Any, new: Any) -> bool:
    if isinstance(new, str) and isinstance(old, (str, datetime)) and old != new:
        try:
            return _moment(old) == _moment(new)
        except (TypeError, ValueError):
            return False
    if isinstance(old, bool) != isinstance(new, bool):
        return False
    return old == new


def _put(target: CommentedMap, key: str, value: Any, after: tuple[str, ...]) -> None:
    """Set `key` if its meaning changed; a new key goes after the nearest earlier one present."""
    if key in target:
        if not _same(target[key], value):
            target[key] = value
        return
    keys = list(target)
    position = len(keys)
    for index in range(len(keys) - 1, -1, -1):
        if keys[index] in after:
            position = index + 1
            break
    else:
        if "reason" in keys:
            position = keys.index("reason")
    target.insert(position, key, value)


def _factory_meta(entry: ReleaseEntry) -> dict:
    values = entry.model_dump()
    out = {}
    for field, key in META_FIELDS.items():
        value = values.get(field)
        if value is None or (field == "requested_by" and value in ("service-ci", "smoke")):
            continue
        if field == "max_attempts" and value == DEFAULT_MAX_ATTEMPTS:
            continue
        if field == "approval_required" and not value:
            continue
        out[key] = rfc3339(value) if isinstance(value, datetime) else value
    return out


def sync(target: CommentedMap, entry: ReleaseEntry) -> CommentedMap:
    """Write `entry` into its raw mapping, changing only what differs (new: the full shape)."""
    from ruamel.yaml.comments import CommentedMap

    fresh = len(target) == 0
    was = target.get("status")
    state_list = list_of(entry)
    if fresh:
        source = CommentedMap()
        source["ghcr"] = f"{entry.image}@{entry.digest}"
        source["tag"] = entry.source_tag or (entry.digest or "")[7:19]
        source["digest"] = entry.digest
        for key, value in (
            ("id", entry.id),
            ("service", entry.service),
            ("env", entry.env),
            ("source", source),
            ("createdAt", stamp(entry.requested_at)),
        ):
            target[key] = value
    order = ENTRY_KEYS
    _put(target, "status", state_list, order[: order.index("status")])
    _put(target, "attempts", entry.attempts, order[: order.index("attempts")])
    _put(target, "lastError", entry.last_error or "", order[: order.index("lastError")])
    for name, key in STATE_TIMESTAMP.items():
        if state_list == name and entry.finished_at is not None:
            value = stamp(entry.finished_at)
        elif state_list == "pending" or fresh:
            value = ""
        else:
            value = target.get(key, "")
        _put(target, key, value, order[: order.index(key)])
    meta_values = _factory_meta(entry)
    meta = target.get("meta")
    if meta_values:
        if not isinstance(meta, dict):
            meta = CommentedMap()
            _put(target, "meta", meta, order)
        mine = meta.get("factory")
        if not isinstance(mine, dict):
            mine = meta["factory"] = CommentedMap()
        for key in [k for k in mine if k not in meta_values]:
            del mine[key]
        for key, value in meta_values.items():
            _put(mine, key, value, tuple(mine))
    elif isinstance(meta, dict) and "factory" in meta:
        del meta["factory"]
        if not meta:
            del target["meta"]
    if state_list == "superseded" and was != "superseded":  # hand-made ones may have none
        if target.get("reason") != SUPERSEDE_REASON:
            target.pop("reason", None)
            target["reason"] = SUPERSEDE_REASON  # always the last key
    return target


def render(
    qt: QueueText,
    slots: list[Slot],
    before: ReleaseQueue,
    queue: ReleaseQueue,
    path: Path | str,
    invalid_updates: dict[int, dict] | None = None,
) -> str:
    """The new text: changed entries edited in place, moved ones at their list's end."""
    from ruamel.yaml.comments import CommentedMap

    wanted = {e.id: e for e in queue.entries}
    was = {e.id: comparable(e) for e in before.entries}
    known = {slot.id for slot in slots if slot.id}
    blocks: dict[str, list[str]] = {name: [] for name in LISTS}
    moved: dict[str, list[str]] = {name: [] for name in LISTS}
    changed: set[str] = set()
    items = {name: (qt.region(name).items if qt.region(name) else []) for name in LISTS}
    for position, slot in enumerate(slots):
        item = items[slot.list][slot.index]
        original = qt.block(item)
        where = f"{path}: {slot.list}[{slot.index}]"
        if slot.id is None:
            update = (invalid_updates or {}).get(position)
            if update is None:
                blocks[slot.list].append(original)
                continue
            text = edit_block(original, item.dash, lambda raw, u=update: _fail_raw(raw, u), where)
            moved["failed"].append(_indent_to(text, item.dash, qt.dash("failed")))
            changed |= {slot.list, "failed"}
            continue
        entry = wanted.get(slot.id)
        if entry is None:
            raise RuntimeError(f"the four-list queue never drops an entry ({slot.id})")
        target = list_of(entry)
        text = original
        if comparable(entry) != was.get(slot.id):
            text = edit_block(original, item.dash, lambda raw, e=entry: sync(raw, e), where)
            changed.add(slot.list)
        if target == slot.list:
            blocks[slot.list].append(text)
        else:
            moved[target].append(_indent_to(text, item.dash, qt.dash(target)))
            changed |= {slot.list, target}
    for entry in queue.entries:
        if entry.id not in known:
            target = list_of(entry)
            moved[target].append(new_block(sync(CommentedMap(), entry), qt.dash(target)))
            changed.add(target)
    for name in LISTS:
        blocks[name] += moved[name]
    return compose(qt, blocks, changed)


def _indent_to(text: str, now: int, then: int) -> str:
    if now == then:
        return text
    if now > then:
        return "".join(
            line[now - then :] if line.startswith(" " * (now - then)) else line
            for line in text.splitlines(keepends=True)
        )
    pad = " " * (then - now)
    return "".join(pad + line if line.strip() else line for line in text.splitlines(keepends=True))


def _fail_raw(raw: CommentedMap, update: dict) -> CommentedMap:
    """An entry too malformed to model moves to `failed`, with the format's fields set."""
    from ruamel.yaml.comments import CommentedMap

    raw["status"] = "failed"
    raw["lastError"] = update.get("last_error", "")
    if "attempts" not in raw or not isinstance(raw.get("attempts"), int):
        raw["attempts"] = 0
    for key in ("promotedAt", "supersededAt"):
        raw.setdefault(key, "")
    raw["failedAt"] = stamp(update.get("finished_at") or datetime.now(UTC))
    if update.get("evidence"):
        meta = raw.get("meta")
        if not isinstance(meta, dict):
            meta = raw["meta"] = CommentedMap()
        mine = meta.setdefault("factory", CommentedMap())
        mine["evidence"] = update["evidence"]
    return raw


def comparable(entry: ReleaseEntry) -> ReleaseEntry:
    """What survives the format: its timestamps have whole seconds."""
    update = {}
    for name in ("requested_at", "finished_at"):
        value = getattr(entry, name)
        if value is not None:
            update[name] = value.replace(microsecond=0)
    return entry.model_copy(update=update)


__all__ = ["parse", "render", "comparable", "Slot", "parse_rfc3339", "read", "EMPTY_TEXT"]
