"""Adopt, merge, and run the adopted repository as its two clusters run it.

The repository (tests/support/ljwx_legacy.py) has legacy records (two colliding on one id, one
broken), a legacy prod entry, the promoter and smoke CronJobs of the dev cluster (`cluster/`,
ENV_ALLOWLIST=dev,demo) and the prod promoter of the prod cluster (`cluster-prod/`, prod), the
dev cluster's smoke targets (which list the prod target too, as the real profile does) and the
prod targets file, and the workflows. After `adopt --dry-run` (nothing changes, the plan shows
each cluster's runtime), `adopt` and the merge, each cluster runs exactly what adoption added
for it, as the kubelet would start it: the image's entrypoint (cloning DEPLOY_REPO_URL), the
manifest's args, its environment with the Secret `deploy-promoter-secret` resolved per cluster
(its own Harbor, its own Argo CD), its volumes as directories.

- Dagster (the default): each cluster's `migrate` init container, then its `dagster-daemon`;
- CronJob: each CronJob's command, in the order their schedules would run them.

A release is then carried from dev to prod: service CI queues it, dev pins it, dev smoke passes
against the dev cluster's Argo CD (the double, reconciled from the remote with kustomize), the
digest is tagged `prod-<tag>` on the dev Harbor, prod is queued, prod waits for the replica,
Harbor's replication arrives, prod pins it and smoke-checks it against the prod cluster's Argo
CD. The dev cluster's Argo CD also runs the prod Application (as the real one does), so a dev
runner that smoke-checked prod would pass and record it: none does. Real registries, git
remotes, kustomize and Dagster throughout.

Takes about 70 s for the Dagster variant and 15 s for the CronJob one on 2 cores (marked slow;
`make test` runs it).
"""

from __future__ import annotations

import json
import os
import subprocess
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from factory_assets.cli.main import main
from factory_assets.sandbox.gitops_remote import GitOpsRemote, file_at_main
from tests.doubles.argocd import ArgoCDDouble
from tests.pipeline.argocd_reconciler import Reconciler
from tests.support.dagster_daemon import wait_for
from tests.support.kubelet import Pod, pod_of
from tests.support.ljwx import PUBLIC, pending_entry, rendered_images
from tests.support.ljwx_legacy import (
    DIGEST_A,
    QUEUE,
    RECORDS,
    SERVICES,
    legacy_files,
    make_legacy_repo,
)
from tests.support.oci import push_image
from tests.support.queue_rules import queue_errors

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]

DEV_TARGETS = "scripts/smoke/targets.local-k3s.json"
PROD_TARGETS = "scripts/smoke/targets.prod-planned.json"
LEGACY_PROD = "20260401T091502Z-api-sha-4417092-prod"
RELEASE = "20260501T100000Z-api-sha-aaaaaa1"
# A dev overlay pinned by digest (no hand pin): the release may replace it.
LEGACY_REPO_URL = "https://github.example/acme/ljwx-deploy.git"
API_DEV = f"resources:\n  - ../../base\nimages:\n  - name: {PUBLIC}/api\n    digest: {DIGEST_A}\n"


def _git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(repo), *args], capture_output=True, text=True, check=True
    ).stdout


def _clean_environ() -> dict[str, str]:
    drop = ("HARBOR_", "FACTORY_", "SERVICE_MAP_PATH", "SMOKE_TARGETS", "ENV_ALLOWLIST", "ARGOCD_")
    return {k: v for k, v in os.environ.items() if not k.startswith(drop)}


def _find(bare: Path, release_id: str) -> tuple[str, dict] | None:
    data = yaml.safe_load(file_at_main(bare, "release/queue.yaml") or "{}")
    for name in ("pending", "promoted", "failed", "superseded"):
        for item in data.get(name) or []:
            if item["id"] == release_id:
                return name, item
    return None


def _prod_release(bare: Path) -> tuple[str, dict] | None:
    """The prod request the dev smoke queued for RELEASE (its upstream)."""
    data = yaml.safe_load(file_at_main(bare, "release/queue.yaml") or "{}")
    for name in ("pending", "promoted", "failed", "superseded"):
        for item in data.get(name) or []:
            meta = (item.get("meta") or {}).get("factory") or {}
            if item["env"] == "prod" and meta.get("upstream") == RELEASE:
                return name, item
    return None


