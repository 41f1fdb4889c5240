"""A release request and the queue of them: the rows of `release/queue.yaml`.

Entries are immutable values; every state change makes a new entry
(`factory_assets.release.state`), which keeps the transitions pure and testable.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Literal

from factory_assets.common import plain_model
from factory_assets.common.plain_model import (
    PlainModel,
    boolean,
    field,
    integer,
    literal,
    mapping_of,
    model,
    moment,
    optional,
    text,
    then,
    tuple_of,
)
from factory_assets.evidence.vocabulary import RECORD_ID, SERVICE_NAME
from factory_assets.layout.config import DEFAULT_ENV, env_name
from resources.registry import InvalidReference, parse_image, validate_digest, validate_tag

State = Literal["pending", "promoting", "promoted", "failed", "superseded"]
STATES: tuple[str, ...] = ("pending", "promoting", "promoted", "failed", "superseded")
TERMINAL_STATES = frozenset({"promoted", "failed", "superseded"})
OPEN_STATES = frozenset({"pending", "promoting"})

DEFAULT_MAX_ATTEMPTS = 5
RELEASE_ID = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$"
GIT_SHA = r"^[a-f0-9]{40}([a-f0-9]{24})?$"

SERVICE_RE = re.compile(SERVICE_NAME)


def _utc(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError("timestamp needs a time zone (use ...Z)")
    return value


def check_image_name(value: str) -> str:
    """`host/repository` only: the tag or digest lives in its own field."""
    if "@" in value or ":" in value.split("/", 1)[-1]:
        raise ValueError("image is host/repository without a tag or digest")
    try:
        parse_image(value)
    except InvalidReference as exc:
        raise ValueError(str(exc)) from None
    return value


def _tag(value: str) -> str:
    try:
        validate_tag(value)
    except InvalidReference as exc:
        raise ValueError(str(exc)) from None
    return value


def _digest(value: str) -> str:
    try:
        validate_digest(value)
    except InvalidReference as exc:
        raise ValueError(str(exc)) from None
    if not value.startswith("sha256:"):
        raise ValueError("only sha256 digests can be pinned (evidence records are sha256)")
    return value


def check_service(value: str) -> str:
    """A service name is also a file name: a lowercase DNS label, nothing else."""
    if not isinstance(value, str) or not SERVICE_RE.fullmatch(value):
        raise ValueError(
            f"{value!r} is not a service name: 1-63 lowercase letters, digits and '-', "
            "starting and ending with a letter or digit (no '/', '..', uppercase)"
        )
    return value


# The checks of each kind of field (a record's fields are plain values, checked on the way in).
# (named apart from the fields: a class body would see a field of the same name instead)
utc_moment = then(moment(), _utc)
release_id_text = text(pattern=RELEASE_ID)
service_text = then(text(), check_service)
image_text = then(text(max_length=255), check_image_name)
tag_text = then(text(), _tag)
digest_text = then(text(), _digest)
one_line_text = text(min_length=1, max_length=200, pattern=r"^[^\r\n\x00]*$")
record_id_text = text(pattern=RECORD_ID)


class ReleaseEntry(PlainModel, extra="forbid"):
    """One release request and where it is in its life."""

    id: str = field(release_id_text)
    service: str = field(service_text)
    env: str = field(env_name, default=DEFAULT_ENV)
    image: str = field(image_text)
    tag: str | None = field(optional(tag_text), default=None)
    digest: str | None = field(optional(digest_text), default=None)
    # The tag the build named (the four-list `source.tag`): a label, the digest decides.
    source_tag: str | None = field(optional(text(min_length=1, max_length=200)), default=None)
    requested_at: datetime = field(utc_moment)
    requested_by: str = field(one_line_text)
    state: State = field(literal(*STATES), default="pending")
    attempts: int = field(integer(ge=0, le=1000), default=0)
    max_attempts: int = field(integer(ge=1, le=100), default=DEFAULT_MAX_ATTEMPTS)
    next_attempt_at: datetime | None = field(optional(utc_moment), default=None)
    last_error: str | None = field(optional(text(max_length=4096)), default=None)
    superseded_by: str | None = field(optional(release_id_text), default=None)
    promoted_commit: str | None = field(optional(text(pattern=GIT_SHA)), default=None)
    evidence: str | None = field(optional(record_id_text), default=None)
    finished_at: datetime | None = field(optional(utc_moment), default=None)
    # The last smoke verdict on this release's pin, for visibility; it never un-pins.
    smoke_verdict: str | None = field(
        optional(literal("passed", "failed", "timeout", "skipped")), default=None
    )
    smoke_evidence: str | None = field(optional(record_id_text), default=None)
    # A live claim: which runner promotes this entry, and until when the claim holds.
    claimed_by: str | None = field(optional(text(max_length=300)), default=None)
    claim_expires_at: datetime | None = field(optional(utc_moment), default=None)
    # Waiting for the env's registry to replicate the digest: no attempt counts meanwhile.
    waiting_since: datetime | None = field(optional(utc_moment), default=None)
    waiting_evidence: str | None = field(optional(record_id_text), default=None)
    # Held by a promotion window (factory.yaml `windows`): since when, and the `window_wait`
    # record; no attempt counts meanwhile, and one `window_open` record ends the wait.
    window_since: datetime | None = field(optional(utc_moment), default=None)
    window_evidence: str | None = field(optional(record_id_text), default=None)
    # Pipeline: the upstream request (and its passed smoke) this stage request came from.
    upstream: str | None = field(optional(release_id_text), default=None)
    upstream_smoke: str | None = field(optional(record_id_text), default=None)
    # Stages this (upstream) request has been handed to: env -> the request id, or `skipped`.
    handed_off: dict[str, str] | None = field(
        optional(mapping_of(env_name, text(max_length=200))), default=None
    )
    approval_required: bool = field(boolean(), default=False)
    approved_by: str | None = field(optional(one_line_text), default=None)
    approved_at: datetime | None = field(optional(utc_moment), default=None)
    # the release whose pin this request rolls back
    rollback_of: str | None = field(optional(release_id_text), default=None)

    def _cross_check(self) -> None:
        if self.state == "promoted":
            if self.digest is None:
                raise ValueError("a promoted entry needs its resolved digest")
        elif self.state != "superseded" and (self.tag is None) == (self.digest is None):
            raise ValueError("exactly one of tag or digest is required")
        if self.state == "promoting" and (self.claimed_by is None or self.claim_expires_at is None):
            raise ValueError("a promoting entry needs claimed_by and claim_expires_at")

    @property
    def terminal(self) -> bool:
        return self.state in TERMINAL_STATES

    @property
    def lane(self) -> tuple[str, str]:
        """(service, env): supersede, claims, retry and hold are per lane."""
        return (self.service, self.env)

    @property
    def reference(self) -> str:
        """What was asked for: `host/repo:tag` or `host/repo@digest`."""
        return f"{self.image}:{self.tag}" if self.tag else f"{self.image}@{self.digest}"

    @property
    def awaiting_approval(self) -> bool:
        return self.approval_required and self.approved_by is None

    @property
    def label(self) -> str | None:
        """The tag to show: the requested tag, else the build's tag."""
        return self.tag or self.source_tag

    def order_key(self, position: int) -> tuple[datetime, int]:
        """Newest wins: later request time, then later position in the file."""
        return (self.requested_at, position)


