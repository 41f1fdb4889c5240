"""A lane's smoke stays in its own environment: its parent is that environment's promotion
record (the prod smoke names the prod record and digest, never dev's, however recent), and
the release and last smoke record it is compared with are that lane's."""

from __future__ import annotations

import json
import subprocess

import pytest

from factory_assets.evidence.collect import collect_index
from factory_assets.promotion import run_pass
from factory_assets.release.add import add_release
from factory_assets.release.queue_file import load_queue, save_queue
from factory_assets.smoke.landing import smoke_checks_and_land
from resources.registry.environments import EnvRegistries
from tests.doubles.argocd import app_status
from tests.layout.conftest import ljwx  # noqa: F401
from tests.support.ljwx import EMPTY_QUEUE, PUBLIC, LjwxRepo, now_stamp
from tests.support.oci import push_image

LAYOUT = """\
environments:
  dev: {pins: pin-files}
  prod: {pins: pin-files}
"""
STAGED = LAYOUT.replace("prod: {pins: pin-files}", "prod: {pins: pin-files, after: dev}")
SMOKE = "smoke:\n  argocd_app: api-{env}\n  timeout_seconds: 5\n  interval_seconds: 0.02\n"


def _pass(clone, envs):
    registries = EnvRegistries()
    try:
        return run_pass(clone, registry=registries, envs=envs)
    finally:
        registries.close()


def _promoted(clone, env: str) -> dict:
    """The newest successful promotion record of api in `env`, as the remote's clone has it."""
    (entry,) = [
        e
        for e in load_queue(clone).queue.entries
        if e.env == env and e.state == "promoted" and e.evidence
    ]
    return json.loads((clone / "evidence" / "records" / f"{entry.evidence}.json").read_text())


@pytest.fixture
def lanes(gitops_remote, registry, prod_registry, argocd, monkeypatch):
    """dev and prod pin files, each checked through its Argo CD app (`api-dev`, `api-prod`)."""
    for name in ("FACTORY_ENVS", "HARBOR_USERNAME", "HARBOR_PASSWORD"):
        monkeypatch.delenv(name, raising=False)
    for name, value in {
        "HARBOR_URL": registry.url,
        "HARBOR_URL_DEV": registry.url,
        "HARBOR_URL_PROD": prod_registry.url,
        **argocd.env(),
    }.items():
        monkeypatch.setenv(name, value)
    gitops_remote.commit_and_push(
        {
            "factory.yaml": LAYOUT,
            "envs/dev/api.yaml": SMOKE.format(env="dev"),
            "envs/prod/api.yaml": SMOKE.format(env="prod"),
        },
        "dev and prod",
    )
    return gitops_remote


def _request(clone, server, repo: str, tag: str, env: str) -> None:
    add_release(
        clone,
        service="api",
        tag=tag,
        image=server.image(repo),
        requested_by="ci",
        push=True,
        env=env,
        harbor_url=server.url,
    )


