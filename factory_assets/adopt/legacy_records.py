"""Legacy evidence (`evidence/records/*.yaml`) as `imported` record bodies, in time order.

Each legacy file becomes one record, whatever its state: a file that does not parse or
breaks the repository's own schema is imported with the problem noted, and two files
sharing an `evidenceId` (the legacy id collides across envs and re-promotions) stay two
records. Ids are ULIDs of the record's own time, with randomness taken from the file's
path and blob, so a dry run and the real run produce the same plan.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

from factory_assets.common.clock import rfc3339
from factory_assets.common.errors import InputError
from factory_assets.common.yaml_lists import MAX_DEPTH
from factory_assets.evidence.ids import encode_ulid
from factory_assets.evidence.model import RecordBody
from factory_assets.evidence.store import new_body
from factory_assets.evidence.vocabulary import SERVICE_NAME

LEGACY_RECORDS_DIR = "evidence/records"
LEGACY_DIR = "evidence/legacy"
LEGACY_SCHEMA = "evidence/schema/evidence.schema.json"
# What the repository's schema requires (used when its schema file is absent or unreadable).
REQUIRED = ("evidenceId", "service", "env", "source", "image", "deploy")
REQUIRED_NESTED = (
    ("source", "repo"),
    ("source", "commit"),
    ("image", "deployed"),
    ("deploy", "deployRepoCommit"),
)
MAX_TEXT = 65536
MAX_VALUES = 100_000  # a record holds a few dozen; more is an alias bomb, kept as text only
SAFE_INT = 2**53  # beyond this a JSON number is not exact (RFC 8785)
_DATE_IN_NAME = re.compile(r"^(\d{4})(\d{2})(\d{2})-")
_SERVICE = re.compile(SERVICE_NAME)
_DIGEST_REF = re.compile(r"^(?P<repo>[^@\s]+)@sha256:(?P<hex>[a-f0-9]{64})$")


class _TextScalarsLoader(yaml.SafeLoader):
    """PyYAML (YAML 1.1, as the legacy writers) with floats and timestamps kept as their text.

    Records hold no floats, and a reader must not turn `commit: 1234e56` into a number.
    Nesting is bounded while composing, so a hostile file is a parse problem, not a crash.
    """

    _depth = 0

    def compose_node(self, parent: yaml.Node | None, index: object) -> yaml.Node:
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                raise yaml.composer.ComposerError(
                    problem=f"nested deeper than {MAX_DEPTH} levels",
                    problem_mark=self.peek_event().start_mark,
                )
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


def _as_text(loader: yaml.SafeLoader, node: yaml.Node) -> str:
    return loader.construct_scalar(node)


_TextScalarsLoader.add_constructor("tag:yaml.org,2002:float", _as_text)
_TextScalarsLoader.add_constructor("tag:yaml.org,2002:timestamp", _as_text)


class _TooLarge(Exception):
    """The file's values, aliases expanded, exceed MAX_VALUES."""


