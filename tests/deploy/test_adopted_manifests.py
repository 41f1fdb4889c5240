"""What `factory adopt` adds to a repository's cluster folders, for both runtimes: objects the
Kubernetes API takes (strict kubernetes-validate, as deploy/k8s), pods under the Pod Security
"restricted" profile with the image's user, a read-only root and stated requests and limits,
every path the factory writes on a writable volume, the factory image, and for Dagster the
instance settings of deploy/dagster.yaml."""

from __future__ import annotations

import subprocess
from pathlib import Path, PurePosixPath

import kubernetes_validate
import pytest
import yaml

from factory_assets.adopt.dagster_runtime import DAGSTER_YAML
from factory_assets.adopt.image import FACTORY_IMAGE
from factory_assets.adopt.pods import cpu_text, footprint, memory_text
from factory_assets.adopt.runners import RUNTIMES
from factory_assets.cli.main import main
from tests.deploy.conftest import DEPLOY
from tests.deploy.test_manifests import K8S_VERSION
from tests.support.ljwx_legacy import CRONJOB, make_legacy_repo
from tests.support.pod_security import (
    factory_violations,
    pod_spec,
    restricted_violations,
    writable_paths,
)

FOLDERS = ("cluster", "cluster-prod")


@pytest.fixture(scope="module")
def added(tmp_path_factory) -> dict[str, dict[str, list[dict]]]:
    """runtime -> every manifest adopt adds under the cluster folders -> its objects."""
    out: dict[str, dict[str, list[dict]]] = {}
    for runtime in RUNTIMES:
        clone = make_legacy_repo(tmp_path_factory.mktemp(runtime) / "ljwx").clone
        assert main(["adopt", "--repo", str(clone), "--runtime", runtime]) == 0

        def git(*args: str, clone: Path = clone) -> str:
            return subprocess.run(
                ["git", "-C", str(clone), *args], capture_output=True, text=True, check=True
            ).stdout

        paths = git(
            "diff", "--name-only", "--diff-filter=A", "HEAD", "factory/adopt", "--", *FOLDERS
        ).split()
        out[runtime] = {
            p: [d for d in yaml.safe_load_all(git("show", f"factory/adopt:{p}")) if d]
            for p in paths
        }
    return out


def _objects(added, runtime) -> list[tuple[str, dict]]:
    return [(path, obj) for path, objs in added[runtime].items() for obj in objs]


def test_each_runtime_adds_its_manifests_to_both_clusters(added):
    assert sorted(added["dagster"]) == [
        "cluster-prod/factory-dagster-prod.yaml",
        "cluster/factory-dagster.yaml",
    ]
    assert sorted(added["cronjob"]) == [
        "cluster-prod/factory-runner-prod-cronjob.yaml",
        "cluster-prod/factory-smoke-prod-cronjob.yaml",
        "cluster/factory-runner-cronjob.yaml",
        "cluster/factory-smoke-cronjob.yaml",
    ]


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_every_added_object_validates_strictly(added, runtime):
    for _, obj in _objects(added, runtime):
        kubernetes_validate.validate(obj, K8S_VERSION, strict=True)
        assert obj["metadata"]["namespace"] == "dev"  # the legacy runners' namespace


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_every_added_pod_passes_the_restricted_profile(added, runtime):
    pods = [(path, obj) for path, obj in _objects(added, runtime) if pod_spec(obj) is not None]
    assert pods
    for path, obj in pods:
        assert restricted_violations(obj) == [], path
        assert factory_violations(obj) == [], path
        assert pod_spec(obj)["automountServiceAccountToken"] is False
        writable = writable_paths(obj)
        for container in [*pod_spec(obj).get("initContainers", []), *pod_spec(obj)["containers"]]:
            assert container["image"] == FACTORY_IMAGE, path
            mine = writable[container["name"]]
            assert "/tmp" in mine, (path, container["name"])
            env = {e["name"]: e.get("value") for e in container.get("env", [])}
            for name in ("HOME", "FACTORY_REPO", "DAGSTER_HOME"):
                if name in env:  # each on a writable volume, the root being read-only
                    assert any(PurePosixPath(env[name]).is_relative_to(m) for m in mine), (
                        path,
                        container["name"],
                        name,
                    )


def test_the_profile_check_refuses_what_the_runners_were_and_passes_deploy_k8s():
    # A runner as adoption wrote it before: no securityContext, no resources.
    old = yaml.safe_load(CRONJOB.format(name="factory-runner", schedule="*/5 * * * *"))
    assert "promoter]: allowPrivilegeEscalation must be false" in str(restricted_violations(old))
    assert "readOnlyRootFilesystem must be true" in str(factory_violations(old))
    for path in sorted((DEPLOY / "k8s").glob("*.yaml")):  # the reference this follows
        for obj in yaml.safe_load_all(path.read_text()):
            if obj:
                assert restricted_violations(obj) == [], path.name


def test_the_dagster_instance_is_deploy_dagster_yaml_on_its_claim(added):
    shipped = yaml.safe_load((DEPLOY / "dagster.yaml").read_text())
    assert yaml.safe_load(DAGSTER_YAML) == shipped
    for path, objs in added["dagster"].items():
        by_kind = {o["kind"]: o for o in objs}
        assert yaml.safe_load(by_kind["ConfigMap"]["data"]["dagster.yaml"]) == shipped
        deployment = by_kind["Deployment"]
        assert deployment["spec"]["replicas"] == 1
        assert deployment["spec"]["strategy"]["type"] == "Recreate"  # never two daemons
        pod = pod_spec(deployment)
        volumes = {v["name"]: v for v in pod["volumes"]}
        claim = by_kind["PersistentVolumeClaim"]["metadata"]["name"]
        assert volumes["dagster-home"]["persistentVolumeClaim"]["claimName"] == claim
        assert (
            volumes["dagster-config"]["configMap"]["name"]
            == by_kind["ConfigMap"]["metadata"]["name"]
        )
        service = by_kind["Service"]
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        assert service["spec"]["selector"].items() <= labels.items()
        web = {c["name"]: c for c in pod["containers"]}["webserver"]
        assert {p["targetPort"] for p in service["spec"]["ports"]} <= {
            p["name"] for p in web["ports"]
        }
        assert [c["args"][:3] for c in pod["initContainers"]] == [
            ["dagster", "instance", "migrate"]
        ], path


def test_the_readme_states_what_each_runtime_requests(added):
    readme = (DEPLOY.parent / "README.md").read_text()
    row = next(line for line in readme.splitlines() if line.startswith("| requested |"))
    for runtime, kind in (("dagster", "Deployment"), ("cronjob", "CronJob")):
        pods = [pod_spec(o) for _, o in _objects(added, runtime) if o["kind"] == kind]
        (figures,) = {footprint(pod) for pod in pods}
        stated = (
            f"{cpu_text(figures.cpu)} CPU and {memory_text(figures.memory)} (limits "
            f"{cpu_text(figures.cpu_limit)}, {memory_text(figures.memory_limit)})"
        )
        assert stated in row, (runtime, stated)
