"""A smoke check that cannot judge the pin (this Argo CD does not know the application) is the
operator's to fix: it opens no gate to the next stage, closes none, fails no release, and
takes no passed release out of what `factory rollback` goes back to."""

from __future__ import annotations

import pytest

from factory_assets.pipeline.rollback import request_rollback
from factory_assets.promotion import run_pass
from factory_assets.release.add import add_release
from factory_assets.release.queue_file import load_queue
from factory_assets.smoke.judgement import judges_the_pin
from factory_assets.smoke.landing import smoke_checks_and_land
from resources.registry.environments import EnvRegistries
from tests.doubles.argocd import ArgoCDDouble, app_status
from tests.support.oci import push_image

LAYOUT = """\
environments:
  dev: {pins: pin-files}
  prod: {pins: pin-files, after: dev}
"""
SMOKE = "smoke:\n  argocd_app: api-{env}\n  timeout_seconds: 5\n  interval_seconds: 0.02\n"


@pytest.fixture
def elsewhere():
    """Another cluster's Argo CD, which has no `api-dev`: where a misconfigured runner looks."""
    with ArgoCDDouble() as double:
        yield double


def _promote(remote, registry, repo: str, tag: str) -> str:
    push_image(registry, repo, tag, content=f"api {tag}".encode())
    add_release(
        remote.clone,
        service="api",
        tag=tag,
        image=registry.image(repo),
        requested_by="ci",
        push=True,
        env="dev",
        harbor_url=registry.url,
    )
    registries = EnvRegistries()
    try:
        assert run_pass(remote.clone, registry=registries, envs={"dev"}).ok
    finally:
        registries.close()
    (entry,) = [
        e for e in load_queue(remote.new_clone()).queue.entries if e.env == "dev" and e.tag == tag
    ]
    return entry.id


def test_an_argocd_without_the_app_neither_gates_nor_fails_nor_hides_a_rollback_target(
    gitops_remote, registry, unique_repo, argocd, elsewhere, monkeypatch
):
    for name in ("FACTORY_ENVS", "HARBOR_USERNAME", "HARBOR_PASSWORD"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HARBOR_URL", registry.url)
    monkeypatch.setenv("ARGOCD_TOKEN", argocd.token)
    gitops_remote.commit_and_push(
        {
            "factory.yaml": LAYOUT,
            "envs/dev/api.yaml": SMOKE.format(env="dev"),
            "envs/prod/api.yaml": SMOKE.format(env="prod"),
        },
        "dev feeds prod",
    )
    clone = gitops_remote.clone
    first = _promote(gitops_remote, registry, unique_repo, "1.0")
    release = load_queue(gitops_remote.new_clone()).queue.by_id(first)
    argocd.set_app(
        "api-dev",
        app_status(
            revision=release.promoted_commit,
            images=[f"{registry.image(unique_repo)}@{release.digest}"],
        ),
    )

    def smoke(double: ArgoCDDouble):
        monkeypatch.setenv("ARGOCD_URL", double.url)
        (outcome,) = smoke_checks_and_land(clone, environments=["dev"])
        return outcome, load_queue(gitops_remote.new_clone()).queue

    mistake, queue = smoke(elsewhere)  # before any judgement: no gate opens
    assert (mistake.kind, judges_the_pin(mistake.record)) == ("not_found", False)
    assert [e.env for e in queue.entries] == ["dev"]
    assert queue.by_id(first).smoke_verdict is None  # the release is not failed by it

    passed, queue = smoke(argocd)
    assert passed.verdict == "passed" and judges_the_pin(passed.record)
    (stage,) = [e for e in queue.entries if e.env == "prod"]  # the gate opened, once

    again, queue = smoke(elsewhere)  # a mistake after the pass: news, recorded
    assert again.recorded and again.kind == "not_found"
    entry = queue.by_id(first)
    assert (entry.smoke_verdict, entry.smoke_evidence) == ("passed", again.record.id)
    assert [(e.id, e.state) for e in queue.entries if e.env == "prod"] == [(stage.id, "pending")]
    head = gitops_remote.remote_head()
    same, _ = smoke(elsewhere)  # the same mistake again: no news, no commit
    assert not same.recorded and same.record.id == again.record.id
    assert gitops_remote.remote_head() == head

    second = _promote(gitops_remote, registry, unique_repo, "2.0")
    rollback = request_rollback(clone, "api", "dev", by="ops", push=True)
    assert rollback.target.id == first  # it passed smoke: the mistake did not un-pass it
    assert rollback.entry.rollback_of == second