@pytest.mark.parametrize("indexed", [False, True], ids=["records", "index"])
def test_a_prod_smoke_names_the_prod_promotion_after_dev_was_promoted(
    lanes, registry, prod_registry, unique_repo, argocd, monkeypatch, indexed
):
    gitops_remote = lanes
    clone = gitops_remote.clone
    d2 = push_image(prod_registry, unique_repo, "2.0", content=b"api two")
    _request(clone, prod_registry, unique_repo, "2.0", "prod")
    assert _pass(clone, {"prod"}).ok
    prod = _promoted(gitops_remote.new_clone(), "prod")
    d1 = push_image(registry, unique_repo, "1.0", content=b"api one")
    _request(clone, registry, unique_repo, "1.0", "dev")
    assert _pass(clone, {"dev"}).ok
    dev = _promoted(gitops_remote.new_clone(), "dev")
    # An operator trims the prod release out of the queue by hand; the prod pin file still
    # names it, so the lookup falls back to the newest promotion record it can find.
    trimmed = gitops_remote.new_clone()
    doc = load_queue(trimmed)
    kept = tuple(e for e in doc.queue.entries if e.id != prod["details"]["release_id"])
    save_queue(doc, doc.queue.model_copy(update={"entries": kept}))
    queue_text = (trimmed / "release" / "queue.yaml").read_text()
    gitops_remote.commit_and_push({"release/queue.yaml": queue_text}, "trim by hand", clone=trimmed)
    subprocess.run(["git", "-C", str(clone), "pull", "-q", "--ff-only"], check=True)
    assert load_queue(gitops_remote.new_clone()).queue.by_id(prod["details"]["release_id"]) is None
    assert (prod["details"]["digest"], dev["details"]["digest"]) == (d2, d1)
    if indexed:  # every record collected, the dev one last: the lookup reads the index
        subprocess.run(["git", "-C", str(clone), "pull", "-q", "--ff-only"], check=True)
        index = json.loads(collect_index(clone).path.read_text())
        assert index["services"]["api"]["pinned"]["id"] == dev["id"]
    argocd.set_app(
        "api-prod",
        app_status(
            revision=prod["links"]["commit"],
            health="Degraded",
            images=[f"{prod_registry.image(unique_repo)}@{d2}"],
        ),
    )

    (smoke,) = smoke_checks_and_land(clone, environments=["prod"])

    assert smoke.verdict == "failed" and "Degraded" in smoke.reason
    assert dev["id"] not in smoke.reason and d1 not in smoke.reason
    assert [p.id for p in smoke.record.parents] == [prod["id"]]
    assert smoke.record.details.digest == d2 and smoke.record.details.env == "prod"


@pytest.mark.parametrize("dev_health", ["Healthy", "Degraded"])
def test_a_pin_file_copied_from_dev_keeps_prod_s_smoke_in_prod(
    lanes, registry, unique_repo, argocd, dev_health
):
    """By hand, prod gets dev's pin file, release_id and all: dev's promotion is not prod's
    parent; dev's last smoke record, verdict and gate to prod are not prod's either."""
    clone = lanes.clone
    lanes.commit_and_push({"factory.yaml": STAGED}, "prod is fed by dev")
    d1 = push_image(registry, unique_repo, "1.0", content=b"api one")
    running = f"{registry.image(unique_repo)}@{d1}"
    _request(clone, registry, unique_repo, "1.0", "dev")
    assert _pass(clone, {"dev"}).ok
    subprocess.run(["git", "-C", str(clone), "pull", "-q", "--ff-only"], check=True)
    dev = _promoted(clone, "dev")
    argocd.set_app(
        "api-dev",
        app_status(revision=dev["links"]["commit"], health=dev_health, images=[running]),
    )
    (dev_smoke,) = smoke_checks_and_land(clone, environments=["dev"])
    assert dev_smoke.recorded
    copied = (clone / "envs" / "dev" / "api.yaml").read_text().replace("api-dev", "api-prod")
    assert f"release_id: {dev['details']['release_id']}" in copied
    by_hand = lanes.commit_and_push({"envs/prod/api.yaml": copied}, "prod runs what dev runs")
    argocd.set_app("api-prod", app_status(revision=by_hand, images=[running]))
    stages = [e.id for e in load_queue(lanes.new_clone()).queue.entries if e.env == "prod"]

    (smoke,) = smoke_checks_and_land(clone, environments=["prod"])

    assert smoke.verdict == "passed" and smoke.record.id != dev_smoke.record.id  # its own
    assert smoke.record.details.env == "prod" and smoke.record.details.digest == d1
    assert list(smoke.record.parents) == []  # dev's promotion did not pin prod
    assert "no promotion record of api in prod" in smoke.reason
    assert smoke.record.links.commit == by_hand  # the commit that pinned prod, not dev's
    queue = load_queue(lanes.new_clone()).queue
    assert queue.by_id(dev["details"]["release_id"]).smoke_evidence == dev_smoke.record.id
    assert [e.id for e in queue.entries if e.env == "prod"] == stages  # no gate opened by it


