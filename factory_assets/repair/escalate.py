"""Escalation: one GitHub issue per failure fingerprint, commented on recurrence, closed after K green runs.

State lives in the issue itself, nowhere else: a marker comment in the body,
`<!-- factory-repair fingerprint=<fp> key=<key> green=<n> -->`, names the fingerprint (for
de-duplication), the key whose green runs count toward closing it (a check name, or
`<service>/<job>` for Dagster runs) and the consecutive green runs seen so far.

`send_escalation` talks to GitHub and `record_escalation` writes the evidence; the repair
loop calls both through `escalate_failure`, the Dagster run-failure sensor calls the second
inside a git transaction (which may retry) and the first once, before it. Without a GitHub
client the escalation is still recorded as evidence.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal

from factory_assets.common.clock import rfc3339, utc_now
from factory_assets.repair.fingerprint import fingerprint as make_fingerprint
from factory_assets.repair.records import record_repair
from factory_assets.repair.redact import redact, trim_log
from resources.github import GitHubClient, GitHubError

LABEL = "factory-repair"
MARKER = re.compile(
    r"<!-- factory-repair fingerprint=(?P<fp>[0-9a-f]{16}) key=(?P<key>\S+) green=(?P<green>\d+) -->"
)
MAX_TITLE = 200

Action = Literal["opened", "commented", "skipped", "error"]


@dataclass(frozen=True)
class EscalationResult:
    fingerprint: str
    action: Action
    issue_number: int | None = None
    issue_url: str | None = None
    record_id: str | None = None
    message: str = ""
    body: str = ""
    commit: str | None = None
    started_at: str | None = None


@dataclass(frozen=True)
class GreenResult:
    issue_number: int
    fingerprint: str
    key: str
    green: int
    closed: bool
    record_id: str | None = None


def safe_key(key: str) -> str:
    """A key that fits in the marker: no spaces, no `-->`."""
    return re.sub(r"[^A-Za-z0-9._/:@+-]", "_", key)[:200] or "_"


def marker(fp: str, key: str, green: int) -> str:
    return f"<!-- factory-repair fingerprint={fp} key={safe_key(key)} green={green} -->"


def _fence(text: str, lang: str) -> str:
    """A code fence longer than any backtick run inside, so the log cannot close it early."""
    longest = max((len(m) for m in re.findall(r"`+", text)), default=0)
    ticks = "`" * max(3, longest + 1)
    return f"{ticks}{lang}\n{text}\n{ticks}"


def issue_body(
    *,
    fp: str,
    key: str,
    log: str,
    commands: list[str],
    commit: str | None,
    note: str | None = None,
    close_after: int | None = None,
) -> str:
    """The issue body: a minimal reproduction (commands, commit, trimmed and redacted log)."""
    parts = [
        marker(fp, key, 0),
        f"**Fingerprint** `{fp}` · **Key** `{safe_key(key)}` · **Commit** `{commit or 'unknown'}`",
    ]
    if note:
        parts.append(redact(note))
    parts.append("### Reproduce\n\n" + _fence("\n".join(redact(c) for c in commands), "sh"))
    parts.append(
        "### Failing log (trimmed, secrets redacted)\n\n" + _fence(trim_log(redact(log)), "text")
    )
    closing = (
        f"after {close_after} consecutive green runs"
        if close_after
        else "after consecutive green runs"
    )
    parts.append(
        f"---\nManaged by `factory repair`: a recurrence adds a comment here instead of a new issue, "
        f"and the issue closes itself {closing} of `{safe_key(key)}`."
    )
    return "\n\n".join(parts) + "\n"


def find_issue(client: GitHubClient, fp: str) -> tuple[dict, re.Match[str]] | None:
    """The open issue whose marker carries fingerprint `fp`."""
    for issue in client.list_open_issues([LABEL]):
        for match in MARKER.finditer(issue.get("body") or ""):
            if match["fp"] == fp:
                return issue, match
    return None


def escalate_failure(
    repo: Path,
    *,
    key: str,
    title: str,
    log: str,
    commands: list[str],
    commit: str | None,
    client: GitHubClient | None,
    labels: list[str] | None = None,
    note: str | None = None,
    close_after: int | None = None,
    service: str | None = None,
    run_id: str | None = None,
    fingerprint: str | None = None,
) -> EscalationResult:
    """Open (or comment on) the issue for this failure and record it as `repair` evidence in
    the work tree `repo` (the repair loop's own checkout). Callers that commit the record
    through a git transaction call `send_escalation` once and `record_escalation` inside it.
    """
    sent = send_escalation(
        key=key,
        title=title,
        log=log,
        commands=commands,
        commit=commit,
        client=client,
        labels=labels,
        note=note,
        close_after=close_after,
        fingerprint=fingerprint,
    )
    return record_escalation(repo, sent, key=key, log=log, service=service, run_id=run_id)


def send_escalation(
    *,
    key: str,
    title: str,
    log: str,
    commands: list[str],
    commit: str | None,
    client: GitHubClient | None,
    labels: list[str] | None = None,
    note: str | None = None,
    close_after: int | None = None,
    fingerprint: str | None = None,
) -> EscalationResult:
    """The GitHub side of an escalation: open the issue, or comment on the open one.

    `key` names what failed (a check, or `<service>/<job>`); the fingerprint is
    sha256(key + normalized log) unless given. Never raises for GitHub errors: they are
    returned as action "error". Call it once per failure, never inside a retried transaction:
    each call that finds the issue adds a comment.
    """
    started = rfc3339(utc_now())
    fp = fingerprint or make_fingerprint(key, log)
    body = issue_body(
        fp=fp,
        key=key,
        log=log,
        commands=commands,
        commit=commit,
        note=note,
        close_after=close_after,
    )
    number, url = None, None
    if client is None:
        action: Action = "skipped"
        message = "not sent: GITHUB_TOKEN or GITHUB_REPOSITORY is unset"
    else:
        try:
            found = find_issue(client, fp)
            if found is None:
                issue = client.create_issue(
                    redact(title)[:MAX_TITLE], body, sorted({LABEL, *(labels or [])})
                )
                action, message = "opened", f"opened #{issue['number']}"
            else:
                issue, match = found
                client.add_comment(
                    issue["number"], _recurrence_comment(log, commit, int(match["green"]))
                )
                if int(match["green"]):
                    reset = issue["body"].replace(match[0], marker(fp, match["key"], 0), 1)
                    client.update_issue(issue["number"], body=reset)
                action, message = "commented", f"commented on #{issue['number']}"
            number, url = int(issue["number"]), issue.get("html_url")
        except GitHubError as exc:
            action, message = "error", f"error: {redact(str(exc))}"
    return EscalationResult(
        fp, action, number, url, None, message, body, commit=commit, started_at=started
    )


def record_escalation(
    tree: Path,
    sent: EscalationResult,
    *,
    key: str,
    log: str,
    service: str | None = None,
    run_id: str | None = None,
) -> EscalationResult:
    """Append the `repair`/`failure` record of a sent escalation to the chain in `tree`."""
    record_id = record_repair(
        tree,
        result="failure",
        head=sent.commit,
        started_at=sent.started_at or rfc3339(utc_now()),
        service=service,
        run_id=run_id,
        log=log,
        fingerprint=sent.fingerprint,
        fingerprints=[sent.fingerprint],
        checks_failed=[safe_key(key)],
        escalation=sent.message[:4096],
        issue_url=sent.issue_url,
    )
    return replace(sent, record_id=record_id)


def _recurrence_comment(log: str, commit: str | None, green: int) -> str:
    reset = f" The green-run counter was at {green} and is reset to 0." if green else ""
    excerpt = trim_log(redact(log), head=5, tail=40, max_chars=4000)
    return (
        f"Recurred at commit `{commit or 'unknown'}`.{reset}\n\n" + _fence(excerpt, "text") + "\n"
    )


def note_green(
    repo: Path,
    *,
    keys: list[str],
    commit: str | None,
    client: GitHubClient | None,
    close_after: int,
) -> list[GreenResult]:
    """Count one green run for every open issue of `keys`; close those that reach `close_after`.

    Raises GitHubError on API failures (the caller decides whether that fails its run).
    """
    if client is None or not keys:
        return []
    wanted = {safe_key(k) for k in keys}
    results = []
    for issue in list(client.list_open_issues([LABEL])):
        body = issue.get("body") or ""
        match = MARKER.search(body)
        if match is None or match["key"] not in wanted:
            continue
        green = int(match["green"]) + 1
        new_body = body.replace(match[0], marker(match["fp"], match["key"], green), 1)
        number = int(issue["number"])
        if green < close_after:
            client.update_issue(number, body=new_body)
            results.append(GreenResult(number, match["fp"], match["key"], green, False))
            continue
        client.add_comment(
            number,
            f"Closing: {green} consecutive green run(s) of `{match['key']}`, the last at commit `{commit or 'unknown'}`.",
        )
        client.update_issue(number, body=new_body, state="closed", state_reason="completed")
        record_id = record_repair(
            repo,
            result="success",
            head=commit,
            started_at=rfc3339(utc_now()),
            fingerprint=match["fp"],
            fingerprints=[match["fp"]],
            escalation=f"closed #{number} after {green} green run(s)",
            issue_url=issue.get("html_url"),
        )
        results.append(GreenResult(number, match["fp"], match["key"], green, True, record_id))
    return results
