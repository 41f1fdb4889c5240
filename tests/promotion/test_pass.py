"""Pass semantics: supersede, batching, hold/force, kustomize, round trip, bad pins and entries, CLI."""

from __future__ import annotations

import json
import subprocess
import threading
from datetime import timedelta
from pathlib import Path

import pytest

from factory_assets.cli.main import main
from factory_assets.common import roundtrip_yaml
from factory_assets.common.clock import utc_now
from factory_assets.promotion import plan_pass, run_pass
from factory_assets.release.add import add_release
from factory_assets.release.queue_file import load_queue
from resources.gitops import GitopsWriter
from resources.registry import RegistryClient
from tests.promotion.conftest import Deploy
from tests.support.dagster_daemon import wait_for


def record(deploy: Deploy, record_id: str) -> dict:
    return json.loads(deploy.show(f"evidence/records/{record_id}.json"))


def changed_files(deploy: Deploy, commit: str) -> list[str]:
    return deploy.git("show", "--name-only", "--format=", commit).split()


def test_newest_wins_older_are_superseded_with_records(deploy: Deploy) -> None:
    digests = [deploy.push("api", f"v{n}") for n in (1, 2, 3)]
    r1, r2, r3 = (deploy.add("api", tag=f"v{n}") for n in (1, 2, 3))
    result = deploy.run()
    assert result.ok
    by_id = {o.release_id: o for o in result.outcomes}
    assert by_id[r3.id].result == "success" and by_id[r3.id].digest == digests[2]
    queue = deploy.queue()
    for old in (r1, r2):
        assert by_id[old.id].result == "superseded"
        entry = queue.by_id(old.id)
        assert (entry.state, entry.superseded_by, entry.attempts) == ("superseded", r3.id, 0)
        rec = record(deploy, entry.evidence)
        assert rec["result"] == "superseded" and rec["details"]["superseded_by"] == r3.id
        assert f"newer release {r3.id}" in rec["details"]["reason"]
    assert deploy.pin("api")["release_id"] == r3.id


def test_ready_services_are_pinned_in_one_commit(deploy: Deploy) -> None:
    services = [f"svc{n}" for n in range(5)]
    for name in services:
        deploy.push(name, "v1")
    deploy.add_many(services)
    before = len(deploy.commits())
    result = deploy.run()
    assert result.ok and len(result.commits) == 3  # claim, pins, records: not one per service
    assert len(deploy.commits()) == before + 3
    pin_commit = {o.commit for o in result.outcomes}
    assert len(pin_commit) == 1
    files = changed_files(deploy, pin_commit.pop())
    assert sorted(f for f in files if f.startswith("envs/")) == [
        f"envs/dev/{s}.yaml" for s in services
    ]


def test_hold_waits_and_force_promotes_with_a_forced_record(deploy: Deploy) -> None:
    deploy.commit({"envs/dev/api.yaml": "hold: true  # incident 42\n"}, "hold api")
    deploy.push("api", "v1")
    entry = deploy.add("api", tag="v1")
    plan = plan_pass(deploy.clone, fetch=True)
    assert plan.services[0].waiting[0].reason == "service on hold"
    result = deploy.run()
    assert result.outcomes == () and result.commits == ()
    assert deploy.queue().by_id(entry.id).state == "pending"
    forced = deploy.run(force=True)
    (outcome,) = forced.outcomes
    assert outcome.result == "success" and outcome.forced
    assert record(deploy, deploy.queue().by_id(entry.id).evidence)["details"]["forced"] is True
    text = deploy.show("envs/dev/api.yaml")
    assert "hold: true  # incident 42" in text  # the user's hold survives the forced promotion


