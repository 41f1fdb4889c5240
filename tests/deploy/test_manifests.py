"""deploy/k8s and deploy/argocd: schema-valid Kubernetes objects, wired to each other correctly.

Kubernetes objects are validated strictly with kubernetes-validate against a pinned Kubernetes
version; the Argo CD Application (a CRD) against tests/deploy/schemas/argocd-application.schema.json.
"""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path

import jsonschema
import kubernetes_validate
import pytest
import yaml

from tests.deploy.conftest import DEPLOY, ROOT

K8S_VERSION = "1.30.0"
MANIFESTS = sorted((DEPLOY / "k8s").glob("*.yaml"))
APPLICATION = DEPLOY / "argocd" / "application.yaml"
ARGO_SCHEMA = Path(__file__).parent / "schemas" / "argocd-application.schema.json"
DOCUMENTED_SECRETS = {"factory-harbor", "factory-argocd", "factory-github", "factory-smoke"}


def docs(path: Path) -> list[dict]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d]


def one(path: Path, kind: str, name: str | None = None) -> dict:
    (found,) = [
        d for d in docs(path) if d["kind"] == kind and name in (None, d["metadata"]["name"])
    ]
    return found


def pod_spec(obj: dict) -> dict:
    if obj["kind"] == "CronJob":
        return obj["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    return obj["spec"]["template"]["spec"]


def containers(obj: dict) -> dict[str, dict]:
    return {c["name"]: c for c in pod_spec(obj)["containers"]}


def pinned_dagster() -> str:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    (pin,) = [d for d in project["dependencies"] if d.startswith("dagster==")]
    return pin.split("==")[1]


@pytest.mark.parametrize("path", MANIFESTS, ids=lambda p: p.name)
def test_every_kubernetes_object_validates_strictly(path):
    objects = docs(path)
    assert objects
    for obj in objects:
        kubernetes_validate.validate(obj, K8S_VERSION, strict=True)
        assert obj["metadata"]["namespace"] == "factory"


def test_every_referenced_configmap_and_secret_is_defined_or_documented():
    configmaps = {
        d["metadata"]["name"] for p in MANIFESTS for d in docs(p) if d["kind"] == "ConfigMap"
    }
    for path in MANIFESTS:
        for obj in docs(path):
            if obj["kind"] not in ("Deployment", "CronJob"):
                continue
            spec = pod_spec(obj)
            for container in spec["containers"]:
                for source in container.get("envFrom", []):
                    if "configMapRef" in source:
                        assert source["configMapRef"]["name"] in configmaps, path.name
                    else:
                        assert source["secretRef"]["name"] in DOCUMENTED_SECRETS, path.name
            for volume in spec.get("volumes", []):
                if "configMap" in volume:
                    assert volume["configMap"]["name"] in configmaps, path.name


def test_no_secret_value_is_written_into_a_manifest():
    for path in [*MANIFESTS, DEPLOY / "helm" / "values.yaml"]:
        text = path.read_text()
        for obj in yaml.safe_load_all(text):
            for entry in _env_entries(obj):
                if re.search(r"TOKEN|PASSWORD|SECRET", entry["name"]):
                    assert "value" not in entry, (path.name, entry["name"])
        for obj in docs(path) if path.parent.name == "k8s" else []:
            if obj["kind"] == "ConfigMap":
                assert not any(re.search(r"TOKEN|PASSWORD", k) for k in obj["data"]), path.name


def _env_entries(node) -> list[dict]:
    if isinstance(node, dict):
        found = [e for e in node.get("env", []) if isinstance(e, dict)] if "env" in node else []
        return found + [e for v in node.values() for e in _env_entries(v)]
    if isinstance(node, list):
        return [e for v in node for e in _env_entries(v)]
    return []


# -- the daemon + webserver Deployment ----------------------------------------------------


def test_dagster_deployment_configmap_is_the_single_machine_dagster_yaml():
    config = one(DEPLOY / "k8s" / "dagster.yaml", "ConfigMap")
    shipped = yaml.safe_load((DEPLOY / "dagster.yaml").read_text())
    assert yaml.safe_load(config["data"]["dagster.yaml"]) == shipped


def test_dagster_deployment_runs_one_daemon_and_a_webserver_on_one_home():
    path = DEPLOY / "k8s" / "dagster.yaml"
    deployment = one(path, "Deployment")
    assert deployment["spec"]["replicas"] == 1
    assert deployment["spec"]["strategy"]["type"] == "Recreate"
    by_name = containers(deployment)
    assert set(by_name) == {"daemon", "webserver"}
    daemon, web = by_name["daemon"], by_name["webserver"]
    assert daemon["args"][:2] == ["dagster-daemon", "run"]
    assert web["args"][0] == "dagster-webserver"
    for container in (daemon, web):
        env = {e["name"]: e["value"] for e in container["env"]}
        mounts = {m["mountPath"]: m for m in container["volumeMounts"]}
        home = env["DAGSTER_HOME"]
        assert mounts[home]["name"] == "dagster-home"
        assert mounts[f"{home}/dagster.yaml"] == {
            "name": "dagster-config",
            "mountPath": f"{home}/dagster.yaml",
            "subPath": "dagster.yaml",
        }
    # The UI only enqueues; it holds no Secrets and no clone.
    assert not any("secretRef" in s for s in web.get("envFrom", []))
    secrets = {s["secretRef"]["name"] for s in daemon["envFrom"] if "secretRef" in s}
    assert secrets == {"factory-harbor", "factory-argocd", "factory-github"}
    claim = one(path, "PersistentVolumeClaim")["metadata"]["name"]
    volumes = {v["name"]: v for v in pod_spec(deployment)["volumes"]}
    assert volumes["dagster-home"]["persistentVolumeClaim"]["claimName"] == claim


def test_webserver_service_reaches_the_webserver_port():
    path = DEPLOY / "k8s" / "dagster.yaml"
    service = one(path, "Service")
    deployment = one(path, "Deployment")
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= labels.items()
    ports = {p["name"] for p in containers(deployment)["webserver"]["ports"]}
    assert {p["targetPort"] for p in service["spec"]["ports"]} <= ports


# -- the promotion CronJob ------------------------------------------------------------------


def test_promote_cronjob_runs_one_pass_with_secrets_from_secrets():
    cronjob = one(DEPLOY / "k8s" / "promote-cronjob.yaml", "CronJob")
    assert cronjob["spec"]["concurrencyPolicy"] == "Forbid"
    (container,) = containers(cronjob).values()
    assert container["args"] == ["factory", "promote"]
    assert "command" not in container  # the image's entrypoint clones first
    refs = {s.get("secretRef", {}).get("name") for s in container["envFrom"]} - {None}
    assert refs == {"factory-harbor", "factory-github"}
    settings = one(DEPLOY / "k8s" / "settings.yaml", "ConfigMap")["data"]
    assert {"GIT_REPO_URL", "GIT_BRANCH", "HARBOR_URL"} <= set(settings)


# -- the Argo CD Application ----------------------------------------------------------------


def argo_errors(doc: dict) -> list[str]:
    validator = jsonschema.Draft202012Validator(json.loads(ARGO_SCHEMA.read_text()))
    return [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(doc)]


def test_argocd_application_fits_the_crd_shape():
    (app,) = docs(APPLICATION)
    assert argo_errors(app) == []


def test_argocd_schema_rejects_a_misspelt_key():
    (app,) = docs(APPLICATION)
    app["spec"]["syncPolicy"]["automated"]["selfheal"] = True
    app["spec"]["sources"][0]["helm"]["valuesFile"] = ["x.yaml"]
    assert len(argo_errors(app)) == 2


def test_argocd_deploys_the_pinned_chart_with_our_values_from_the_gitops_repo():
    (app,) = docs(APPLICATION)
    sources = app["spec"]["sources"]
    (chart,) = [s for s in sources if "chart" in s]
    assert chart["chart"] == "dagster"
    assert chart["targetRevision"] == pinned_dagster()  # chart version = Dagster version
    refs = {s["ref"]: s for s in sources if "ref" in s}
    for value_file in chart["helm"]["valueFiles"]:
        ref, _, relative = value_file.partition("/")
        assert ref.startswith("$") and ref[1:] in refs, value_file
        assert (ROOT / relative).is_file(), value_file
    settings = one(DEPLOY / "k8s" / "settings.yaml", "ConfigMap")["data"]
    values = yaml.safe_load((DEPLOY / "helm" / "values.yaml").read_text())
    (user,) = values["dagster-user-deployments"]["deployments"]
    gitops = refs["values"]["repoURL"]
    assert gitops == settings["GIT_REPO_URL"] == user["env"]["GIT_REPO_URL"]
    assert refs["values"]["targetRevision"] == settings["GIT_BRANCH"]
    assert app["spec"]["destination"]["namespace"] == "factory"
