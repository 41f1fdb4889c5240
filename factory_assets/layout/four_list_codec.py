"""The codec of the four-list queue (`four_lists`): its rules, its request shape, its health.

The format is the deploy repository's interface (service CI appends to it, its validator
checks it): one open request per (service, env), nothing ever dropped, ten attempts
(its RETRY_MAX), ids that read `<createdAt>-<service>-<tag>[-<env>]`, and the health file
its dashboard reads (`queue_health`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from factory_assets.common.clock import utc_now
from factory_assets.common.errors import InputError
from factory_assets.common.plain_model import ValidationError
from factory_assets.layout import four_lists
from factory_assets.layout.config import DEFAULT_ENV, DEFAULT_QUEUE, FOUR_LIST_MAX_ATTEMPTS
from factory_assets.layout.targets import TargetError, TargetResolver
from factory_assets.release.model import ReleaseEntry, ReleaseQueue
from factory_assets.release.queue_codec import QueueDocument, QueueRules, RequestDraft
from factory_assets.release.request_checks import ARGS, argument_error, current_user

RULES = QueueRules(one_open_per_lane=True, compacts=False, max_attempts=FOUR_LIST_MAX_ATTEMPTS)


@dataclass(frozen=True)
class FourLists:
    """The codec of `pending` / `promoted` / `failed` / `superseded` (see the module docstring)."""

    path: str = DEFAULT_QUEUE
    rules: QueueRules = field(default=RULES)
    empty_text: str = four_lists.EMPTY_TEXT

    def parse(self, path: Path, text: str) -> QueueDocument:
        parsed = four_lists.read(text, path)
        queue, slots = four_lists.parse(parsed.data, path)
        return QueueDocument(path, queue, self, parsed.data, slots, text, parsed)

    def render(
        self, doc: QueueDocument, queue: ReleaseQueue, invalid_updates: dict[int, dict] | None
    ) -> str:
        return four_lists.render(
            doc.parsed, doc.positions, doc.queue, queue, doc.path, invalid_updates
        )

    def comparable(self, entry: ReleaseEntry) -> ReleaseEntry:
        return four_lists.comparable(entry)

    def request_id(
        self, now: datetime, words: tuple[str, ...], taken: frozenset[str] | None = None
    ) -> str:
        """`<now>-<word>-<word>...`, as the repository's own writers name entries; `-rN`
        after it while the id is `taken`."""
        base = "-".join((f"{now:%Y%m%dT%H%M%SZ}", *words))
        candidate, n = base, 1
        while taken is not None and candidate in taken:
            n += 1
            candidate = f"{base}-r{n}"
        return candidate

    def new_request(
        self, tree: Path, draft: RequestDraft, resolver: TargetResolver
    ) -> ReleaseEntry:
        """The shape service CI appends: by digest, `source.tag` a label, the target mapped.

        The target must exist in the service map, so a typo fails here and not on a runner.
        """
        if draft.digest is None:
            raise InputError(ARGS, "--digest", "required in the four-list layout (source.digest)")
        try:
            target = resolver.target(draft.service, draft.env)
        except TargetError as exc:
            raise InputError(ARGS, "SERVICE/--env", str(exc)) from None
        moment = (draft.now or utc_now()).replace(microsecond=0)
        label = draft.tag or draft.digest.removeprefix("sha256:")[:12]
        words = (draft.service, label) + (() if draft.env == DEFAULT_ENV else (draft.env,))
        try:
            return ReleaseEntry.model_validate(
                {
                    "id": draft.release_id or self.request_id(moment, words),
                    "service": draft.service,
                    "env": draft.env,
                    "image": draft.image or target.image_name or target.verify_image,
                    "digest": draft.digest,
                    "source_tag": label,
                    "requested_at": moment,
                    "requested_by": draft.requested_by or current_user(),
                    "max_attempts": FOUR_LIST_MAX_ATTEMPTS,
                }
            )
        except ValidationError as exc:
            raise argument_error(exc) from None

    def health(self, repo: Path, now: datetime) -> dict | None:
        """The figures `evidence/metrics/queue-health.json` holds (a missing file: empty)."""
        from factory_assets.layout.queue_health import queue_health, read_queue_data

        path = Path(repo) / self.path
        if not path.exists():
            data = four_lists.structure(four_lists.read(self.empty_text, path).data, path)
            return queue_health(data, now)
        return queue_health(read_queue_data(repo, self.path), now)
