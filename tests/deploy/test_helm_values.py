"""deploy/helm/values.yaml, checked offline: the chart's values shape, what it renders, the limits.

No `helm` binary or chart here: tests/deploy/chart.py reconstructs what the chart renders for
these values (see its docstring); Dagster's own config schemas and kubernetes-validate judge it.
"""

from __future__ import annotations

import importlib
import json
import os
import signal
import subprocess
from pathlib import Path

import dagster as dg
import jsonschema
import kubernetes_validate
import pytest
import yaml
from dagster._config import process_config
from dagster._core.instance.config import dagster_instance_config

from tests.deploy import chart
from tests.deploy.conftest import DEPLOY, ROOT, VENV_BIN, wait_until
from tests.support.postgres import free_port

K8S_VERSION = "1.30.0"
SCHEMA = Path(__file__).parent / "schemas" / "dagster-chart-values.schema.json"
SECRETS = {"factory-harbor", "factory-argocd", "factory-github"}


@pytest.fixture(scope="module")
def values() -> dict:
    return chart.load_values()


@pytest.fixture(scope="module")
def factory(values) -> dict:
    (deployment,) = chart.user_deployments(values)
    return deployment


def test_values_fit_the_charts_values_schema(values):
    validator = jsonschema.Draft202012Validator(json.loads(SCHEMA.read_text()))
    errors = [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(values)]
    assert errors == []


def test_schema_rejects_a_misspelt_key(values):
    """The reconstructed schema is closed where the chart's is: a typo must not pass silently."""
    validator = jsonschema.Draft202012Validator(json.loads(SCHEMA.read_text()))
    broken = json.loads(json.dumps(values))
    broken["dagsterDaemon"]["runCoordinator"]["config"]["queuedRunCoordinator"][
        "tagConcurrencyLimit"
    ] = []
    broken["dagsterDaemon"]["replicaCount"] = 2  # the chart runs exactly one daemon
    assert len(list(validator.iter_errors(broken))) == 2


def test_k8s_run_launcher_and_user_code_running_this_project(values, factory):
    assert values["runLauncher"]["type"] == "K8sRunLauncher"
    assert values["dagster-user-deployments"]["enabled"] is True
    assert factory["dagsterApiGrpcArgs"] == ["-m", "factory_assets.definitions"]
    assert factory["includeConfigInLaunchedRuns"] == {"enabled": True}
    workspace = yaml.safe_load((ROOT / "workspace.yaml").read_text())
    (location,) = workspace["load_from"]
    assert location["python_module"]["module_name"] == factory["dagsterApiGrpcArgs"][1]


def test_secrets_come_from_kubernetes_secrets_only(values, factory):
    assert {ref["name"] for ref in factory["envSecrets"]} == SECRETS
    for name in factory["env"]:
        assert not any(word in name for word in ("TOKEN", "PASSWORD", "SECRET")), name
    assert "postgresqlPassword" not in values["postgresql"]
    assert values["generatePostgresqlPasswordSecret"] is False
    assert values["global"]["postgresqlSecretName"]


def test_rendered_instance_is_valid_dagster_config(values, tmp_path, monkeypatch):
    monkeypatch.setenv("DAGSTER_PG_PASSWORD", "from-the-secret")  # the chart sets it from a Secret
    rendered = chart.instance_yaml(values)
    (tmp_path / "dagster.yaml").write_text(yaml.safe_dump(rendered))
    dagster_instance_config(str(tmp_path))  # raises on an invalid instance file
    for section in ("run_launcher", "run_coordinator", "run_storage", "event_log_storage"):
        klass = getattr(
            importlib.import_module(rendered[section]["module"]), rendered[section]["class"]
        )
        result = process_config(klass.config_type(), rendered[section].get("config", {}))
        assert result.success, (section, [e.message for e in result.errors])
    storage = rendered["run_storage"]["config"]["postgres_db"]
    assert storage["scheme"] == "postgresql+psycopg2"  # SQLAlchemy 2.1's default is psycopg 3