LJWX_LAYOUT = """\
queue: {path: release/queue.yaml, format: four-lists}
service_map: release/services.yaml
smoke_targets: scripts/smoke/targets.json
environments:
  dev: {pins: overlays}
  prod: {pins: overlays}
"""


def _legacy_prod_entry(digest: str) -> str:
    """A prod entry its own promoter promoted before the factory was adopted: no record of the
    factory's names it (no `meta.factory`)."""
    return f"""\
- id: 20260401T091502Z-api-sha-4417092-prod
  service: api
  env: prod
  source:
    ghcr: {PUBLIC}/api@{digest}
    tag: sha-4417092
    digest: {digest}
    gitSha: '4417092'
  createdAt: '2026-04-01T09:15:02Z'
  status: promoted
  attempts: 1
  lastError: ''
  promotedAt: '2026-04-01T09:20:00Z'
  supersededAt: ''
  failedAt: ''
  meta:
    autoPromoteBySmoke: true
    sourceQueueId: 20260401T085940Z-api-sha-4417092
"""


def test_an_ljwx_prod_smoke_never_cites_the_dev_promotion(ljwx: LjwxRepo, argocd, monkeypatch):  # noqa: F811
    """Adopted ljwx-deploy: prod runs what the repository's own promoter pinned (no factory
    record names it), then the factory promotes dev. The prod smoke has no parent, and says so
    without naming the dev record or digest."""
    for name, value in argocd.env().items():
        monkeypatch.setenv(name, value)
    d2 = "sha256:" + "2" * 64  # what prod runs, pinned by the repository's own promoter
    prod_image = ljwx.harbor("prod", "api")
    targets = {
        "targets": [
            {"service": "api", "environment": env, "argocd_app": f"api-{env}", "endpoint": ""}
            for env in ("dev", "prod")
        ]
    }
    overlay = "apps/api/overlays/prod/kustomization.yaml"
    prod_pin = ljwx.remote.commit_and_push(
        {
            "factory.yaml": LJWX_LAYOUT,
            "scripts/smoke/targets.json": json.dumps(targets),
            overlay: ljwx.show(overlay)
            + f"images:\n  - name: {PUBLIC}/api\n    newName: {prod_image}\n    digest: {d2}\n",
            "release/queue.yaml": EMPTY_QUEUE.replace(
                "promoted: []\n", "promoted:\n" + _legacy_prod_entry(d2)
            ),
        },
        "adopted: prod runs what the legacy promoter pinned",
    )
    subprocess.run(["git", "-C", str(ljwx.clone), "pull", "-q", "--ff-only"], check=True)
    d1 = ljwx.replicate("dev", "api", "api one")  # then the factory promotes dev
    queue = ljwx.show("release/queue.yaml").replace(
        "pending: []\n",
        "pending:\n"
        + ljwx.entry("api", "dev", d1, tag="sha-1111111", git_sha="1111111", at=now_stamp()),
    )
    ljwx.remote.commit_and_push({"release/queue.yaml": queue}, "dev request")
    assert _pass(ljwx.clone, {"dev"}).ok
    (dev,) = [
        json.loads(p.read_text())
        for p in (ljwx.remote.new_clone() / "evidence" / "records").glob("*.json")
        if '"kind":"promotion"' in p.read_text() and '"result":"success"' in p.read_text()
    ]
    assert dev["details"]["digest"] == d1
    argocd.set_app(
        "api-prod",
        app_status(revision=prod_pin, health="Degraded", images=[f"{prod_image}@{d2}"]),
    )

    (smoke,) = smoke_checks_and_land(ljwx.clone, environments=["prod"])

    assert smoke.verdict == "failed" and "Degraded" in smoke.reason
    assert dev["id"] not in smoke.reason and d1 not in smoke.reason
    assert "no promotion record of api in prod" in smoke.reason
    assert list(smoke.record.parents) == []
    assert smoke.record.details.digest == d2 and smoke.record.details.env == "prod"