def test_a_hold_set_while_the_digest_resolves_wins_over_the_claim(
    deploy: Deploy, make_fault_proxy
) -> None:
    proxy = make_fault_proxy(deploy.registry)  # the registry, answering a little slowly
    deploy.push("api", "v1")
    entry = add_release(
        deploy.clone,
        service="api",
        tag="v1",
        image=proxy.image(f"{deploy.prefix}/api"),
        requested_by="test",
        push=True,
        harbor_url=proxy.url,
    ).entry
    proxy.delay_next(1, 3.0, method="GET")  # the manifest fetch of the pass
    outcome: list = []
    with RegistryClient(proxy.url) as client:
        promoter = threading.Thread(
            target=lambda: outcome.append(run_pass(deploy.clone, registry=client))
        )
        promoter.start()
        # The claim is on the remote and the pass's manifest fetch is held by the proxy.
        wait_for(
            lambda: deploy.queue().by_id(entry.id).state == "promoting" and proxy.held == 1,
            30,
            interval=0.05,
            what=lambda: f"the claim of {entry.id} pushed and its manifest fetch held",
        )
        deploy.commit({"envs/dev/api.yaml": "hold: true  # incident 43\n"}, "hold api")
        promoter.join(timeout=60)
    assert deploy.pin("api").get("image") is None  # not pinned through the hold
    assert deploy.queue().by_id(entry.id).state == "pending"
    (result,) = outcome
    assert any("on hold" in (o.error or "") for o in result.outcomes), result.to_dict()


def test_a_pin_push_to_a_vanished_branch_fails_the_release_instead_of_retrying(
    deploy: Deploy, tmp_path: Path
) -> None:
    """RemoteBranchMissing says no later attempt can land: the attempt fails, it is not retried."""
    deploy.push("api", "v1")
    entry = deploy.add("api", tag="v1")
    # The remote's upload-pack answers one fetch from a repository without the branch: the
    # pin step's, right after the claim landed. The record step's fetch sees the branch again.
    empty = tmp_path / "empty.git"
    subprocess.run(["git", "init", "-q", "--bare", str(empty)], check=True)
    gone = tmp_path / "branch-gone"
    upload_pack = tmp_path / "upload-pack"
    upload_pack.write_text(
        f'#!/bin/sh\nif [ -e "{gone}" ]; then rm "{gone}"; exec git-upload-pack "{empty}"; fi\n'
        'exec git-upload-pack "$@"\n'
    )
    upload_pack.chmod(0o755)
    subprocess.run(
        ["git", "-C", str(deploy.clone), "config", "remote.origin.uploadpack", str(upload_pack)],
        check=True,
    )

    def branch_vanishes_after_the_claim(point: str) -> None:
        if point == "claim_release:pushed":
            gone.touch()

    result = deploy.run(
        writer=GitopsWriter(deploy.clone, checkpoint=branch_vanishes_after_the_claim)
    )
    assert not gone.exists()  # the pin step's fetch was the one that found no branch
    (outcome,) = result.outcomes
    assert outcome.result == "failure", outcome
    after = deploy.queue().by_id(entry.id)
    assert (after.state, after.attempts, after.next_attempt_at) == ("failed", 1, None)
    details = record(deploy, after.evidence)["details"]
    assert details["retryable"] is False, details
    assert "pin not pushed: the remote 'origin' has no branch 'main'" in details["error"]
    assert deploy.pin("api") is None  # never pinned


def test_kustomize_overlay_gets_the_digest_in_the_same_commit(deploy: Deploy) -> None:
    image = deploy.image("api")
    overlay = (
        f"resources:\n  - ../../base\nimages:\n  - name: {image}  # api image\n    newTag: latest\n"
    )
    deploy.commit(
        {
            "deploy/overlays/dev/kustomization.yaml": overlay,
            "envs/dev/api.yaml": "kustomization: deploy/overlays/dev\n",
        },
        "overlay",
    )
    digest = deploy.push("api", "v1")
    deploy.add("api", tag="v1")
    (outcome,) = deploy.run().outcomes
    files = changed_files(deploy, outcome.commit)
    assert "deploy/overlays/dev/kustomization.yaml" in files and "envs/dev/api.yaml" in files
    text = deploy.show("deploy/overlays/dev/kustomization.yaml")
    assert f"digest: {digest}" in text and "newTag" not in text and "# api image" in text
    pins = record(deploy, outcome.evidence_id)["details"]["pin"]
    assert [p["path"] for p in pins] == [
        "envs/dev/api.yaml",
        "deploy/overlays/dev/kustomization.yaml",
    ]