def test_run_queue_limits_equal_the_single_machine_ones(values, tmp_path):
    """Dagster's own reading of both files yields the same run queue (per-service limit 1)."""
    queues = []
    for name, doc in (
        ("helm", {"run_coordinator": chart.instance_yaml(values)["run_coordinator"]}),
        ("single", yaml.safe_load((DEPLOY / "dagster.yaml").read_text())),
    ):
        home = tmp_path / name
        home.mkdir()
        doc = {k: v for k, v in doc.items() if k in ("run_coordinator", "concurrency")}
        (home / "dagster.yaml").write_text(yaml.safe_dump({**doc, "telemetry": {"enabled": False}}))
        with dg.DagsterInstance.from_config(str(home)) as instance:
            queue = instance.get_concurrency_config().run_queue_config
            queues.append((queue.max_concurrent_runs, queue.tag_concurrency_limits))
    assert queues[0] == queues[1]
    assert queues[0][1] == [
        {"key": "factory/service", "value": {"applyLimitPerUniqueValue": True}, "limit": 1}
    ]


def test_user_code_deployment_renders_valid_kubernetes(values, factory):
    manifest = chart.user_deployment_manifest(values, factory)
    kubernetes_validate.validate(manifest, K8S_VERSION, strict=True)
    container = manifest["spec"]["template"]["spec"]["containers"][0]
    assert container["args"][:3] == ["dagster", "api", "grpc"]
    assert "command" not in container  # the image's entrypoint (the clone) runs first


def test_run_pod_renders_valid_kubernetes_with_secrets_and_scratch_volumes(values, factory):
    job = chart.run_job_manifest(values, factory)
    kubernetes_validate.validate(job, K8S_VERSION, strict=True)
    pod = job["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["image"] == "ghcr.io/example/factory:0.1.0"
    assert "command" not in container
    secrets = {ref["secretRef"]["name"] for ref in container["envFrom"] if "secretRef" in ref}
    assert secrets == SECRETS
    mounts = {m["mountPath"] for m in container["volumeMounts"]}
    assert {"/work", "/tmp", chart.DAGSTER_HOME} <= mounts
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert pod["securityContext"]["runAsNonRoot"] is True


def test_image_tag_is_the_one_the_manifests_use(factory):
    tagged = chart.image_name(factory["image"])
    for path in (DEPLOY / "k8s").glob("*.yaml"):
        if path.name == "smoke-cronjob.yaml":
            continue
        for doc in yaml.safe_load_all(path.read_text()):
            for image in _images(doc):
                assert image == tagged, (path.name, image)


def _images(node) -> list[str]:
    if isinstance(node, dict):
        found = [node["image"]] if isinstance(node.get("image"), str) else []
        return found + [i for v in node.values() for i in _images(v)]
    if isinstance(node, list):
        return [i for v in node for i in _images(v)]
    return []


@pytest.mark.slow
def test_user_code_server_starts_as_the_chart_runs_it(factory, gitops_remote, tmp_path):
    """The chart's container args and readiness probe, run literally through the image's entrypoint."""
    port = free_port()
    args = chart.user_deployment_manifest(chart.load_values(), factory)["spec"]["template"]["spec"][
        "containers"
    ][0]["args"]
    args = [("127.0.0.1" if a == "0.0.0.0" else str(port) if a == "3030" else a) for a in args]
    env = {
        **os.environ,
        **factory["env"],
        "GIT_REPO_URL": gitops_remote.url,  # the test's bare remote instead of the placeholder
        "HOME": str(tmp_path / "home"),
        "FACTORY_REPO": str(tmp_path / "repo"),
        "PATH": f"{VENV_BIN}:{os.environ['PATH']}",
    }
    server = subprocess.Popen(
        [str(DEPLOY / "docker" / "entrypoint.sh"), *args],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    try:
        probe = [str(VENV_BIN / "dagster"), "api", "grpc-health-check", "-p", str(port)]

        def healthy() -> bool:
            assert server.poll() is None, server.stderr.read().decode()[-3000:]
            return subprocess.run(probe, capture_output=True, timeout=30).returncode == 0

        wait_until(healthy, 60, "the code server's readiness probe")
        assert (tmp_path / "repo" / ".git").is_dir()  # the entrypoint cloned the GitOps repo
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(15)
        except subprocess.TimeoutExpired:
            # The server stops in about a second; on a loaded CI machine it once took longer
            # than 15 s. Its start is what this test judges; the kubelet would kill it too.
            os.killpg(server.pid, signal.SIGKILL)
            server.wait(15)
