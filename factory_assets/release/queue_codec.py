"""The queue file, whatever its format: one interface every reader and writer goes through.

A repository's `factory.yaml` names the queue's format; `layout.queue_codecs.queue_codec`
picks the codec for it (the one place that knows the formats by name). A codec turns the
file into the one `ReleaseQueue` model and back, says what the format allows (`QueueRules`),
and shapes a new request the way the format's writers do. Nothing above it knows which
format the file has: `release.queue_file.load_queue` and `save_queue` are what callers use.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from factory_assets.release.model import ReleaseEntry, ReleaseQueue

if TYPE_CHECKING:
    from factory_assets.layout.targets import TargetResolver


@dataclass(frozen=True)
class QueueRules:
    """What the format allows, as every writer of the queue must respect it."""

    # At most one open request per lane (the four-list validator): a newer one supersedes the
    # older ones as soon as it is planned, not only when it is claimed.
    one_open_per_lane: bool = False
    # Terminal entries past the retention window may leave the file (their evidence stays).
    compacts: bool = True
    # The attempt budget of a new request (None: the factory's default, or the upstream's).
    max_attempts: int | None = None

    def attempts_for(self, fallback: int) -> int:
        return self.max_attempts if self.max_attempts is not None else fallback


@dataclass(frozen=True)
class RequestDraft:
    """A release request as a person (or a sensor) asks for it, before the format shapes it."""

    service: str
    env: str
    tag: str | None = None
    digest: str | None = None
    image: str | None = None  # host/repository; None: the one the lane's pin names
    requested_by: str = ""  # "": the current user
    now: datetime | None = None
    release_id: str | None = None
    harbor_url: str | None = None  # whose host the image must be on (None: HARBOR_URL)


class QueueCodec(Protocol):
    """One queue format: its file, its rules, how it reads, writes and shapes a request."""

    path: str  # the queue file, relative to the repository
    rules: QueueRules
    empty_text: str  # what a missing file reads as

    def parse(self, path: Path, text: str) -> QueueDocument:
        """The file's text as the queue model (one bad entry is an InvalidEntry, not a refusal)."""
        ...

    def render(
        self, doc: QueueDocument, queue: ReleaseQueue, invalid_updates: dict[int, dict] | None
    ) -> str:
        """The file's new text with `queue` in it; entries nobody changed keep their bytes."""
        ...

    def comparable(self, entry: ReleaseEntry) -> ReleaseEntry:
        """`entry` as it reads back from this format (what survives a write)."""
        ...

    def request_id(
        self, now: datetime, words: tuple[str, ...], taken: frozenset[str] | None = None
    ) -> str:
        """A new request's id; `words` (service, tag, env...) for a format whose ids read as
        text, and `taken`, the ids already in the queue, when a collision must be avoided."""
        ...

    def new_request(
        self, tree: Path, draft: RequestDraft, resolver: TargetResolver
    ) -> ReleaseEntry:
        """A validated pending entry in the shape this format's writers append (InputError
        naming the argument when the draft does not fit it)."""
        ...

    def health(self, repo: Path, now: datetime) -> dict | None:
        """The format's queue-health figures at `now` (None: the format has none)."""
        ...


@dataclass
class QueueDocument:
    """The parsed queue plus the text it came from, so that saving edits it in place."""

    path: Path
    queue: ReleaseQueue
    codec: QueueCodec
    data: Any = None  # what libyaml read
    # Per raw item of the file, where it sits and its id if it parsed (the codec's own kind).
    positions: list = field(default_factory=list)
    text: str = ""  # as read
    parsed: Any = None  # the text's regions and entry line ranges

    @property
    def rules(self) -> QueueRules:
        return self.codec.rules