class _Plain:
    """JSON values only: string keys, exact integers (larger ones as text), text that is UTF-8.

    A string holding a lone surrogate (a `\\ud800` escape) cannot be canonical JSON: its
    surrogates become U+FFFD and `lossy` says so. Aliases are expanded, within MAX_VALUES.
    """

    def __init__(self) -> None:
        self.values = 0
        self.lossy = False

    def __call__(self, value: Any) -> Any:
        self.values += 1
        if self.values > MAX_VALUES:
            raise _TooLarge
        if isinstance(value, dict):
            return {self._text(str(k)): self(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self(v) for v in value]
        if isinstance(value, bool) or value is None:
            return value
        if isinstance(value, str):
            return self._text(value)
        if isinstance(value, int):
            return value if -SAFE_INT < value < SAFE_INT else str(value)
        return self._text(str(value))  # bytes (!!binary) and anything else exotic: its text

    def _text(self, text: str) -> str:
        if _utf8(text):
            return text
        self.lossy = True
        return "".join("\ufffd" if "\ud800" <= c <= "\udfff" else c for c in text)


@dataclass(frozen=True)
class LegacyRecord:
    """One legacy file, read and checked; `body` is its `imported` record."""

    path: str  # evidence/records/<name>.yaml
    blob: str
    moment: datetime
    body: RecordBody

    @property
    def legacy_path(self) -> str:
        return f"{LEGACY_DIR}/{Path(self.path).name}"


def legacy_record_paths(root: Path) -> list[str]:
    """Repository-relative paths of the legacy YAML records (not `.gitkeep`, not factory JSON)."""
    directory = root / LEGACY_RECORDS_DIR
    if not directory.is_dir():
        return []
    found = sorted(p for p in directory.iterdir() if p.suffix in (".yaml", ".yml"))
    for path in found:
        if not _utf8(path.name):  # its name goes into the record and the commit as text
            raise InputError(
                f"{LEGACY_RECORDS_DIR}/{_printable(path.name)}",
                "-",
                "the file name is not UTF-8: adopt keeps each record under its own name; "
                "rename it (git mv) to a UTF-8 name",
            )
        if path.is_symlink() or not path.is_file():
            raise InputError(
                f"{LEGACY_RECORDS_DIR}/{path.name}",
                "-",
                "is not a regular file (a link or a folder): adopt imports only the files "
                "themselves; replace it with its content or remove it",
            )
    return [f"{LEGACY_RECORDS_DIR}/{p.name}" for p in found]


def _utf8(name: str) -> bool:
    """Whether a file name read from the disk is valid UTF-8 (undecodable bytes arrive as
    lone surrogates)."""
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _printable(name: str) -> str:
    """A file name with its undecodable bytes shown as `\\xNN`, so an error can name it."""
    return name.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def _schema_validator(root: Path):
    """The repository's own schema for its records, if it has a usable one (else None: the
    required fields it documents are checked instead)."""
    from jsonschema import Draft202012Validator
    from jsonschema.exceptions import SchemaError

    path = root / LEGACY_SCHEMA
    if not path.is_file():
        return None
    try:
        schema = json.loads(path.read_text(encoding="utf-8"))
        Draft202012Validator.check_schema(schema)
    except (ValueError, OSError, SchemaError):
        return None
    return Draft202012Validator(schema)


def _parse(data: bytes) -> tuple[dict | None, str | None, list[str]]:
    """(content, content_text, problems) of one file's bytes."""
    problems: list[str] = []
    text = data.decode("utf-8", errors="replace")
    if "\ufffd" in text and b"\xef\xbf\xbd" not in data:
        problems.append("not UTF-8: undecodable bytes are kept as U+FFFD in content_text")
    try:
        loaded = yaml.load(text, Loader=_TextScalarsLoader)  # noqa: S506 - a safe loader
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1} column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        problems.append(f"does not parse as YAML: {problem}{where}")
        return None, _bounded(text, problems), problems
    if not isinstance(loaded, dict):
        problems.append(f"expected a mapping, found {type(loaded).__name__}")
        return None, _bounded(text, problems), problems
    plain = _Plain()
    try:
        content = plain(loaded)
    except _TooLarge:
        problems.append(f"expands to more than {MAX_VALUES} values (YAML aliases)")
        return None, _bounded(text, problems), problems
    if plain.lossy:
        problems.append("a string holds a lone surrogate escape: kept as U+FFFD in content")
    if problems:  # undecodable bytes or surrogates: keep the text as well, so nothing is lost
        return content, _bounded(text, problems), problems
    return content, None, problems


def _bounded(text: str, problems: list[str]) -> str:
    if len(text) > MAX_TEXT:
        problems.append(f"content_text holds the first {MAX_TEXT} of {len(text)} characters")
        return text[:MAX_TEXT]
    return text


def _schema_problems(content: dict, validator, stem: str) -> list[str]:
    problems: list[str] = []
    if validator is not None:
        for error in sorted(validator.iter_errors(content), key=lambda e: list(e.path)):
            field = ".".join(str(p) for p in error.path) or "-"
            problems.append(f"{field}: {error.message} (evidence.schema.json)")
    else:
        for key in REQUIRED:
            if key not in content:
                problems.append(f"{key}: missing")
        for outer, inner in REQUIRED_NESTED:
            block = content.get(outer)
            if isinstance(block, dict) and not block.get(inner):
                problems.append(f"{outer}.{inner}: missing")
    evidence_id = content.get("evidenceId")
    if isinstance(evidence_id, str) and evidence_id != stem:
        problems.append(f"evidenceId: is {evidence_id!r}, but the file is named {stem!r}")
    return problems


