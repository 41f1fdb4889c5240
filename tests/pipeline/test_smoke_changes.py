"""Smoke records only what changed: the same verdict on the same pin writes no record and no
commit; a changed verdict, or a new pin, writes one."""

from __future__ import annotations

import json

from factory_assets.cli.main import main
from factory_assets.promotion import run_pass
from factory_assets.release.add import add_release
from factory_assets.smoke.landing import smoke_checks_and_land
from resources.registry import RegistryClient
from tests.doubles.argocd import app_status
from tests.smoke.conftest import Answer
from tests.support.oci import push_image


def _smoke_records(remote) -> int:
    clone = remote.new_clone()
    return sum(
        '"kind":"smoke"' in p.read_text() for p in (clone / "evidence" / "records").glob("*.json")
    )


def test_a_stable_service_is_checked_without_churn(
    gitops_remote, registry, endpoint, unique_repo, monkeypatch
):
    monkeypatch.setenv("HARBOR_URL", registry.url)
    ready = endpoint.script("/ready", Answer(200, b"ok"))
    gitops_remote.commit_and_push(
        {
            "envs/dev/api.yaml": f"smoke:\n  url: {ready}\n  timeout_seconds: 3\n  interval_seconds: 1\n"
        },
        "smoke config",
    )
    push_image(registry, unique_repo, "1.0", content=b"one")
    add_release(
        gitops_remote.clone,
        service="api",
        tag="1.0",
        image=registry.image(unique_repo),
        requested_by="ci",
        push=True,
    )
    with RegistryClient(registry.url) as client:
        assert run_pass(gitops_remote.clone, registry=client).ok
    (first,) = smoke_checks_and_land(gitops_remote.clone)
    assert first.verdict == "passed" and _smoke_records(gitops_remote) == 1
    head = gitops_remote.remote_head()
    for _ in range(3):  # a day of 15-minute checks, in short
        (again,) = smoke_checks_and_land(gitops_remote.clone)
        assert again.verdict == "passed" and again.record.id == first.record.id
    assert gitops_remote.remote_head() == head and _smoke_records(gitops_remote) == 1
    endpoint.script("/ready", Answer(503, b"down"))
    (broken,) = smoke_checks_and_land(gitops_remote.clone)
    assert broken.verdict in ("failed", "timeout") and _smoke_records(gitops_remote) == 2
    (still,) = smoke_checks_and_land(gitops_remote.clone)
    assert still.record.id == broken.record.id and _smoke_records(gitops_remote) == 2


def _smoke_record_ids(remote) -> set[str]:
    clone = remote.new_clone()
    return {
        p.stem
        for p in (clone / "evidence" / "records").glob("*.json")
        if '"kind":"smoke"' in p.read_text()
    }


def test_a_change_of_kind_within_failed_is_news_and_the_line_names_its_record(
    gitops_remote, registry, argocd, unique_repo, monkeypatch, capsys
):
    """Degraded, then drift: both `failed`, but two different findings, so two records; the
    CLI line names the record of what it prints. The same drift again is no news."""
    monkeypatch.setenv("HARBOR_URL", registry.url)
    for name, value in argocd.env().items():
        monkeypatch.setenv(name, value)
    gitops_remote.commit_and_push(
        {
            "envs/dev/api.yaml": "smoke:\n  argocd_app: api\n  timeout_seconds: 5\n"
            "  interval_seconds: 0.02\n  request_timeout_seconds: 2\n"
        },
        "smoke config",
    )
    digest = push_image(registry, unique_repo, "1.0", content=b"one")
    add_release(
        gitops_remote.clone,
        service="api",
        tag="1.0",
        image=registry.image(unique_repo),
        requested_by="ci",
        push=True,
    )
    with RegistryClient(registry.url) as client:
        assert run_pass(gitops_remote.clone, registry=client).ok
    synced = gitops_remote.remote_head()  # the pin commit (and its record): what Argo CD synced
    pinned = f"{registry.image(unique_repo)}@{digest}"
    other = f"{registry.image(unique_repo)}@sha256:{'e' * 64}"
    repo = str(gitops_remote.clone)

    def smoke(status: dict) -> tuple[int, str]:
        argocd.replace_status("api", status)
        code = main(["smoke", "--repo", repo])
        (line,) = [ln for ln in capsys.readouterr().out.splitlines() if ln.startswith("api: ")]
        return code, line

    argocd.set_app("api", app_status(revision=synced, images=[pinned]))
    assert smoke(app_status(revision=synced, images=[pinned]))[0] == 0
    (passed,) = _smoke_record_ids(gitops_remote)

    code, line = smoke(app_status(revision=synced, health="Degraded", images=[pinned]))
    assert code == 1 and line.startswith("api: failed (degraded) [argocd, ") and "Degraded" in line
    (degraded,) = _smoke_record_ids(gitops_remote) - {passed}
    assert f", record {degraded}]" in line

    code, line = smoke(app_status(revision=synced, images=[other]))
    head = gitops_remote.remote_head()
    assert code == 1 and line.startswith("api: failed (drift) [argocd, ")
    (drift,) = _smoke_record_ids(gitops_remote) - {passed, degraded}  # news: a record of its own
    assert f", record {drift}]" in line and degraded not in line
    details = _remote_details(gitops_remote, drift)
    assert (details["verdict"], details["verdict_kind"], details["error"]) == (
        "failed",
        "drift",
        "drift",
    )
    assert _remote_details(gitops_remote, degraded)["verdict_kind"] == "degraded"

    code, line = smoke(app_status(revision=synced, images=[other]))
    assert code == 1 and line.startswith("api: failed (drift) [argocd, ")
    assert f", unchanged since record {drift}]" in line  # the record that says what it prints
    assert gitops_remote.remote_head() == head  # no record, no commit
    assert _smoke_record_ids(gitops_remote) == {passed, degraded, drift}


def _remote_details(remote, record_id: str) -> dict:
    path = remote.new_clone() / "evidence" / "records" / f"{record_id}.json"
    return json.loads(path.read_text())["details"]
