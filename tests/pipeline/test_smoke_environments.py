"""Each cluster's smoke runner checks its own environments, in the ljwx-deploy layout: the dev
cluster's targets file lists prod targets too (`scripts/smoke/targets.local-k3s.json`, picked
by SMOKE_TARGETS), but a dev runner (ENV_ALLOWLIST=dev,demo, as its CronJob sets it) leaves
them to the prod runner and writes nothing for them; a prod runner whose Argo CD does not know
the application records the operator's mistake, which fails no release and opens no gate; and
`release status` and the index keep each environment's verdicts apart."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from factory_assets.evidence.collect import collect_index
from factory_assets.evidence.layout import INDEX_FILE
from factory_assets.smoke.judgement import judges_the_pin
from tests.doubles.argocd import app_status
from tests.layout.conftest import ljwx  # noqa: F401
from tests.support.ljwx import EMPTY_QUEUE, PUBLIC, LjwxRepo

FACTORY = [sys.executable, "-m", "factory_assets.cli.main"]
TARGETS = "scripts/smoke/targets.local-k3s.json"
LAYOUT = """\
queue: {path: release/queue.yaml, format: four-lists}
service_map: release/services.yaml
environments:
  dev: {pins: overlays}
  prod: {pins: overlays, after: dev, retag: prod-}
"""
D1, D2, D3 = ("sha256:" + c * 64 for c in "123")


def promoted(service: str, env: str, digest: str, tag: str) -> str:
    """A promoted entry as the repository's own promoter left it (no `meta.factory`)."""
    suffix = "-prod" if env == "prod" else ""
    return f"""\
- id: 20260401T091502Z-{service}-{tag}{suffix}
  service: {service}
  env: {env}
  source:
    ghcr: {PUBLIC}/{service}@{digest}
    tag: {tag}
    digest: {digest}
    gitSha: '4417092'
  createdAt: '2026-04-01T09:15:02Z'
  status: promoted
  attempts: 1
  lastError: ''
  promotedAt: '2026-04-01T09:20:00Z'
  supersededAt: ''
  failedAt: ''
"""


