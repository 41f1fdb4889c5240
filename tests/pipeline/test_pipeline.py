"""dev -> prod: a passed dev smoke queues the prod request once, approval gates it, the prod
runner pins the replica on its own registry; rollback requests the last good digest."""

from __future__ import annotations

import json
import subprocess

import pytest
import yaml

from factory_assets.cli.main import main
from factory_assets.evidence.index_scan import summary_line
from factory_assets.promotion import run_pass
from factory_assets.release.add import add_release
from factory_assets.release.queue_file import load_queue
from factory_assets.smoke.landing import smoke_checks_and_land
from resources.registry import RegistryClient
from resources.registry.environments import EnvRegistries
from tests.smoke.conftest import Answer
from tests.support.evidence import validate_cli
from tests.support.oci import push_image

LAYOUT = """\
environments:
  dev: {pins: pin-files}
  prod: {pins: pin-files, after: dev, approval: true}
"""


def _pin(url: str) -> str:
    return f"smoke:\n  url: {url}\n  timeout_seconds: 10\n  interval_seconds: 1\n"


@pytest.fixture
def pipeline(gitops_remote, registry, prod_registry, endpoint, unique_repo, monkeypatch):
    ready = endpoint.script("/ready", Answer(200, b"ok"))
    gitops_remote.commit_and_push(
        {
            "factory.yaml": LAYOUT,
            "envs/dev/api.yaml": _pin(ready),
            "envs/prod/api.yaml": _pin(ready),
            "envs/dev/web.yaml": _pin(ready),  # web has no prod target
        },
        "declare dev -> prod",
    )
    for name in ("FACTORY_ENVS", "HARBOR_USERNAME", "HARBOR_PASSWORD"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HARBOR_URL", registry.url)
    monkeypatch.setenv("HARBOR_URL_DEV", registry.url)
    monkeypatch.setenv("HARBOR_URL_PROD", prod_registry.url)
    return gitops_remote, registry, prod_registry, unique_repo


def _pass(clone, envs, **kw):
    registries = EnvRegistries()
    try:
        return run_pass(clone, registry=registries, envs=envs, **kw)
    finally:
        registries.close()


def _cli(*args: str) -> int:
    try:
        return main(list(args))
    except SystemExit as exc:  # argparse usage errors
        return int(exc.code)


def _queue(remote):
    return {e.id: e for e in load_queue(remote.new_clone()).queue.entries}


def test_a_release_goes_from_dev_to_prod_through_smoke_and_approval(pipeline):
    remote, dev, prod, repo = pipeline
    digest = push_image(dev, repo, "1.0", content=b"api one")
    web = push_image(dev, f"{repo}-web", "1.0", content=b"web one")
    clone = remote.clone
    api_req = add_release(
        clone, service="api", tag="1.0", image=dev.image(repo), requested_by="ci", push=True
    ).entry
    add_release(
        clone,
        service="web",
        tag="1.0",
        image=dev.image(f"{repo}-web"),
        requested_by="ci",
        push=True,
    )
    assert {o.result for o in _pass(clone, {"dev"}).outcomes} == {"success"}
    # The prod runner has nothing yet: no gate opened.
    assert [e for e in _queue(remote).values() if e.env == "prod"] == []

    smoke_checks_and_land(clone)  # dev smoke passes for api and web
    entries = _queue(remote)
    (stage,) = [e for e in entries.values() if e.env == "prod"]
    assert (stage.service, stage.digest, stage.upstream) == ("api", digest, api_req.id)
    assert stage.awaiting_approval and stage.upstream_smoke
    assert entries[api_req.id].handed_off == {"prod": stage.id}
    web_req = next(e for e in entries.values() if e.service == "web")
    assert web_req.handed_off == {"prod": "skipped"} and web
    # A second smoke pass never queues the stage twice.
    smoke_checks_and_land(clone)
    assert len([e for e in _queue(remote).values() if e.env == "prod"]) == 1

    # Awaiting approval: the prod pass waits, even forced.
    waited = _pass(clone, {"prod"}, force=True)
    assert waited.ok and not [o for o in waited.outcomes if o.result == "success"]
    assert waited.plan.for_service("api", "prod").waiting[0].reason == "awaiting approval"
    assert (
        main(
            [
                "release",
                "approve",
                stage.id,
                "--by",
                "alice",
                "--digest",
                "sha256:" + "0" * 64,
                "--push",
                "--repo",
                str(clone),
            ]
        )
        == 1
    )
    assert (
        _cli(*["release", "approve", stage.id, "--by", "alice", "--push", "--repo", str(clone)])
        == 0
    )
    approved = _queue(remote)[stage.id]
    assert approved.approved_by == "alice" and approved.approved_at is not None

    # No replica on the prod registry yet: it waits; once replicated, prod pins its replica.
    assert [o.result for o in _pass(clone, {"prod"}).outcomes] == ["waiting"]
    assert push_image(prod, repo, "1.0", content=b"api one") == digest
    result = _pass(clone, {"prod"})
    assert [o.result for o in result.outcomes] == ["success"]
    pin = yaml.safe_load(remote.new_clone().joinpath("envs/prod/api.yaml").read_text())
    assert pin["image"] == f"{prod.image(repo)}@{digest}"  # the prod cluster's own registry
    assert validate_cli(remote.new_clone()).returncode == 0


def test_rejecting_ends_a_stage_request(pipeline):
    remote, dev, _, repo = pipeline
    push_image(dev, repo, "2.0", content=b"api two")
    add_release(
        remote.clone, service="api", tag="2.0", image=dev.image(repo), requested_by="ci", push=True
    )
    _pass(remote.clone, {"dev"})
    smoke_checks_and_land(remote.clone)
    (stage,) = [e for e in _queue(remote).values() if e.env == "prod"]
    assert (
        _cli(*["release", "reject", stage.id, "--by", "bob", "--push", "--repo", str(remote.clone)])
        == 2
    )
    assert (
        main(
            [
                "release",
                "reject",
                stage.id,
                "--by",
                "bob",
                "--reason",
                "not this week",
                "--push",
                "--repo",
                str(remote.clone),
            ]
        )
        == 0
    )
    rejected = _queue(remote)[stage.id]
    assert rejected.state == "failed" and rejected.last_error == "rejected by bob: not this week"


def test_rollback_requests_the_last_digest_that_passed_smoke(pipeline, endpoint):
    remote, dev, _, repo = pipeline
    clone = remote.clone
    good = push_image(dev, repo, "3.0", content=b"api good")
    bad = push_image(dev, repo, "3.1", content=b"api bad")
    first = add_release(
        clone, service="api", tag="3.0", image=dev.image(repo), requested_by="ci", push=True
    ).entry
    _pass(clone, {"dev"})
    smoke_checks_and_land(clone)
    add_release(
        clone, service="api", tag="3.1", image=dev.image(repo), requested_by="ci", push=True
    )
    _pass(clone, {"dev"})
    assert (
        _cli(*["rollback", "api", "--env", "dev", "--by", "carol", "--push", "--repo", str(clone)])
        == 0
    )
    entries = _queue(remote)
    (rollback,) = [e for e in entries.values() if e.rollback_of]
    assert (rollback.digest, rollback.requested_by) == (good, "carol")
    assert entries[rollback.rollback_of].digest == bad
    (done,) = _pass(clone, {"dev"}).outcomes
    assert done.result == "success"
    check = remote.new_clone()
    pin = yaml.safe_load(check.joinpath("envs/dev/api.yaml").read_text())
    assert pin["image"].endswith(good) and first.digest is None
    record = json.loads((check / "evidence" / "records" / f"{done.evidence_id}.json").read_text())
    assert record["details"]["rollback_of"] == rollback.rollback_of
    assert summary_line(record)["rollback"] is True  # the dashboard's timeline marks it
    subprocess.run(["git", "-C", str(clone), "pull", "-q"], check=True)
    assert (
        main(
            ["rollback", "api", "--env", "dev", "--to", "sha256:" + "e" * 64, "--repo", str(clone)]
        )
        == 1
    )


def test_a_stage_with_retag_tags_the_digest_for_replication_before_queuing(pipeline, monkeypatch):
    remote, dev, prod, repo = pipeline
    remote.commit_and_push(
        {"factory.yaml": LAYOUT.replace("approval: true", "retag: prod-")}, "retag for prod"
    )
    digest = push_image(dev, repo, "4.0", content=b"api four")
    add_release(
        remote.clone, service="api", tag="4.0", image=dev.image(repo), requested_by="ci", push=True
    )
    _pass(remote.clone, {"dev"})
    smoke_checks_and_land(remote.clone)
    (stage,) = [e for e in _queue(remote).values() if e.env == "prod"]
    assert not stage.awaiting_approval
    with RegistryClient(dev.url) as client:
        assert client.head_digest(dev.image(repo), "prod-4.0") == digest  # what Harbor replicates
    record = json.loads(
        (remote.new_clone() / "evidence" / "records" / f"{stage.evidence}.json").read_text()
    )
    (put,) = record["details"]["verification"]
    assert (put["method"], put["computed_digest"]) == ("PUT", digest)
    assert put["url"].endswith(f"/{repo}/manifests/prod-4.0")
    # "replication": the tagged manifest reaches the prod registry; the prod runner pins it.
    assert push_image(prod, repo, "prod-4.0", content=b"api four") == digest
    assert [o.result for o in _pass(remote.clone, {"prod"}).outcomes] == ["success"]


def test_a_newer_digest_supersedes_a_stage_request_only_once_it_reaches_the_gate(pipeline):
    remote, dev, prod, repo = pipeline
    clone = remote.clone
    old = push_image(dev, repo, "5.0", content=b"api five")
    add_release(
        clone, service="api", tag="5.0", image=dev.image(repo), requested_by="ci", push=True
    )
    _pass(clone, {"dev"})
    smoke_checks_and_land(clone)
    (first,) = [e for e in _queue(remote).values() if e.env == "prod"]
    assert first.digest == old and first.awaiting_approval
    new = push_image(dev, repo, "5.1", content=b"api five one")
    add_release(
        clone, service="api", tag="5.1", image=dev.image(repo), requested_by="ci", push=True
    )
    _pass(clone, {"dev"})  # pinned in dev, not smoke-checked yet: the prod gate is closed
    assert _queue(remote)[first.id].state == "pending"
    smoke_checks_and_land(clone)  # the newer digest reaches the gate
    second = next(e for e in _queue(remote).values() if e.env == "prod" and e.digest == new)
    assert (
        _cli("release", "approve", second.id, "--by", "alice", "--push", "--repo", str(clone)) == 0
    )
    push_image(prod, repo, "5.1", content=b"api five one")
    outcomes = {o.release_id: o.result for o in _pass(clone, {"prod"}).outcomes}
    assert outcomes == {second.id: "success", first.id: "superseded"}
