"""Escalation against the GitHub double: one issue per fingerprint, comments on recurrence,
closing after K green runs, secrets redacted, evidence for every step."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from factory_assets.evidence.validate import validate_repo
from factory_assets.repair.counter import (
    count_run,
    counts_from_cursor,
    counts_to_cursor,
    failure_key,
)
from factory_assets.repair.escalate import MARKER, escalate_failure, note_green, send_escalation
from resources.github import GitHubClient, GitHubConfig, GitHubError, client_from_env
from tests.doubles.github import GitHubDouble
from tests.repair.toy import UNFIXABLE_CHECK, break_build, make_toy, toy_recipes


@pytest.fixture
def toy(tmp_path: Path):
    return make_toy(tmp_path, toy_recipes("good", extra=UNFIXABLE_CHECK))


def _client(github: GitHubDouble) -> GitHubClient:
    return GitHubClient(GitHubConfig(github.repository, github.token, github.url))


def test_unfixable_breakage_opens_one_issue(toy, github: GitHubDouble) -> None:
    head = break_build(toy)
    result = toy.run("repair")
    assert result.code == 1
    issues = github.open_issues()
    assert len(issues) == 1
    issue = issues[0]
    assert [label["name"] for label in issue["labels"]] == ["factory-repair"]
    assert "`build`" in issue["title"]
    body = issue["body"]
    marker = MARKER.search(body)
    assert marker and marker["key"] == "build" and marker["green"] == "0"
    assert head in body, "the commit"
    assert f"git checkout {head}" in body and "python tools/check_broken.py" in body, (
        "exact reproduction"
    )
    assert "RuntimeError: the build is broken" in body, "the failing log"
    assert "No recipe fixes `build`" in body
    # every request authenticated the GitHub way
    assert all(r.headers["authorization"] == f"Bearer {github.token}" for r in github.requests)
    assert all(r.headers["x-github-api-version"] == "2022-11-28" for r in github.requests)
    # the escalation is evidence, with the issue's address
    records = toy.repair_records()
    escalated = [r for r in records if r["details"].get("issue_url")]
    assert len(escalated) == 1 and escalated[0]["details"]["escalation"] == "opened #1"
    assert escalated[0]["details"]["fingerprint"] == marker["fp"]
    assert validate_repo(toy.path)[1] == []


def test_recurrence_comments_instead_of_duplicating(toy, github: GitHubDouble) -> None:
    break_build(toy)
    assert toy.run("repair").code == 1
    # a later commit with the same failure (different sha, same normalized error)
    toy.commit({"unrelated.txt": "x\n"}, "Unrelated change")
    assert toy.run("repair").code == 1
    assert len(github.issues) == 1, "no duplicate"
    comments = github.comments[1]
    assert len(comments) == 1 and toy.head().hexsha in comments[0]["body"]
    assert "commented on #1" in [r["details"].get("escalation") for r in toy.repair_records()]


def test_k_green_runs_close_the_issue_and_reset_on_recurrence(toy, github: GitHubDouble) -> None:
    break_build(toy)
    assert toy.run("repair", "--close-after", "2").code == 1
    toy.commit({"tools/check_broken.py": "print('fine')\n"}, "Fix the build by hand")
    assert toy.run("repair", "--close-after", "2").code == 0
    assert MARKER.search(github.issues[1]["body"])["green"] == "1"
    assert github.issues[1]["state"] == "open"
    # the failure comes back: a comment, and the green counter starts over
    break_build(toy)
    assert toy.run("repair", "--close-after", "2").code == 1
    assert MARKER.search(github.issues[1]["body"])["green"] == "0"
    assert len(github.comments[1]) == 1
    toy.commit({"tools/check_broken.py": "print('fine again')\n"}, "Fix it again")
    for expected_state in ("open", "closed"):
        assert toy.run("repair", "--close-after", "2").code == 0
        assert github.issues[1]["state"] == expected_state
    assert github.issues[1]["state_reason"] == "completed"
    assert "2 consecutive green run(s)" in github.comments[1][-1]["body"]
    closed = [
        r
        for r in toy.repair_records()
        if (r["details"].get("escalation") or "").startswith("closed #1")
    ]
    assert len(closed) == 1 and closed[0]["result"] == "success"
    # after closing, the same failure opens a fresh issue
    break_build(toy)
    assert toy.run("repair").code == 1
    assert len(github.open_issues()) == 1 and github.open_issues()[0]["number"] == 2
    assert validate_repo(toy.path)[1] == []


def test_existing_issue_is_found_across_pages(toy, github: GitHubDouble) -> None:
    github.max_per_page = 2
    break_build(toy)
    assert toy.run("repair").code == 1  # issue #1, the oldest: on the last page, newest first
    for n in range(5):
        github.add_issue(
            f"other {n}",
            f"<!-- factory-repair fingerprint={n:016x} key=x green=0 -->",
            ["factory-repair"],
        )
    github.add_issue("a pull request", "", ["factory-repair"], pull_request=True)
    github.requests.clear()
    assert toy.run("repair").code == 1
    assert len(github.open_issues()) == 6 and len(github.comments[1]) == 1, (
        "found, commented, no duplicate"
    )
    pages = [r.query.get("page", ["1"])[0] for r in github.requests if r.method == "GET"]
    assert pages == ["1", "2", "3", "4"], "followed the Link header to the last page"


def test_secrets_in_logs_are_redacted(
    tmp_path: Path, github: GitHubDouble, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DEPLOY_TOKEN", "s3cr3t-deploy-value")
    monkeypatch.setenv("DB_PASSWORD", "hunter2hunter2")
    leaky = (
        "print('using s3cr3t-deploy-value and hunter2hunter2')\n"
        "print('Authorization: Bearer abcdef0123456789xyz')\n"
        "print('curl -H \"Authorization: Basic dXNlcjpwYXNzd29yZA==\" https://deploy:pa55word@git.example/repo.git')\n"
        "print('token ghp_abcdefghijklmnopqrstuvwxyz0123456789')\n"
        "raise SystemExit(1)\n"
    )
    gitops = make_toy(tmp_path, toy_recipes("good", extra=UNFIXABLE_CHECK))
    gitops.commit({"tools/check_broken.py": leaky}, "Leak secrets in the check output")
    assert gitops.run("repair").code == 1
    body = github.open_issues()[0]["body"]
    everything = (
        body + json.dumps([r.body for r in github.requests]) + json.dumps(gitops.repair_records())
    )
    for secret in (
        "s3cr3t-deploy-value",
        "hunter2hunter2",
        "abcdef0123456789xyz",
        "dXNlcjpwYXNzd29yZA==",
        "pa55word",
        "ghp_abc",
        github.token,
    ):
        assert secret not in everything
    assert "Authorization: Bearer [REDACTED]" in body
    assert "https://[REDACTED]@git.example/repo.git" in body
    assert "using [REDACTED] and [REDACTED]" in body


def test_github_errors_are_reported_without_the_token(toy, github: GitHubDouble) -> None:
    break_build(toy)
    github.fail_next = [502]
    result = toy.run("repair")
    assert result.code == 1
    errors = [
        r["details"]["escalation"] for r in toy.repair_records() if r["details"].get("escalation")
    ]
    assert errors and errors[0].startswith("error: GitHub GET /repos/acme/gitops/issues: HTTP 502")
    bad = GitHubClient(GitHubConfig(github.repository, "wrong-token-value", github.url))
    with pytest.raises(GitHubError) as info:
        list(bad.list_open_issues(["factory-repair"]))
    assert info.value.status == 401 and "Bad credentials" in str(info.value)
    assert "wrong-token-value" not in str(info.value)
    assert github.token not in result.out + result.err


def test_dry_run_and_no_escalate_leave_github_alone(toy, github: GitHubDouble) -> None:
    break_build(toy)
    dry = toy.run("repair", "--dry-run")
    assert dry.code == 1 and "would escalate: build" in dry.out
    assert toy.run("repair", "--no-escalate").code == 1
    assert github.requests == []


def test_config_from_env() -> None:
    assert GitHubConfig.from_env({}) is None and client_from_env({}) is None
    config = GitHubConfig.from_env({"GITHUB_TOKEN": "t0ken", "GITHUB_REPOSITORY": "o/r"})
    assert config.api_url == "https://api.github.com" and "t0ken" not in repr(config)
    with pytest.raises(Exception, match="owner/name"):
        GitHubConfig.from_env({"GITHUB_TOKEN": "t", "GITHUB_REPOSITORY": "nope"})


# --- the API the Dagster run-failure sensor calls -------------------------------------------


def test_failure_counter_counts_consecutive_failures_per_key() -> None:
    key = failure_key("payments", "promote")
    assert key == "payments/promote" and failure_key(None, "nightly") == "nightly"
    counts: dict[str, int] = {}
    seen = []
    for failed in (True, True, True, False, True):
        tally = count_run(counts, key, failed=failed, threshold=3)
        counts = tally.counts
        seen.append((tally.count, tally.escalate))
    assert seen == [(1, False), (2, False), (3, True), (0, False), (1, False)]
    other = count_run({"a/b": 2}, "c/d", failed=True, threshold=3)
    assert other.counts == {"a/b": 2, "c/d": 1}, "keys count independently"
    assert counts_from_cursor(counts_to_cursor({"a/b": 2})) == {"a/b": 2}
    assert counts_from_cursor("not json") == {} and counts_from_cursor(None) == {}


def test_escalate_failure_dedupes_and_note_green_closes(
    tmp_path: Path, github: GitHubDouble
) -> None:
    from tests.repair.conftest import make_repo

    gitops = make_repo(tmp_path / "repo")
    client = _client(github)
    log = "promotion of payments failed at 2026-01-01T10:00:00Z: registry said 503 (run 0123456789abcdef)\n"
    kwargs = dict(
        key="payments/promote",
        title="Promotion of payments keeps failing",
        commands=["factory promote payments"],
        commit=gitops.head().hexsha,
        client=client,
    )
    first = escalate_failure(gitops.path, log=log, **kwargs)
    later = log.replace("10:00:00", "11:30:00").replace("0123456789abcdef", "fedcba9876543210")
    second = escalate_failure(gitops.path, log=later, service="payments", run_id="run-2", **kwargs)
    assert (first.action, second.action) == ("opened", "commented")
    assert first.fingerprint == second.fingerprint, (
        "timestamps and run ids do not change the fingerprint"
    )
    assert first.issue_number == second.issue_number and len(github.issues) == 1
    assert (
        note_green(
            gitops.path, keys=["payments/promote"], commit=None, client=client, close_after=2
        )[0].closed
        is False
    )
    closed = note_green(
        gitops.path, keys=["payments/promote"], commit=None, client=client, close_after=2
    )
    assert closed[0].closed and github.issues[1]["state"] == "closed"
    offline = escalate_failure(gitops.path, log=log, **{**kwargs, "client": None})
    assert (
        offline.action == "skipped"
        and "Promotion" not in offline.message
        and offline.body.startswith("<!-- factory-repair")
    )
    records = gitops.repair_records()
    assert [r["details"]["escalation"].split(" ")[0] for r in records] == [
        "opened",
        "commented",
        "closed",
        "not",
    ]
    assert records[1]["service"] == "payments" and records[1]["links"]["dagster_run_id"] == "run-2"
    assert validate_repo(gitops.path)[1] == []


@pytest.fixture
def wrong_api():
    """A real server on loopback that answers 200 with what is not the GitHub API."""
    bodies = {"/repos/acme/gitops/issues": b'{"message": "not a list"}'}

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def _answer(self) -> None:
            data = bodies.get(self.path.split("?")[0], b"<html>proxy login</html>")
            self.send_response(200)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_PATCH = _answer

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", bodies
    server.shutdown()
    server.server_close()


def test_a_200_that_is_not_the_api_is_a_github_error(wrong_api) -> None:
    url, bodies = wrong_api
    client = GitHubClient(GitHubConfig("acme/gitops", "ghs_token", url))
    with pytest.raises(GitHubError, match="GET /repos/acme/gitops/issues: HTTP 200: expected a"):
        list(client.list_open_issues(["factory-repair"]))
    with pytest.raises(GitHubError, match="HTTP 200: expected a JSON object"):
        client.add_comment(1, "hello")
    bodies["/repos/acme/gitops/issues"] = b"[]"  # no open issue: the escalation opens one
    sent = send_escalation(
        key="lint", title="t", log="boom", commands=["make lint"], commit=None, client=client
    )
    assert sent.action == "error" and "expected a JSON object" in sent.message