def _moment_of(content: dict | None, name: str) -> datetime | None:
    """When the legacy record happened: deploy.syncedAt, promotedAt, the smoke check, the name."""
    content = content or {}
    deploy = content.get("deploy") if isinstance(content.get("deploy"), dict) else {}
    smoke = ((content.get("tests") or {}) if isinstance(content.get("tests"), dict) else {}).get(
        "smoke"
    )
    candidates = [
        deploy.get("syncedAt"),
        content.get("promotedAt"),
        smoke.get("checkedAt") if isinstance(smoke, dict) else None,
    ]
    for value in candidates:
        if isinstance(value, str) and value.strip():
            try:
                moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
                if moment.tzinfo is None:
                    moment = moment.replace(tzinfo=UTC)
                return moment.astimezone(UTC)
            except (ValueError, OverflowError):  # not a time, or one whose UTC is out of range
                continue
    found = _DATE_IN_NAME.match(name)
    if found:
        try:
            return datetime(*map(int, found.groups()), tzinfo=UTC)
        except ValueError:
            pass
    return None


def _subject(content: dict | None) -> list[dict]:
    image = (content or {}).get("image")
    if not isinstance(image, dict):
        return []
    for key in ("deployed", "harbor", "ghcr"):
        found = _DIGEST_REF.match(str(image.get(key) or ""))
        if found:
            return [{"name": found["repo"], "digest": {"sha256": found["hex"]}}]
    return []


def _record_id(moment: datetime, path: str, blob: str) -> str:
    millis = max(0, int(moment.timestamp() * 1000))
    seed = hashlib.sha256(f"{path}\0{blob}".encode()).hexdigest()
    return encode_ulid(millis, int(seed[:20], 16))


def read_legacy_records(root: Path, blobs: dict[str, str]) -> list[LegacyRecord]:
    """Every legacy record under `root`, as imported bodies sorted by time (then path).

    `blobs` maps repository paths to their git blob ids at the commit being adopted.
    """
    validator = _schema_validator(root)
    read: list[tuple[str, bytes, dict | None, str | None, list[str]]] = []
    for path in legacy_record_paths(root):
        data = (root / path).read_bytes()
        content, text, problems = _parse(data)
        if content is not None:
            problems += _schema_problems(content, validator, Path(path).stem)
        read.append((path, data, content, text, problems))
    by_id: dict[str, list[str]] = {}
    for path, _, content, _, _ in read:
        evidence_id = (content or {}).get("evidenceId")
        if isinstance(evidence_id, str):
            by_id.setdefault(evidence_id, []).append(path)
    out: list[LegacyRecord] = []
    earliest = datetime(1970, 1, 1, tzinfo=UTC)
    for path, _data, content, text, problems in read:
        moment = _moment_of(content, Path(path).name)
        if moment is None:
            problems.append("no time found (deploy.syncedAt, promotedAt, the file name): first")
            moment = earliest
        blob = blobs.get(path)
        if blob is None:
            raise InputError(
                path,
                "-",
                "not in the commit being adopted (it has no git blob id there): commit it, "
                "or remove it, and run adopt again",
            )
        content = content or None
        evidence_id = content.get("evidenceId") if content else None
        service = content.get("service") if content else None
        env = content.get("env") if content else None
        service_ok = isinstance(service, str) and _SERVICE.fullmatch(service) is not None
        if service is not None and not service_ok:
            problems.append(f"service: {service!r} is not a service name; the record has none")
        stamp = rfc3339(moment)
        details = {
            "original_path": path,
            "legacy_path": f"{LEGACY_DIR}/{Path(path).name}",
            "git_blob": blob,
            "evidence_id": evidence_id if isinstance(evidence_id, str) else None,
            "env": env if isinstance(env, str) else None,
            "content": content,
            "content_text": text,
            "problems": problems,
            "collides_with": [other for other in by_id.get(evidence_id, []) if other != path]
            if isinstance(evidence_id, str)
            else [],
        }
        body = new_body(
            kind="imported",
            service=service if service_ok else None,
            result="failure" if problems else "success",
            details=details,
            subject=_subject(content),
            started_at=stamp,
            finished_at=stamp,
            record_id=_record_id(moment, path, blob),
        )
        out.append(LegacyRecord(path, blob, moment, body))
    out.sort(key=lambda r: (r.moment, r.path))
    return out
