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


_JUDGES_THE_PIN: dict[str, bool] = {
    "passed": True,
    "degraded": True,
    "sync_failed": True,
    "drift": True,
    "failed": True,
    "stale": True,
    "timeout": True,
    "skipped": False,
    "unreachable": False,
    "not_found": False,
    "unauthorized": False,
    "misconfigured": False,
    "protocol": False,
}


def judges_the_pin(record_or_kind: object) -> bool:
    """Is this smoke verdict a judgement of the pinned release, or only news about the check?

    Takes a verdict kind, a smoke record (model or raw dict) or its details. The table:

    | kind          | judges | why                                                          |
    |---------------|--------|--------------------------------------------------------------|
    | passed        | yes    | the pin runs, synced and healthy (or its endpoint is ready)  |
    | degraded      | yes    | Degraded/Missing at the pinned revision                      |
    | sync_failed   | yes    | the sync of the pinned revision failed                       |
    | drift         | yes    | the app runs another image than the pin                      |
    | failed        | yes    | any other failure found at the target (a refused redirect)   |
    | stale         | yes    | never trustworthy health before the deadline: not deployed   |
    |               |        | healthy in time, which is the release's to answer for        |
    | timeout       | yes    | not synced, not Healthy, endpoint not ready in time          |
    | skipped       | no     | nothing to check (no pin, no smoke config, pin superseded)   |
    | unreachable   | no     | Argo CD or the endpoint never answered: nothing was seen     |
    |               |        | (a crashing app behind Argo CD is degraded or timeout; the   |
    |               |        | record's `error` has said so since: "nothing about the       |
    |               |        | release")                                                    |
    | not_found     | no     | this Argo CD does not know the app (403/404): wrong cluster, |
    |               |        | URL or project, an operator's mistake                        |
    | unauthorized  | no     | the token was refused (401)                                  |
    | misconfigured | no     | the smoke settings or ARGOCD_* do not allow a check          |
    | protocol      | no     | Argo CD answered something that is not an Application        |

    Only a judgement counts for or against a release (the dashboard's change-failure figures);
    a check that could not judge is the operator's to fix. An unknown kind is a ValueError, so a
    new kind must be placed in this table deliberately.
    """
    if isinstance(record_or_kind, str):
        kind = record_or_kind
    else:
        details = _details_of(record_or_kind)
        kind = kind_of_details(details)
    try:
        return _JUDGES_THE_PIN[kind]
    except KeyError:
        raise ValueError(f"not a smoke verdict kind: {kind!r}") from None


def _details_of(record: object) -> object:
    """A smoke record's details (a model's `details`, a raw record's, or details themselves)."""
    if isinstance(record, Mapping):
        if record.get("kind") not in (None, "smoke"):
            raise ValueError(f"not a smoke record: kind {record.get('kind')!r}")
        details = record.get("details", record)
        if isinstance(details, Mapping) and not details.get("verdict_kind"):
            if "method" not in details:  # e.g. an index line: its verdict alone cannot tell
                raise ValueError("no verdict kind to judge by: pass the smoke record itself")
        return details
    details = getattr(record, "details", record)
    if getattr(details, "kind", "smoke") != "smoke":
        raise ValueError(f"not a smoke record: kind {getattr(details, 'kind', None)!r}")
    return details


def kind_of_details(details: object) -> str:
    """The verdict kind a smoke record's details say: `verdict_kind`, or for a record written
    before it was recorded, the kind its `verdict` and `error` give."""
    get = details.get if isinstance(details, Mapping) else lambda name: getattr(details, name, None)
    return get("verdict_kind") or verdict_kind(get("verdict") or "", get("error"))
