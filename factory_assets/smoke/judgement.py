"""What one look at a target says: pass, wait, fail or skip, with the observation behind it;
and the kind of verdict a check ends with (what a smoke record says, in one word)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from factory_assets.evidence.vocabulary import VERDICT_KINDS

State = Literal["pass", "wait", "fail", "skip"]
# Why a check could not run at all (as opposed to the release failing it); or `drift`: the
# check ran, and the application runs another image than the pin.
ErrorKind = Literal["config", "auth", "unknown_app", "unavailable", "protocol", "drift"]

# The kinds of verdict (recorded as `details.verdict_kind`; a change of kind is news):
#   passed, skipped;
#   degraded     the app's health is Degraded or Missing at the pinned revision
#   sync_failed  the sync operation of the pinned revision Failed or Errored
#   drift        the app runs another image than the pin
#   failed       any other failure the release is blamed for (e.g. a refused redirect)
#   stale        timed out while Argo CD's health was older than its last sync (not trusted)
#   timeout      timed out waiting (revision not synced yet, Progressing, endpoint not ready)
#   unreachable  the target (Argo CD or the endpoint) did not answer until the deadline
#   not_found    Argo CD does not know the application (or may not show it)
#   unauthorized the token was refused
#   misconfigured the smoke settings (or ARGOCD_*) do not allow a check
#   protocol     Argo CD answered something that is not an Application
VerdictKind = Literal[VERDICT_KINDS]  # type: ignore[valid-type]

_KIND_OF_ERROR: dict[str, str] = {
    "drift": "drift",
    "unavailable": "unreachable",
    "unknown_app": "not_found",
    "auth": "unauthorized",
    "config": "misconfigured",
    "protocol": "protocol",
}


@dataclass(frozen=True)
class Judgement:
    state: State
    reason: str
    # SmokeObservation fields except `at`: what was seen, exactly as the target reported it.
    observation: dict = field(default_factory=dict)
    refresh: bool = False  # Argo CD: ask for a refresh before the next look
    error: ErrorKind | None = None
    # The verdict kind this look would end with, where state and error do not say it
    # (degraded, sync_failed; stale for a wait): see `verdict_kind`.
    kind: VerdictKind | None = None


def verdict_kind(verdict: str, error: str | None, hint: str | None = None) -> str:
    """The kind of a check's verdict: from the error that ended it, else the last look's
    hint, else the verdict itself (`failed` and `timeout` with nothing more to say)."""
    if verdict in ("passed", "skipped"):
        return verdict
    if error in _KIND_OF_ERROR:
        return _KIND_OF_ERROR[error]
    if hint in VERDICT_KINDS and hint not in ("passed", "skipped"):
        return hint
    return "timeout" if verdict == "timeout" else "failed"


def kind_of_details(details: object) -> str:
    """The verdict kind a smoke record's details say: `verdict_kind`, or for a record written
    before it was recorded, the kind its `verdict` and `error` give."""
    get = details.get if isinstance(details, Mapping) else lambda name: getattr(details, name, None)
    return get("verdict_kind") or verdict_kind(get("verdict") or "", get("error"))
