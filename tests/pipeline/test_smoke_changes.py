"""Smoke records only what changed: the same verdict on the same pin writes no record and no
commit; a changed verdict, or a new pin, writes one."""

from __future__ import annotations

from factory_assets.promotion import run_pass
from factory_assets.release.add import add_release
from factory_assets.smoke.landing import smoke_checks_and_land
from resources.registry import RegistryClient
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