def test_user_comments_and_key_order_survive_promotions(deploy: Deploy) -> None:
    user = (
        "# api dev pin. Ask #payments before holding.\n"
        "track: main    # Harbor tag to follow\n"
        "hold: false\n"
        "smoke:\n"
        "  # Argo CD first, then the URL\n"
        "  argocd_app: api-dev\n"
        "  url: http://127.0.0.1:9/healthz\n"
    )
    deploy.commit({"envs/dev/api.yaml": user}, "user settings")
    for tag in ("v1", "v2"):
        digest = deploy.push("api", tag)
        deploy.add("api", tag=tag)
        assert deploy.run().ok
    text = deploy.show("envs/dev/api.yaml")
    assert text.startswith("# api dev pin. Ask #payments before holding.\n")
    assert user.split("\n", 1)[1] in text
    keys = list(roundtrip_yaml.loads(text, "pin"))
    assert keys == [
        "service",
        "image",
        "tag",
        "release_id",
        "promoted_at",
        "track",
        "hold",
        "smoke",
    ]
    assert f"@{digest}" in text


def test_invalid_pin_file_blocks_its_service_and_changes_nothing(deploy: Deploy, capsys) -> None:
    deploy.push("api", "v1")
    deploy.add("api", tag="v1")
    deploy.commit({"envs/dev/api.yaml": "hold: perhaps\n"}, "typo")
    head = deploy.remote.remote_head()
    result = deploy.run()
    (outcome,) = result.outcomes
    assert outcome.result == "refused" and "envs/dev/api.yaml: hold:" in outcome.error
    assert result.exit_code == 1 and deploy.remote.remote_head() == head


def test_malformed_entry_fails_fast_and_others_still_promote(deploy: Deploy) -> None:
    deploy.push("web", "v1")
    deploy.add("web", tag="v1")
    data = roundtrip_yaml.loads(deploy.show("release/queue.yaml"), "q")
    data["releases"].append(
        {
            "id": "r-bad",
            "service": "api",
            "image": deploy.image("api"),
            "tag": "no spaces please",
            "requested_at": "2026-01-01T00:00:00Z",
            "requested_by": "x",
        }
    )
    deploy.commit({"release/queue.yaml": roundtrip_yaml.dumps(data)}, "bad entry")
    result = deploy.run()
    by_service = {o.service: o for o in result.outcomes}
    assert by_service["web"].result == "success"
    assert (
        by_service["api"].result == "refused"
        and "releases[1] (id r-bad).tag" in by_service["api"].error
    )
    assert result.exit_code == 1
    raw = roundtrip_yaml.loads(deploy.show("release/queue.yaml"), "q")["releases"][1]
    assert raw["state"] == "failed" and "tag" in raw["last_error"] and raw["evidence"]
    again = deploy.run()
    assert again.outcomes == () and again.exit_code == 0  # failed once, then left alone


def test_pin_never_goes_back_to_an_older_request(deploy: Deploy) -> None:
    deploy.push("api", "v2")
    newer = deploy.add("api", tag="v2")
    assert deploy.run().ok
    deploy.push("api", "v1")
    older = deploy.add("api", tag="v1", now=newer.requested_at - timedelta(hours=1))
    (outcome,) = deploy.run().outcomes
    assert outcome.result == "superseded" and outcome.superseded_by == newer.id
    assert deploy.pin("api")["release_id"] == newer.id
    assert deploy.queue().by_id(older.id).state == "superseded"