def run_factory(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    """The CLI as a runner's CronJob runs it: its own process, only the variables it is given."""
    skip = ("ARGOCD_", "FACTORY_ENVS", "ENV_ALLOWLIST", "SMOKE_TARGETS")
    clean = {k: v for k, v in os.environ.items() if not k.startswith(skip)}
    return subprocess.run(
        [*FACTORY, *args],
        env={**clean, "SMOKE_TARGETS": TARGETS, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def smoke_records(repo: LjwxRepo) -> list[dict]:
    records = repo.remote.new_clone() / "evidence" / "records"
    found = [json.loads(p.read_text()) for p in sorted(records.glob("*.json"))]
    return [r for r in found if r["kind"] == "smoke"]


@pytest.fixture
def clusters(ljwx: LjwxRepo, argocd) -> LjwxRepo:  # noqa: F811
    """api runs D1 in dev and D2 in prod, web D3 in prod; the targets file lists all three
    lanes, as the dev cluster's profile does; this (dev) cluster's Argo CD has only `api-dev`."""
    targets = {
        "profile": "local-k3s",
        "targets": [
            {
                "service": service,
                "environment": env,
                "argocd_app": f"{service}-{env}",
                "endpoint": f"http://{service}.{service}-{env}.svc.cluster.local/health",
            }
            for service, env in (("api", "dev"), ("api", "prod"), ("web", "prod"))
        ],
    }
    dev_overlay = "apps/api/overlays/dev/kustomization.yaml"
    queue = EMPTY_QUEUE.replace(
        "promoted: []\n",
        "promoted:\n"
        + promoted("api", "dev", D1, "sha-1111111")
        + promoted("api", "prod", D2, "sha-2222222")
        + promoted("web", "prod", D3, "sha-3333333"),
    )
    pinned = ljwx.remote.commit_and_push(
        {
            "factory.yaml": LAYOUT,
            TARGETS: json.dumps(targets, indent=2),
            "release/queue.yaml": queue,
            dev_overlay: ljwx.show(dev_overlay).replace(
                '    newTag: "dev"\n', f"    newName: {PUBLIC}/api\n    digest: {D1}\n"
            ),
        },
        "dev and prod run their releases",
    )
    argocd.set_app("api-dev", app_status(revision=pinned, images=[f"{PUBLIC}/api@{D1}"]))
    return ljwx


def test_the_dev_runner_leaves_the_prod_targets_to_the_prod_runner(clusters, argocd):
    repo = str(clusters.clone)
    line = (
        "not checked here: prod (api, web): outside this runner's environments demo, dev "
        "(FACTORY_ENVS)"
    )
    done = run_factory(["smoke", "--repo", repo], argocd.env(ENV_ALLOWLIST="dev,demo"))

    assert done.returncode == 0, done.stdout + done.stderr
    assert "api: passed [argocd" in done.stdout
    assert done.stdout.count("not checked here") == 1 and line in done.stdout.splitlines()
    (record,) = smoke_records(clusters)
    assert (record["service"], record["details"]["env"]) == ("api", "dev")
    assert {r.path.rsplit("/", 1)[1] for r in argocd.requests} == {"api-dev"}
    _, prod = clusters.find("20260401T091502Z-api-sha-2222222-prod")
    assert "meta" not in prod  # the prod entries are as they were
    assert clusters.show("release/queue.yaml").count("smokeVerdict") == 1  # dev's passed

    head = clusters.remote.remote_head()
    again = run_factory(["smoke", "--repo", repo], argocd.env(ENV_ALLOWLIST="dev,demo"))
    assert again.returncode == 0 and line in again.stdout.splitlines()
    assert clusters.remote.remote_head() == head  # no record, no commit, no queue change


def test_a_prod_runner_without_the_app_records_the_operator_s_mistake(clusters, argocd):
    """Both clusters' runners, each with its own limit; this Argo CD has no prod application."""
    repo = str(clusters.clone)
    assert run_factory(["smoke", "--repo", repo], argocd.env(FACTORY_ENVS="dev")).returncode == 0
    queue_before = clusters.queue()

    done = run_factory(["smoke", "--repo", repo], argocd.env(FACTORY_ENVS="prod"))

    assert done.returncode == 1, done.stdout + done.stderr
    said = (
        f"Argo CD at {argocd.url} does not know application 'api-prod' (403): check ARGOCD_URL "
        "and the token's project, or that this cluster deploys prod"
    )
    (api,) = [ln for ln in done.stdout.splitlines() if ln.startswith("api@prod: ")]
    assert api.startswith("api@prod: failed (not_found) [argocd") and said in api
    assert (
        "not checked here: dev (api): outside this runner's environments prod (FACTORY_ENVS)"
        in done.stdout.splitlines()
    )
    records = {(r["service"], r["details"]["env"]): r for r in smoke_records(clusters)}
    assert set(records) == {("api", "dev"), ("api", "prod"), ("web", "prod")}
    prod = records[("api", "prod")]
    assert (prod["details"]["verdict_kind"], prod["details"]["digest"]) == ("not_found", D2)
    assert judges_the_pin(prod) is False and judges_the_pin(records[("api", "dev")]) is True
    # not a failed release, and no gate: the prod entries keep their state, none is queued
    after = clusters.queue()
    assert [e["id"] for e in after["pending"]] == [e["id"] for e in queue_before["pending"]]
    _, entry = clusters.find("20260401T091502Z-api-sha-2222222-prod")
    assert entry["status"] == "promoted" and "smokeVerdict" not in entry["meta"]["factory"]
    assert entry["meta"]["factory"]["smokeEvidence"] == prod["id"]

    # What runs where, by environment: release status and the index.
    fresh = clusters.remote.new_clone()
    status = run_factory(["release", "status", "--json", "--repo", str(fresh)], {})
    rows = {(r["service"], r["env"]): r["smoke"] for r in json.loads(status.stdout)["services"]}
    assert (rows[("api", "dev")], rows[("api", "prod")]) == ("passed", None)
    index = collect_index(fresh)
    lines = [
        line
        for shard in json.loads(index.path.read_text())["shards"]
        for line in json.loads(((fresh / INDEX_FILE).parent / shard["path"]).read_text())["records"]
        if line["kind"] == "smoke"
    ]
    assert sorted((line["service"], line["env"], line["verdict"]) for line in lines) == [
        ("api", "dev", "passed"),
        ("api", "prod", "failed"),
        ("web", "prod", "failed"),
    ]
