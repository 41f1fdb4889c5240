"""Environments as a dimension: in the factory's own layout (pin files under envs/<env>/) and
in the ljwx layout (overlays), per-lane supersede and runners limited to their environments."""

from __future__ import annotations

import pytest
import yaml

from factory_assets.cli.main import main
from factory_assets.promotion import run_pass
from factory_assets.release.add import add_release
from resources.registry.environments import EnvRegistries
from tests.support.ljwx import EMPTY_QUEUE, PUBLIC, LjwxRepo
from tests.support.oci import push_image
from tests.support.queue_rules import queue_errors


def _pass(clone, envs):
    registries = EnvRegistries()
    try:
        return run_pass(clone, registry=registries, envs=envs)
    finally:
        registries.close()


def test_own_layout_pins_each_env_in_its_own_folder(
    gitops_remote, registry, unique_repo, monkeypatch
):
    """No factory.yaml: `env: prod` entries pin envs/prod/<service>.yaml, per-lane supersede."""
    monkeypatch.setenv("HARBOR_URL", registry.url)
    monkeypatch.delenv("FACTORY_ENVS", raising=False)
    dev = push_image(registry, unique_repo, "1.0", content=b"one")
    prod = push_image(registry, unique_repo, "2.0", content=b"two")
    image = registry.image(unique_repo)
    clone = gitops_remote.new_clone("ci")
    for env, tag in (("dev", "1.0"), ("prod", "1.0"), ("prod", "2.0")):
        add_release(
            clone, service="api", tag=tag, image=image, requested_by="ci", push=True, env=env
        )
    first = _pass(gitops_remote.clone, {"dev"})
    assert [(o.env, o.result) for o in first.outcomes] == [("dev", "success")]
    check = gitops_remote.new_clone("check")
    assert not (check / "envs" / "prod" / "api.yaml").exists()
    second = _pass(gitops_remote.clone, {"prod"})
    assert sorted((o.env, o.tag, o.result) for o in second.outcomes) == [
        ("prod", "1.0", "superseded"),
        ("prod", "2.0", "success"),
    ]
    check = gitops_remote.new_clone("check2")
    assert yaml.safe_load((check / "envs" / "dev" / "api.yaml").read_text())["image"].endswith(dev)
    assert yaml.safe_load((check / "envs" / "prod" / "api.yaml").read_text())["image"].endswith(
        prod
    )


def test_neighbours_in_one_overlay_are_pinned_alone_when_one_name_is_wrong(ljwx: LjwxRepo):
    smap = ljwx.show("release/services.yaml").replace(
        f"kustomizeImageName: {PUBLIC}/worker-cron", f"kustomizeImageName: {PUBLIC}/worker-crn"
    )
    ljwx.remote.commit_and_push({"release/services.yaml": smap}, "a typo in the map")
    worker = ljwx.replicate("dev", "worker", "worker n")
    cron = ljwx.replicate("dev", "worker-cron", "cron n")
    at = "2026-04-06T10:00:00Z"
    pending = ljwx.entry("worker", "dev", worker, tag="sha-aaaaaa1", git_sha="aaaaaa1", at=at)
    pending += ljwx.entry("worker-cron", "dev", cron, tag="sha-aaaaaa2", git_sha="aaaaaa2", at=at)
    ljwx.remote.commit_and_push(
        {"release/queue.yaml": EMPTY_QUEUE.replace("pending: []\n", "pending:\n" + pending)}, "q"
    )
    before = ljwx.show("apps/worker/overlays/dev/kustomization.yaml")
    result = _pass(ljwx.clone, {"dev"})
    assert {o.service: o.result for o in result.outcomes} == {
        "worker": "success",
        "worker-cron": "refused",
    }
    after = ljwx.show("apps/worker/overlays/dev/kustomization.yaml")
    assert f"digest: {worker}" in after and "digest: sha256:2222" in after  # cron's entry as it was
    # The wrong name's entry was rendered, refused, and left out of what was written.
    assert "worker-crn" not in after and after.count("- name:") == before.count("- name:")


def test_release_add_writes_the_shape_service_ci_appends(ljwx: LjwxRepo, capsys):
    digest = "sha256:" + "ab" * 32
    code = main(
        [
            "release",
            "add",
            "api",
            "--env",
            "prod",
            "--digest",
            digest,
            "--source-tag",
            "sha-4417092",
            "--by",
            "alice",
            "--repo",
            str(ljwx.clone),
        ]
    )
    assert code == 0, capsys.readouterr().err
    text = (ljwx.clone / "release" / "queue.yaml").read_text()
    assert queue_errors(text) == []
    (item,) = yaml.safe_load(text)["pending"]
    assert item["id"].endswith("-api-sha-4417092-prod") and len(item["id"].split("-")[0]) == 16
    assert list(item)[:11] == [
        "id",
        "service",
        "env",
        "source",
        "createdAt",
        "status",
        "attempts",
        "lastError",
        "promotedAt",
        "supersededAt",
        "failedAt",
    ]
    assert item["source"] == {
        "ghcr": f"{PUBLIC}/api@{digest}",
        "tag": "sha-4417092",
        "digest": digest,
    }
    assert item["meta"]["factory"]["requestedBy"] == "alice"
    # A lane the map does not name is refused at once, with nothing written.
    assert (
        main(
            ["release", "add", "web", "--env", "dev", "--digest", digest, "--repo", str(ljwx.clone)]
        )
        == 1
    )
    assert "services.web.envs.dev" in capsys.readouterr().err
    assert (ljwx.clone / "release" / "queue.yaml").read_text() == text


@pytest.mark.parametrize("fmt", ["table", "json"])
def test_release_status_shows_what_runs_in_each_env(ljwx: LjwxRepo, capsys, fmt):
    api = ljwx.replicate("dev", "api", "api status")
    ljwx.replicate("prod", "api", "api status")
    at = "2026-04-07T10:00:00Z"
    pending = ljwx.entry("api", "dev", api, tag="sha-0000010", git_sha="'0000010'", at=at)
    pending += ljwx.entry("api", "prod", api, tag="sha-0000010", git_sha="'0000010'", at=at)
    ljwx.remote.commit_and_push(
        {"release/queue.yaml": EMPTY_QUEUE.replace("pending: []\n", "pending:\n" + pending)}, "q"
    )
    assert _pass(ljwx.clone, {"dev"}).ok
    args = ["release", "status", "--fetch", "--repo", str(ljwx.clone)]
    assert main(args + (["--json"] if fmt == "json" else [])) == 0
    out = capsys.readouterr().out
    if fmt == "json":
        import json

        rows = {(r["service"], r["env"]): r for r in json.loads(out)["services"]}
        assert rows[("api", "dev")]["pinned"] == api and rows[("api", "dev")]["state"] == "promoted"
        assert (
            rows[("api", "prod")]["pinned"] is None and rows[("api", "prod")]["state"] == "pending"
        )
    else:
        dev, prod = out.split("what runs in prod")
        assert "what runs in dev" in dev and api in dev and "promoted" in dev
        assert "pending" in prod and api not in prod.split("pending")[0]