def test_links_reach_the_records(deploy: Deploy) -> None:
    deploy.push("api", "v1")
    deploy.add("api", tag="v1")
    links = {"dagster_run_id": "run-123", "asset_key": "lane_pin", "partition": "api", "bogus": "x"}
    (outcome,) = deploy.run(links=links).outcomes
    got = record(deploy, outcome.evidence_id)["links"]
    assert got["dagster_run_id"] == "run-123" and got["partition"] == "api" and "bogus" not in got


def test_local_only_repository_commits_in_place(tmp_path: Path, registry) -> None:
    repo = tmp_path / "local"
    subprocess.run(["git", "init", "-q", "-b", "main", str(repo)], check=True)
    (repo / "release").mkdir()
    (repo / "release" / "queue.yaml").write_text("releases: []\n")
    (repo / "notes.txt").write_text("user work in progress\n")
    subprocess.run(["git", "-C", str(repo), "add", "notes.txt"], check=True)  # staged, not ours
    helper = Deploy(None, registry)  # type: ignore[arg-type]
    digest = helper.push("solo", "v1")
    add_release(repo, service="solo", tag="v1", image=helper.image("solo"), harbor_url=registry.url)
    with RegistryClient(registry.url) as client:
        result = run_pass(repo, registry=client)
    assert result.ok and result.mode == "local" and not result.pushed and len(result.commits) == 3
    assert f"@{digest}" in (repo / "envs" / "dev" / "solo.yaml").read_text()
    assert load_queue(repo).queue.entries[0].state == "promoted"
    staged = subprocess.run(
        ["git", "-C", str(repo), "diff", "--cached", "--name-only"], capture_output=True, text=True
    )
    assert staged.stdout.split() == ["notes.txt"]  # the user's staged file was not committed


def test_local_only_repository_commits_its_own_queue_path(tmp_path: Path, registry) -> None:
    """factory.yaml moves the queue: every step of the pass commits that file, not the default."""
    repo = tmp_path / "local"
    subprocess.run(["git", "init", "-q", "-b", "main", str(repo)], check=True)
    (repo / "factory.yaml").write_text(
        "queue: {path: deploy/queue.yaml}\nenvironments:\n  dev: {pins: pin-files}\n"
    )
    (repo / "deploy").mkdir()
    (repo / "deploy" / "queue.yaml").write_text("releases: []\n")
    helper = Deploy(None, registry)  # type: ignore[arg-type]
    digest = helper.push("solo", "v1")
    add_release(repo, service="solo", tag="v1", image=helper.image("solo"), harbor_url=registry.url)
    with RegistryClient(registry.url) as client:
        result = run_pass(repo, registry=client)
    assert result.ok and result.mode == "local" and len(result.commits) == 3
    committed = subprocess.run(
        ["git", "-C", str(repo), "show", "HEAD:deploy/queue.yaml"], capture_output=True, text=True
    ).stdout
    assert "state: promoted" in committed and digest in committed
    left = subprocess.run(
        ["git", "-C", str(repo), "status", "--porcelain", "deploy"], capture_output=True, text=True
    )
    assert left.stdout == ""  # nothing of the pass left uncommitted


def cli(deploy: Deploy, *args: str) -> int:
    try:
        return main([*args, "--repo", str(deploy.clone)])
    except SystemExit as exc:
        return int(exc.code)


def test_cli_dry_run_prints_the_plan_and_changes_nothing(
    deploy: Deploy, harbor_env, capsys
) -> None:
    harbor_env(deploy.registry)
    for tag in ("v1", "v2"):
        deploy.push("api", tag)
    r1, r2 = deploy.add("api", tag="v1"), deploy.add("api", tag="v2")
    deploy.commit({"envs/dev/web.yaml": "hold: true\n"}, "hold web")
    deploy.push("web", "v1")
    w1 = deploy.add("web", tag="v1")
    head = deploy.remote.remote_head()
    assert cli(deploy, "promote", "--dry-run") == 0
    out = capsys.readouterr().out
    assert f"api: promote {r2.id}" in out and f"supersede {r1.id} (by {r2.id})" in out
    assert f"web: wait {w1.id} (service on hold)" in out
    assert deploy.remote.remote_head() == head
    assert cli(deploy, "promote", "--dry-run", "--json", "--service", "api") == 0
    plan = json.loads(capsys.readouterr().out)
    assert [s["service"] for s in plan["services"]] == ["api"]