def _factory(item: dict) -> dict:
    return (item.get("meta") or {}).get("factory") or {}


@dataclass
class Clusters:
    """The adopted repository, its registries and each cluster's Secret and Argo CD."""

    remote: GitOpsRemote
    prod_host: str
    project: str
    release_digest: str
    secrets: dict[str, dict[str, dict[str, str]]]  # folder -> Secret name -> its data
    argocd: dict[str, ArgoCDDouble]
    reconcilers: list[Reconciler]

    def stop(self) -> None:
        for reconciler in self.reconcilers:
            reconciler.stop()
        for double in self.argocd.values():
            double.stop()


def _adopt_and_merge(tmp_path: Path, dev, prod, runtime: str, capsys) -> Clusters:
    project = f"acme{uuid.uuid4().hex[:8]}"
    release = push_image(dev, f"{project}/api", None, content=b"api release " + project.encode())
    legacy_prod = push_image(prod, f"{project}/api", None, content=b"api legacy prod")
    services = SERVICES.replace("harbor-dev.example/acme", f"{dev.host}/{project}").replace(
        "harbor-prod.example/acme", f"{prod.host}/{project}"
    )
    targets_dev = {
        "profile": "local-k3s",
        "targets": [
            {"service": "api", "environment": e, "argocd_app": f"api-{e}", "endpoint": ""}
            for e in ("dev", "prod")  # the dev profile lists prod's target too
        ],
    }
    targets_prod = {
        "profile": "prod-planned",
        "targets": [{"service": "api", "environment": "prod", "argocd_app": "api-prod"}],
    }
    workdir = tmp_path / "ljwx"
    # The runners clone DEPLOY_REPO_URL: here, the test's remote (make_gitops_remote's bare one).
    remote_url = (workdir / "remote.git").as_uri()
    seed = legacy_files()
    runners = {
        path.replace("/", "__"): seed[path].replace(LEGACY_REPO_URL, remote_url)
        for path in (
            "cluster/deploy-promoter-cronjob.yaml",
            "cluster-prod/deploy-promoter-prod-cronjob.yaml",
        )
    }
    remote = make_legacy_repo(
        workdir,
        **{
            "release__services.yaml": services,
            "release__services.local-k3s.yaml": services,
            "release__services.orbstack-k3s-cn.yaml": services,
            "release__queue.yaml": QUEUE.replace(DIGEST_A, legacy_prod),
            "apps__api__overlays__dev__kustomization.yaml": API_DEV,
            DEV_TARGETS.replace("/", "__"): json.dumps(targets_dev),
            PROD_TARGETS.replace("/", "__"): json.dumps(targets_prod),
            **runners,
        },
    )
    owner = remote.clone

    # 1. The dry run changes nothing and shows each cluster's runtime.
    before = (_git(owner, "rev-parse", "HEAD"), _git(owner, "status", "--porcelain=v1"))
    assert main(["adopt", "--repo", str(owner), "--dry-run", "--runtime", runtime]) == 0
    plan = capsys.readouterr().out
    assert (_git(owner, "rev-parse", "HEAD"), _git(owner, "status", "--porcelain=v1")) == before
    assert _git(owner, "branch", "--list", "factory/adopt") == ""
    section = plan.split("## Runtime per cluster\n\n", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| `cluster")]
    assert [row.split(" | ")[1] for row in rows] == [
        "dev, demo (ENV_ALLOWLIST of deploy-promoter)",
        "prod (ENV_ALLOWLIST of deploy-promoter-prod)",
    ]
    assert f"`{DEV_TARGETS}`" in rows[0] and f"`{PROD_TARGETS}`" in rows[1]
    runs = "Deployment factory-dagster" if runtime == "dagster" else "CronJob factory-runner"
    assert all(runs in row for row in rows)

    # 2. Adopt, and merge the branch as the pull request would.
    assert main(["adopt", "--repo", str(owner), "--runtime", runtime]) == 0
    capsys.readouterr()
    _git(owner, "merge", "-q", "--no-ff", "--no-edit", "factory/adopt")
    _git(owner, "push", "-q", "origin", "main")

    # Each cluster: its Argo CD (the dev one runs the prod Application too) and its Secret.
    argocd, reconcilers = {}, []
    apps = {
        "cluster": {"api-dev": "apps/api/overlays/dev", "api-prod": "apps/api/overlays/prod"},
        "cluster-prod": {"api-prod": "apps/api/overlays/prod"},
    }
    for folder, mine in apps.items():
        argocd[folder] = ArgoCDDouble().start()
        reconcilers.append(Reconciler(argocd[folder], remote.bare, mine).start())
    secrets = {
        "cluster": {
            "deploy-promoter-secret": {
                "deploy_repo_token": "test-deploy-token",
                "harbor_local_url": dev.url,
                "harbor_local_username": dev.username,
                "harbor_local_password": dev.password,
                "argocd_server": argocd["cluster"].url,
                "argocd_token": argocd["cluster"].token,
            }
        },
        "cluster-prod": {
            "deploy-promoter-secret": {
                "deploy_repo_token": "test-deploy-token",
                "harbor_prod_url": prod.url,
                "argocd_server": argocd["cluster-prod"].url,
                "argocd_token": argocd["cluster-prod"].token,
            }
        },
    }
    return Clusters(remote, prod.host, project, release, secrets, argocd, reconcilers)


def _manifest_docs(clone: Path, path: str) -> list[dict]:
    return [d for d in yaml.safe_load_all((clone / path).read_text()) if d]


def _queue_release(clusters: Clusters) -> None:
    """Service CI appends the dev request and pushes it (section 1 of the reference).

    The clusters' runtimes push to the same branch, so a push can lose the race: service CI then
    starts again from the new head, as its own retry loop does.
    """
    for attempt in range(5):
        pusher = clusters.remote.new_clone(f"service-ci-{attempt}")
        queue = yaml.safe_load((pusher / "release/queue.yaml").read_text())
        assert queue["pending"] == [] or all(e["env"] == "prod" for e in queue["pending"])
        text = (pusher / "release/queue.yaml").read_text()
        entry = pending_entry(
            "api",
            "dev",
            clusters.release_digest,
            tag="sha-aaaaaa1",
            git_sha="aaaaaa1",
            at="2026-05-01T10:00:00Z",
        )
        marker = "pending: []\n" if "pending: []\n" in text else "pending:\n"
        (pusher / "release/queue.yaml").write_text(text.replace(marker, "pending:\n" + entry, 1))
        _git(pusher, "commit", "-qam", f"queue(api): {RELEASE}")
        pushed = subprocess.run(
            ["git", "-C", str(pusher), "push", "-q", "origin", "main"],
            capture_output=True,
            text=True,
        )
        if pushed.returncode == 0:
            return
    raise AssertionError(f"service CI could not push its request: {pushed.stderr}")


def _replicate(dev, prod, clusters: Clusters) -> None:
    """Harbor's prod-* rule: the digest, tagged on the dev Harbor, appears on the prod one."""
    from resources.registry import RegistryClient

    with RegistryClient(dev.url, username=dev.username, password=dev.password) as client:
        tagged = client.head_digest(f"{dev.host}/{clusters.project}/api", "prod-sha-aaaaaa1")
    assert tagged == clusters.release_digest  # retagged where the replication rule reads
    content = b"api release " + clusters.project.encode()
    assert push_image(prod, f"{clusters.project}/api", None, content=content) == tagged


def _check_the_outcome(clusters: Clusters, dev_smoked_prod: list) -> Path:
    """What the two clusters left on main: the release in both environments, each verdict
    recorded by its own cluster, every record naming its environment, the chain valid."""
    bare = clusters.remote.bare
    final = clusters.remote.new_clone("final")
    assert queue_errors((final / "release/queue.yaml").read_text()) == []
    assert _find(bare, RELEASE)[0] == "promoted"
    assert _factory(_find(bare, RELEASE)[1]).get("smokeVerdict") == "passed"
    listed, prod_entry = _prod_release(bare)
    assert listed == "promoted" and _factory(prod_entry).get("smokeVerdict") == "passed"
    assert prod_entry["attempts"] == 1  # the wait for the replica cost nothing
    assert _find(bare, LEGACY_PROD)[0] == "promoted"  # the prod cluster took over the legacy one
    digest = clusters.release_digest
    assert rendered_images(final / "apps/api/overlays/dev") == [f"{PUBLIC}/api@{digest}"]
    assert rendered_images(final / "apps/api/overlays/prod") == [
        f"{clusters.prod_host}/{clusters.project}/api@{digest}"  # deployImage: the prod Harbor
    ]
    assert dev_smoked_prod == []  # the dev cluster recorded no verdict for prod
    records = [json.loads(p.read_text()) for p in (final / "evidence/records").glob("*.json")]
    made = [r for r in records if r["kind"] in ("promotion", "smoke")]
    assert {r["kind"] for r in made} == {"promotion", "smoke"}
    for record in made:  # every record names its environment
        assert record["details"].get("env") in ("dev", "prod"), record["id"]
    smoke = {(r["details"]["env"], r["details"]["digest"]): r for r in made if r["kind"] == "smoke"}
    assert smoke[("dev", digest)]["details"]["target"] == "argocd:api-dev"
    assert smoke[("prod", digest)]["details"]["target"] == "argocd:api-prod"
    assert legacy_jobs_live(final) == []
    return final


def legacy_jobs_live(clone: Path) -> list[str]:
    from factory_assets.adopt.legacy_runtime import legacy_jobs

    return [j.path for j in legacy_jobs(clone) if not j.suspended]


def _dagster_runs(home: Path) -> list[str]:
    """The partitions of every run a cluster's Dagster instance launched."""
    from dagster import DagsterInstance

    with DagsterInstance.from_config(str(home)) as instance:
        return [r.tags.get("dagster/partition", "") for r in instance.get_runs()]


def test_dagster_on_both_clusters_carries_a_release_from_dev_to_prod(
    tmp_path, registry_basic, prod_registry, monkeypatch, capsys
):
    dev, prod = registry_basic, prod_registry
    for name in _clean_environ().keys() ^ os.environ.keys():
        monkeypatch.delenv(name)
    clusters = _adopt_and_merge(tmp_path, dev, prod, "dagster", capsys)
    bare = clusters.remote.bare
    daemons, pods = {}, {}
    try:
        main_clone = clusters.remote.new_clone("manifests")
        for folder, path in (
            ("cluster", "cluster/factory-dagster.yaml"),
            ("cluster-prod", "cluster-prod/factory-dagster-prod.yaml"),
        ):
            docs = {d["kind"]: d for d in _manifest_docs(main_clone, path)}
            configmap = docs["ConfigMap"]
            pod = Pod(
                tmp_path / folder,
                pod_of(docs["Deployment"]),
                clusters.secrets[folder],
                {configmap["metadata"]["name"]: configmap["data"]},
            )
            migrated = pod.run("migrate")  # the init container, before the daemon starts
            assert migrated.returncode == 0, migrated.stdout + migrated.stderr
            daemon = pod.container("daemon")
            assert pod.env(daemon)["ENV_ALLOWLIST"] == (
                "dev,demo" if folder == "cluster" else "prod"
            )
            pods[folder] = pod
            daemons[folder] = pod.start("daemon", tmp_path / f"{folder}-daemon.log")

        def logs() -> str:
            return "\n".join(f"--- {f}\n{d.log()[-3000:]}" for f, d in daemons.items())

        # The prod cluster takes over the legacy prod request the repository had pending.
        wait_for(
            lambda: (_find(bare, LEGACY_PROD) or ("",))[0] == "promoted",
            180,
            what=lambda: f"the legacy prod request promoted by the prod daemon\n{logs()}",
        )
        _queue_release(clusters)
        # dev: pinned, smoke passed against the dev Argo CD, retagged, prod queued ...
        wait_for(
            lambda: _prod_release(bare) is not None,
            180,
            what=lambda: f"the prod request queued by the dev cluster's smoke\n{logs()}",
        )
        # ... prod: claims it, finds no replica, waits.
        wait_for(
            lambda: "waitingSince" in str(_factory(_prod_release(bare)[1])),
            120,
            what=lambda: f"prod waiting for the replica\n{logs()}",
        )
        _replicate(dev, prod, clusters)
        wait_for(
            lambda: _factory(_prod_release(bare)[1]).get("smokeVerdict") == "passed",
            180,
            what=lambda: f"prod pinned and smoke-checked by the prod daemon\n{logs()}",
        )
    finally:
        for daemon in daemons.values():
            daemon.stop()
        clusters.stop()
    dev_runs = _dagster_runs(Path(pods["cluster"].path("/opt/dagster/dagster_home")))
    prod_runs = _dagster_runs(Path(pods["cluster-prod"].path("/opt/dagster/dagster_home")))
    assert dev_runs and all(p.startswith("dev|") for p in dev_runs), dev_runs
    assert prod_runs and all(p.startswith("prod|") for p in prod_runs), prod_runs
    final = _check_the_outcome(clusters, [p for p in dev_runs if p.startswith("prod|")])
    _nightly(final)


def test_cronjobs_on_both_clusters_carry_a_release_from_dev_to_prod(
    tmp_path, registry_basic, prod_registry, monkeypatch, capsys
):
    dev, prod = registry_basic, prod_registry
    for name in _clean_environ().keys() ^ os.environ.keys():
        monkeypatch.delenv(name)
    clusters = _adopt_and_merge(tmp_path, dev, prod, "cronjob", capsys)
    bare = clusters.remote.bare
    main_clone = clusters.remote.new_clone("manifests")
    runs: list[str] = []
    try:

        def job(path: str):
            """One run of a CronJob: a fresh pod (a fresh clone), its command to the end."""
            (cronjob,) = _manifest_docs(main_clone, path)
            folder = path.split("/")[0]
            runs.append(path)
            pod = Pod(tmp_path / "jobs" / str(len(runs)), pod_of(cronjob), clusters.secrets[folder])
            done = pod.run("factory")
            assert done.returncode == 0, f"{path}\n{done.stdout}\n{done.stderr}"
            return done

        def prod_smoke_records() -> int:
            clone = clusters.remote.new_clone(f"look-{uuid.uuid4().hex[:6]}")
            return sum(
                1
                for p in (clone / "evidence/records").glob("*.json")
                if (r := json.loads(p.read_text()))["kind"] == "smoke"
                and r["details"].get("env") == "prod"
            )

        job("cluster-prod/factory-runner-prod-cronjob.yaml")  # the legacy prod request
        assert _find(bare, LEGACY_PROD)[0] == "promoted"
        _queue_release(clusters)
        job("cluster/factory-runner-cronjob.yaml")
        assert _find(bare, RELEASE)[0] == "promoted"
        smoked = job("cluster/factory-smoke-cronjob.yaml")
        # the dev cluster's targets list prod, and its Argo CD runs api-prod: still no verdict
        dev_smoked_prod = ["prod"] * prod_smoke_records()
        assert "not checked here: prod (api): outside this runner's environments" in smoked.stdout
        assert _factory(_find(bare, RELEASE)[1]).get("smokeVerdict") == "passed"
        listed, _ = _prod_release(bare)
        assert listed == "pending"
        job("cluster-prod/factory-runner-prod-cronjob.yaml")  # no replica yet: it waits
        assert "waitingSince" in str(_factory(_prod_release(bare)[1]))
        _replicate(dev, prod, clusters)
        job("cluster-prod/factory-runner-prod-cronjob.yaml")
        assert _prod_release(bare)[0] == "promoted"
        job("cluster-prod/factory-smoke-prod-cronjob.yaml")
    finally:
        clusters.stop()
    _check_the_outcome(clusters, dev_smoked_prod)


def _nightly(final: Path) -> None:
    """The nightly's commands on the clusters' result: validate, collect, publish."""
    assert main(["evidence", "validate", "--repo", str(final)]) == 0
    index = final / "evidence" / "index.json"
    assert main(["evidence", "collect", "--repo", str(final), "--out", str(index)]) == 0
    assert _git(final, "status", "--porcelain") == ""  # the derived index is git-ignored
    collected = json.loads(index.read_text())
    assert collected["kinds"]["imported"] == len(RECORDS)  # as many records as files
    records = [json.loads(p.read_text()) for p in (final / "evidence/records").glob("*.json")]
    for record in (r for r in records if r["kind"] == "imported"):
        details = record["details"]  # each original reachable from its record, byte for byte
        original = _git(final, "cat-file", "-p", details["git_blob"])
        assert original == RECORDS[details["original_path"]]
        assert (final / details["legacy_path"]).read_text() == original
    assert main(["site", "publish", "--repo", str(final)]) == 0
    assert _git(final, "ls-remote", "origin", "gh-pages").strip()
    assert main(["evidence", "verify", "--repo", str(final)]) == 0
