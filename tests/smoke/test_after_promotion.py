"""Smoke after a real promotion pass: real registry, real git remote, the engine's own records."""

from __future__ import annotations

import git

from factory_assets.evidence.validate import validate_repo
from factory_assets.promotion import run_pass
from factory_assets.release.add import add_release
from factory_assets.smoke.check import check_service
from resources.registry import RegistryClient
from tests.doubles.argocd import app_status
from tests.support.oci import push_image


def test_smoke_checks_what_the_promotion_engine_pinned(gitops_remote, registry, argocd):
    digest = push_image(registry, "factory/api", "v1", content=b"api v1")
    gitops_remote.commit_and_push(
        {"envs/dev/api.yaml": "smoke:\n  argocd_app: api\n"}, "Add api smoke settings"
    )
    image = registry.image("factory/api")
    add_release(
        gitops_remote.clone,
        service="api",
        tag="v1",
        image=image,
        requested_by="test",
        push=True,
        harbor_url=registry.url,
    )
    with RegistryClient(registry.url, registry.username, registry.password) as client:
        result = run_pass(gitops_remote.clone, registry=client)
    assert [o.result for o in result.outcomes] == ["success"], result

    checkout = gitops_remote.new_clone("smoke")  # what a smoke runner sees: the remote's main
    head = git.Repo(checkout).head.commit.hexsha
    pinned = f"{image}@{digest}"
    # Argo CD synced the remote head, which may be after the pin commit (e.g. the records commit)
    argocd.set_app("api", app_status(revision=head, images=[pinned]))

    outcome = check_service(checkout, "api", env=argocd.env(), timeout_seconds=10)

    assert outcome.verdict == "passed", outcome.reason
    record = outcome.record
    promotion_id = record.parents[0].id
    promotion = (checkout / "evidence" / "records" / f"{promotion_id}.json").read_text()
    assert '"kind":"promotion"' in promotion and digest in promotion
    assert record.details.digest == digest and record.links.commit
    assert git.Repo(checkout).is_ancestor(record.links.commit, head)
    count, problems = validate_repo(checkout)
    assert problems == [] and count >= 2