def test_cli_exit_codes(deploy: Deploy, harbor_env, capsys, monkeypatch) -> None:
    harbor_env(deploy.registry)
    deploy.push("api", "v1")
    deploy.add("api", tag="v1")
    assert cli(deploy, "promote") == 0
    assert "api" in capsys.readouterr().out
    assert cli(deploy, "promote", "--bogus") == 2
    assert cli(deploy, "promote", "--service", "../x") == 1
    assert "arguments: --service:" in capsys.readouterr().err
    deploy.add("api", tag="missing-tag")
    assert cli(deploy, "promote") == 1  # 404 on a tag: retry later, this pass failed
    monkeypatch.setenv("HARBOR_REQUESTS_PER_SECOND", "fast")
    assert cli(deploy, "promote") == 1
    assert "environment: HARBOR_REQUESTS_PER_SECOND: expected a number" in capsys.readouterr().err
    monkeypatch.delenv("HARBOR_REQUESTS_PER_SECOND")
    monkeypatch.delenv("HARBOR_URL")
    assert cli(deploy, "promote") == 1
    assert "environment: HARBOR_URL: not set" in capsys.readouterr().err


def test_an_unreachable_remote_is_a_clean_cli_error(deploy: Deploy, harbor_env, capsys) -> None:
    harbor_env(deploy.registry)
    gone = deploy.clone.parent / "moved-away.git"
    subprocess.run(
        ["git", "-C", str(deploy.clone), "remote", "set-url", "origin", str(gone)], check=True
    )
    assert cli(deploy, "promote", "--dry-run") == 1  # a message, not a traceback
    err = capsys.readouterr().err
    assert err.startswith("factory: error: git fetch origin failed") and str(gone) in err


def test_status_after_promotion(deploy: Deploy, capsys) -> None:
    digest = deploy.push("api", "v1")
    entry = deploy.add("api", tag="v1")
    deploy.run()
    subprocess.run(["git", "-C", str(deploy.clone), "pull", "-q"], check=True)
    assert cli(deploy, "release", "status") == 0
    row = capsys.readouterr().out.splitlines()[1].split()
    assert row == ["api", digest, "v1", "promoted", f"({entry.id})", "1/5", "-", "-", "-"]


@pytest.mark.parametrize("retry_now", [False, True])
def test_backoff_is_respected_unless_due(deploy: Deploy, retry_now: bool) -> None:
    entry = deploy.add("api", tag="nope")
    deploy.run(client_kwargs={"retries": 0})
    waiting = deploy.queue().by_id(entry.id)
    deploy.push("api", "nope")
    later = waiting.next_attempt_at + timedelta(seconds=1) if retry_now else utc_now()
    result = deploy.run(now=later)
    assert [o.result for o in result.outcomes] == (["success"] if retry_now else [])


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("releases: oops\n", "release/queue.yaml: releases: expected a list"),
        ("a: &a [x]\nb: *a\nreleases: []\n", "YAML aliases are not allowed"),
    ],
)
def test_cli_promote_with_a_bad_queue_changes_nothing(
    deploy: Deploy, harbor_env, capsys, text: str, needle: str
) -> None:
    harbor_env(deploy.registry)
    deploy.commit({"release/queue.yaml": text}, "broken queue")
    head = deploy.remote.remote_head()
    assert cli(deploy, "promote") == 1
    assert needle in capsys.readouterr().err
    assert cli(deploy, "promote", "--dry-run") == 1
    assert deploy.remote.remote_head() == head
