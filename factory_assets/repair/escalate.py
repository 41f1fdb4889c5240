"""Escalation: one GitHub issue per failure fingerprint, commented on recurrence, closed after K green runs.

State lives in the issue itself, nowhere else: a marker comment in the body,
`<!-- factory-repair fingerprint=<fp> key=<key> green=<n> -->`, names the fingerprint (for
de-duplication), the key whose green runs count toward closing it (a check name, or
`<service>/<job>` for Dagster runs) and the consecutive green runs seen so far.

`escalate_failure` is the one entry point for every caller: the repair loop and the Dagster
run-failure sensor. Without a GitHub client it still records the escalation as evidence.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
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
    """Open (or comment on) the issue for this failure and record it as `repair` evidence.

    `key` names what failed (a check, or `<service>/<job>`); the fingerprint is
    sha256(key + normalized log) unless given. Never raises for GitHub errors: they are
    returned as action "error" and recorded.
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
    record_id = record_repair(
        repo,
        result="failure",
        head=commit,
        started_at=started,
        service=service,
        run_id=run_id,
        log=log,
        fingerprint=fp,
        fingerprints=[fp],
        checks_failed=[safe_key(key)],
        escalation=message[:4096],
        issue_url=url,
    )
    return EscalationResult(fp, action, number, url, record_id, message, body)


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