class InvalidEntry(PlainModel):
    """An entry that cannot be parsed: the pass marks it failed, it never blocks others."""

    # plain_model.field: after the field named `field`, that name is the field in this body
    position: int = plain_model.field(integer())
    id: str = plain_model.field(text())
    service: str | None = plain_model.field(optional(text()))
    state: str | None = plain_model.field(optional(text()))
    field: str = plain_model.field(text())
    problem: str = plain_model.field(text())
    env: str = plain_model.field(text(), default=DEFAULT_ENV)


class ReleaseQueue(PlainModel):
    """Every entry of the queue, in file order, plus the ones that failed to parse."""

    entries: tuple[ReleaseEntry, ...] = field(tuple_of(model(ReleaseEntry)), default=())
    invalid: tuple[InvalidEntry, ...] = field(tuple_of(model(InvalidEntry)), default=())

    def by_id(self, release_id: str) -> ReleaseEntry | None:
        for entry in self.entries:
            if entry.id == release_id:
                return entry
        return None

    def for_service(self, service: str, env: str | None = None) -> list[ReleaseEntry]:
        return [e for e in self.entries if e.service == service and (env is None or e.env == env)]

    def newest_promoted(self, service: str, env: str) -> ReleaseEntry | None:
        """The lane's newest promoted entry: what an overlay pin (which keeps no id) came from."""
        best, best_key = None, None
        for position, entry in enumerate(self.entries):
            if entry.lane == (service, env) and entry.state == "promoted":
                key = entry.order_key(position)
                if best_key is None or key > best_key:
                    best, best_key = entry, key
        return best

    def services(self) -> list[str]:
        return sorted({e.service for e in self.entries})

    def replace(self, *changed: ReleaseEntry) -> ReleaseQueue:
        """A queue with the given entries swapped in by id (order kept)."""
        updates = {e.id: e for e in changed}
        return self.model_copy(
            update={"entries": tuple(updates.get(e.id, e) for e in self.entries)}
        )

    def append(self, entry: ReleaseEntry) -> ReleaseQueue:
        return self.model_copy(update={"entries": (*self.entries, entry)})
