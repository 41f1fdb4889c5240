"""The evidence record: the one format every part of the factory writes into.

The pydantic models here are the source of truth; the JSON Schema in
`evidence/schema/evidence-record.schema.json` is generated from them.

Numbers in records are integers only (durations in milliseconds): with no
floats and ASCII-only keys, sorted compact JSON is byte-identical to RFC 8785,
which lets `validate` and `collect` canonicalize fast (see `canonical.py`).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

__all__ = ["KINDS", "RECORD_ID", "RESULTS", "SCHEMA_VERSION", "SERVICE_NAME"]

from factory_assets.evidence.vocabulary import (
    KINDS,
    RECORD_ID,
    RESULTS,
    RFC3339_UTC,
    SCHEMA_VERSION,
    SERVICE_NAME,
    SHA256_DIGEST,
    VERDICT_KINDS,
)

Timestamp = Annotated[str, StringConstraints(pattern=RFC3339_UTC)]
ContentDigest = Annotated[str, StringConstraints(pattern=SHA256_DIGEST)]
RecordId = Annotated[str, StringConstraints(pattern=RECORD_ID)]
ServiceName = Annotated[str, StringConstraints(pattern=SERVICE_NAME)]
ShortText = Annotated[str, StringConstraints(max_length=4096)]
LongText = Annotated[str, StringConstraints(max_length=65536)]
Millis = Annotated[int, Field(ge=0)]

Result = Literal["success", "failure", "skipped", "superseded", "refused"]


def _empty_list() -> Any:
    """A `[]` default that is not copied on every validation: pydantic deep-copies a mutable
    default each time it fills one in (~4% of `factory evidence validate`'s model work).
    The JSON Schema still says `"default": []`."""
    return Field(default_factory=list, json_schema_extra={"default": []})


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class SubjectDigest(_Strict):
    """in-toto ResourceDescriptor digest: an OCI sha256 and/or a git commit."""

    sha256: Annotated[str, StringConstraints(pattern=r"^[a-f0-9]{64}$")] | None = None
    gitCommit: (
        Annotated[str, StringConstraints(pattern=r"^[a-f0-9]{40}([a-f0-9]{24})?$")] | None
    ) = None

    @model_validator(mode="after")
    def _one_present(self) -> SubjectDigest:
        if self.sha256 is None and self.gitCommit is None:
            raise ValueError("digest needs sha256 or gitCommit")
        return self


class Subject(_Strict):
    name: ShortText
    digest: SubjectDigest


class Producer(_Strict):
    name: ShortText
    version: ShortText


class Links(_Strict):
    dagster_run_id: ShortText | None = None
    asset_key: ShortText | None = None
    partition: ShortText | None = None
    commit: Annotated[str, StringConstraints(pattern=r"^[a-f0-9]{40}([a-f0-9]{24})?$")] | None = (
        None
    )
    url: ShortText | None = None


class Parent(_Strict):
    id: RecordId
    content_digest: ContentDigest


class Integrity(_Strict):
    content_digest: ContentDigest
    sequence: Annotated[int, Field(ge=1)]
    prev_digest: ContentDigest | None


# --- details, one model per kind -------------------------------------------


class RegistryVerification(_Strict):
    """What the registry said when the digest was resolved: enough to re-check it."""

    url: ShortText
    method: Literal["HEAD", "GET", "PUT"]
    accept: ShortText
    status: int
    header_digest: ContentDigest | None = None
    computed_digest: ContentDigest | None = None
    media_type: ShortText | None = None
    size: Millis | None = None


class PinChange(_Strict):
    path: ShortText
    before: ShortText | None = None
    after: ShortText


class SoakProof(_Strict):
    """A handoff after a soak: the upstream pin stayed healthy from `began_at` to `ended_at`,
    and these smoke records (passed, nothing else in between) prove it."""

    required_ms: Millis
    began_at: Timestamp
    ended_at: Timestamp
    records: list[RecordId] = _empty_list()
    restarted_at: Timestamp | None = None  # the last failing verdict that restarted the clock


class WindowWait(_Strict):
    """A ready request held by a promotion window (`window_wait`), or let go (`window_open`)."""

    window: ShortText  # the deciding window: `deny '0 16 * * FRI' for 64h (Europe/Berlin)`
    until: Timestamp | None = None  # when it may go (none: no window lets it go)
    since: Timestamp | None = None  # `window_open`: when the wait began
    forced_by: ShortText | None = None  # `window_open` by `--force`: who passed the window


class AutoRollback(_Strict):
    """Why the factory rolled a lane back by itself: the broken verdict and its confirmation."""

    failed_smoke: RecordId
    failed_at: Timestamp
    verdict_kind: Literal[VERDICT_KINDS]
    confirmed_at: Timestamp
    confirmed_by: RecordId | None = None  # the confirming check's record, when it wrote one
    sync_window_ms: Millis


class PromotionDetails(_Strict):
    kind: Literal["promotion"] = "promotion"
    release_id: ShortText | None = None
    env: ShortText | None = None
    image: ShortText | None = None
    tag: ShortText | None = None
    requested_digest: ContentDigest | None = None
    digest: ContentDigest | None = None
    requested_at: Timestamp | None = None
    requested_by: ShortText | None = None
    attempt: Annotated[int, Field(ge=0)] = 0
    forced: bool = False
    reason: LongText | None = None
    superseded_by: ShortText | None = None
    verification: list[RegistryVerification] = _empty_list()
    pin: list[PinChange] = _empty_list()
    pin_proof: LongText | None = None  # how the written pin was proven (an overlay render)
    push: ShortText | None = None
    error: LongText | None = None
    # What this record is in the release's life: its request, one attempt, or a decision.
    event: (
        Literal[
            "requested",
            "attempt",
            "abandoned",
            "superseded",
            "refused",
            "recovered",
            "waiting",
            "handoff",
            "approved",
            "rejected",
            "rollback",
            "window_wait",
            "window_open",
        ]
        | None
    ) = None
    # Waiting for the env's registry to replicate the digest: since when (no attempt counts).
    waiting_since: Timestamp | None = None
    rollback_of: ShortText | None = None  # this release rolls back the pin of that release
    upstream: ShortText | None = None  # the upstream stage's release this one came from
    soak: SoakProof | None = None  # a handoff after a soak: the proof
    window: WindowWait | None = None  # a promotion window's wait (or `--force` past one)
    auto_rollback: AutoRollback | None = None  # a rollback the factory requested by itself
    media_type: ShortText | None = None
    max_attempts: Annotated[int, Field(ge=0)] | None = None
    retryable: bool | None = None
    next_attempt_at: Timestamp | None = None
    runner: ShortText | None = None


class SmokeObservation(_Strict):
    at: Timestamp
    sync_status: ShortText | None = None
    revision: ShortText | None = None
    operation_phase: ShortText | None = None
    operation_revision: ShortText | None = None
    finished_at: ShortText | None = None
    reconciled_at: ShortText | None = None
    health: ShortText | None = None
    http_status: int | None = None
    images: list[ShortText] = _empty_list()
    note: ShortText | None = None
    # identical consecutive looks are folded into one: how many, and when the last was
    count: Annotated[int, Field(ge=1)] = 1
    last_at: Timestamp | None = None


class SmokeDetails(_Strict):
    kind: Literal["smoke"] = "smoke"
    method: Literal["argocd", "http", "none"]
    env: ShortText | None = None  # absent: the default environment (dev)
    target: ShortText | None = None
    release_id: ShortText | None = None
    digest: ContentDigest | None = None
    pin_commit: ShortText | None = None
    verdict: Literal["passed", "failed", "timeout", "skipped"]
    # which finding the verdict is (VERDICT_KINDS); absent in records written before it was
    # recorded: then derived from `verdict` and `error` (smoke/judgement.py: kind_of_details)
    verdict_kind: Literal[VERDICT_KINDS] | None = None
    reason: LongText | None = None
    duration_ms: Millis = 0
    observations: list[SmokeObservation] = _empty_list()
    # set when the check itself could not run (bad config, auth, unknown app, target down):
    # such a failure says nothing about the release
    error: Literal["config", "auth", "unknown_app", "unavailable", "protocol", "drift"] | None = (
        None
    )


class RepairDetails(_Strict):
    kind: Literal["repair"] = "repair"
    fingerprint: ShortText | None = None
    checks_failed: list[ShortText] = _empty_list()
    recipes: list[ShortText] = _empty_list()
    attempt: Annotated[int, Field(ge=0)] = 0
    patch_digest: ContentDigest | None = None
    patch_lines: Millis = 0
    commit: ShortText | None = None
    refused: ShortText | None = None
    escalation: ShortText | None = None
    log_excerpt: LongText | None = None
    fingerprints: list[ShortText] = _empty_list()
    patch_bytes: Millis = 0
    issue_url: ShortText | None = None


class PagesDetails(_Strict):
    kind: Literal["pages"] = "pages"
    branch: ShortText
    merkle_root: Annotated[str, StringConstraints(pattern=r"^[a-f0-9]{64}$")]
    tree_size: Millis
    site_commit: ShortText | None = None
    pushed: bool = False
    reason: LongText | None = None


def _float_free(value: Any, where: str = "content") -> None:
    """Records hold integers only (see the module docstring): a float would break canonical form."""
    if isinstance(value, float):
        raise ValueError(f"{where}: holds a float; imported values keep floats as their text")
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str) or not key.isascii():
                raise ValueError(f"{where}: key {key!r} is not an ASCII string")
            _float_free(item, f"{where}.{key}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _float_free(item, f"{where}[{index}]")


class ImportedDetails(_Strict):
    """A record the repository kept before the factory (a legacy YAML file), held in full.

    `adopt` writes these at the start of the chain, one per legacy file, in time order; the
    original is moved to `legacy_path` with `git mv`, so `git_blob` still names its bytes.
    """

    kind: Literal["imported"] = "imported"
    original_path: ShortText  # where the file was: evidence/records/<name>.yaml
    legacy_path: ShortText  # where it is now: evidence/legacy/<name>.yaml
    git_blob: Annotated[str, StringConstraints(pattern=r"^[a-f0-9]{40}([a-f0-9]{24})?$")]
    evidence_id: ShortText | None = None  # the legacy `evidenceId`
    env: ShortText | None = None
    # The parsed file (floats and unquoted timestamps as their text); null when it did not parse.
    content: dict[str, Any] | None = None
    # The file's text, kept only when it did not parse as a mapping.
    content_text: LongText | None = None
    # What was wrong with the legacy record (the file still becomes a record of its own).
    problems: list[LongText] = _empty_list()
    # Other legacy files with the same evidenceId: an id collision, kept as separate records.
    collides_with: list[ShortText] = _empty_list()

    @model_validator(mode="after")
    def _content_is_canonical(self) -> ImportedDetails:
        _float_free(self.content)
        if self.content is None and self.content_text is None:
            raise ValueError("an imported record holds content or content_text")
        return self


Details = Annotated[
    PromotionDetails | SmokeDetails | RepairDetails | PagesDetails | ImportedDetails,
    Field(discriminator="kind"),
]
Kind = Literal["promotion", "smoke", "repair", "pages", "imported"]


class RecordBody(_Strict):
    """A record without `integrity`: exactly the bytes the content digest covers."""

    schema_version: Literal[1] = SCHEMA_VERSION
    id: RecordId
    kind: Kind
    service: ServiceName | None
    subject: list[Subject]
    result: Result
    started_at: Timestamp
    finished_at: Timestamp
    producer: Producer
    links: Links = Links()
    parents: list[Parent] = _empty_list()
    details: Details

    @model_validator(mode="after")
    def _details_match_kind(self) -> RecordBody:
        if self.details.kind != self.kind:
            raise ValueError(
                f"details.kind {self.details.kind!r} does not match kind {self.kind!r}"
            )
        if self.finished_at < self.started_at:
            raise ValueError("finished_at is before started_at")
        return self


class EvidenceRecord(RecordBody):
    """A complete record as stored in `evidence/records/<id>.json`."""

    integrity: Integrity


def record_json_schema() -> dict:
    """The JSON Schema of a stored record, as committed under evidence/schema/."""
    schema = EvidenceRecord.model_json_schema(mode="validation")
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = "https://factory.invalid/evidence/evidence-record.schema.json"
    schema["title"] = "factory evidence record"
    return schema
