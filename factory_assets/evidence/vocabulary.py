"""The record format's fixed words and patterns, importable without building the pydantic models.

`collect` needs only these; loading the models costs ~50 ms that an incremental collect
would otherwise pay on every run.
"""

SCHEMA_VERSION = 1

RFC3339_UTC = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?Z$"
SHA256_DIGEST = r"^sha256:[a-f0-9]{64}$"
RECORD_ID = r"^[0-9A-HJKMNP-TV-Z]{26}$"
SERVICE_NAME = r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$"

KINDS: tuple[str, ...] = ("promotion", "smoke", "repair", "pages", "imported")
RESULTS: tuple[str, ...] = ("success", "failure", "skipped", "superseded", "refused")

# What a smoke verdict found, in one word (a smoke record's `details.verdict_kind`): `verdict`
# says pass or not, this says which finding. A change of kind is news (a record); the same kind
# again is not. `factory_assets/smoke/judgement.py` says what each word means.
VERDICT_KINDS: tuple[str, ...] = (
    "passed",
    "skipped",
    "degraded",
    "sync_failed",
    "drift",
    "failed",
    "stale",
    "timeout",
    "unreachable",
    "not_found",
    "unauthorized",
    "misconfigured",
    "protocol",
)
