"""deploy/k8s run as written, without a cluster: each container's args and env, through the
image's entrypoint, with the volume paths mapped to tmp dirs and the placeholders of the
settings ConfigMap and the Secrets replaced by the test's remote, registry and credentials.
"""

from __future__ import annotations

import os
import subprocess
import urllib.request
from collections.abc import Mapping
from pathlib import Path

import pytest
import yaml

from factory_assets.release.add import add_release
from tests.deploy.conftest import DEPLOY, ROOT, VENV_BIN, wait_until
from tests.deploy.test_postgres_e2e import remote_pin_image
from tests.support.oci import push_image
from tests.support.postgres import free_port

ENTRYPOINT = DEPLOY / "docker" / "entrypoint.sh"


def manifest(name: str) -> list[dict]:
    return [d for d in yaml.safe_load_all((DEPLOY / "k8s" / name).read_text()) if d]


def of_kind(name: str, kind: str) -> dict:
    (found,) = [d for d in manifest(name) if d["kind"] == kind]
    return found


class Pod:
    """Maps a pod's absolute paths to tmp dirs and resolves its env like the kubelet."""

    def __init__(self, root: Path, configmaps: Mapping[str, dict], secrets: Mapping[str, dict]):
        self.root = root
        self.configmaps = configmaps
        self.secrets = secrets
        self.paths = {
            "/opt/factory": ROOT,
            "/opt/dagster/dagster_home": root / "dagster_home",
            "/work": root / "work",
            "/tmp": root / "tmp",
        }
        for path in self.paths.values():
            path.mkdir(parents=True, exist_ok=True)

    def path(self, value: str) -> str:
        for prefix, local in self.paths.items():
            if value == prefix or value.startswith(prefix + "/"):
                return str(local) + value[len(prefix) :]
        return value

    def env(self, container: dict) -> dict[str, str]:
        """envFrom first, then env (which wins), as Kubernetes does; the manifest's paths mapped."""
        resolved: dict[str, str] = {}
        for source in container.get("envFrom", []):
            if "configMapRef" in source:
                resolved.update(self.configmaps[source["configMapRef"]["name"]])
            else:
                resolved.update(self.secrets[source["secretRef"]["name"]])
        for entry in container.get("env", []):
            resolved[entry["name"]] = self.path(entry["value"])  # the manifest's paths only
        return resolved

    def process_env(self, container: dict) -> dict[str, str]:
        # The image has the project on PATH; here that is the venv.
        return {"PATH": f"{VENV_BIN}:{os.environ['PATH']}", "LC_ALL": "C.UTF-8"} | self.env(
            container
        )

    def argv(self, container: dict, replace: Mapping[str, str] = {}) -> list[str]:
        return [str(ENTRYPOINT), *(self.path(replace.get(a, a)) for a in container["args"])]


def settings(**overrides: str) -> dict[str, str]:
    data = dict(of_kind("settings.yaml", "ConfigMap")["data"])
    assert set(overrides) <= set(data)
    return data | overrides


def test_promote_cronjob_pins_a_queued_release(
    registry_basic, unique_repo, gitops_remote, tmp_path
):
    digest = push_image(registry_basic, unique_repo, "2.0.0", content=b"cronjob")
    image = registry_basic.image(unique_repo)
    add_release(
        gitops_remote.new_clone("dev"),
        service="api",
        tag="2.0.0",
        image=image,
        requested_by="dev",
        push=True,
        harbor_url=registry_basic.url,
    )
    pod = Pod(
        tmp_path,
        {
            "factory-settings": settings(
                GIT_REPO_URL=gitops_remote.url, HARBOR_URL=registry_basic.url
            )
        },
        {
            "factory-harbor": {
                "HARBOR_USERNAME": registry_basic.username,
                "HARBOR_PASSWORD": registry_basic.password,
            },
            "factory-github": {"GIT_TOKEN": "test-git-token", "GITHUB_TOKEN": "test-gh-token"},
        },
    )
    cronjob = of_kind("promote-cronjob.yaml", "CronJob")
    (container,) = cronjob["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"]
    done = subprocess.run(
        pod.argv(container),
        env=pod.process_env(container),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert remote_pin_image(gitops_remote.bare) == f"{image}@{digest}"
    assert (tmp_path / "work" / "repo" / ".git").is_dir()
    assert registry_basic.password not in done.stdout + done.stderr


@pytest.mark.slow
def test_dagster_deployment_serves_the_ui_passes_its_probes_and_promotes(
    registry, unique_repo, gitops_remote, tmp_path, processes
):
    config = of_kind("dagster.yaml", "ConfigMap")["data"]["dagster.yaml"]
    deployment = of_kind("dagster.yaml", "Deployment")
    by_name = {c["name"]: c for c in deployment["spec"]["template"]["spec"]["containers"]}
    pod = Pod(
        tmp_path,
        {"factory-settings": settings(GIT_REPO_URL=gitops_remote.url, HARBOR_URL=registry.url)},
        {
            "factory-harbor": {"HARBOR_USERNAME": "", "HARBOR_PASSWORD": ""},  # open registry
            "factory-argocd": {"ARGOCD_TOKEN": "test-argocd-token"},
            "factory-github": {"GIT_TOKEN": "test-git-token", "GITHUB_TOKEN": "test-gh-token"},
        },
    )
    # The ConfigMap's dagster.yaml, where the subPath mount puts it.
    (tmp_path / "dagster_home" / "dagster.yaml").write_text(config)
    for init in deployment["spec"]["template"]["spec"].get("initContainers", []):
        done = subprocess.run(
            pod.argv(init), env=pod.process_env(init), capture_output=True, text=True, timeout=120
        )
        assert done.returncode == 0, (init["name"], done.stdout + done.stderr)
    port = str(free_port())
    web, daemon = by_name["webserver"], by_name["daemon"]
    web_port = str(web["ports"][0]["containerPort"])
    processes.start(
        "webserver",
        pod.argv(web, {web_port: port, "0.0.0.0": "127.0.0.1"}),
        env=pod.process_env(web),
        cwd=tmp_path,
    )
    daemon_proc = processes.start(
        "daemon", pod.argv(daemon), env=pod.process_env(daemon), cwd=tmp_path
    )

    probe = web["readinessProbe"]["httpGet"]

    def ready() -> bool:
        try:
            url = f"http://127.0.0.1:{port}{probe['path']}"
            with urllib.request.urlopen(url, timeout=5) as answer:
                return answer.status == 200
        except OSError:
            return False

    wait_until(ready, 90, "the webserver's readiness probe")

    digest = push_image(registry, unique_repo, "3.0.0", content=b"deployment")
    add_release(
        gitops_remote.new_clone("dev"),
        service="api",
        tag="3.0.0",
        image=registry.image(unique_repo),
        requested_by="dev",
        push=True,
        harbor_url=registry.url,
    )
    image = wait_until(
        lambda: remote_pin_image(gitops_remote.bare),
        90,
        "the pin commit from the Deployment's daemon",
        lambda: processes.log(daemon_proc)[-5000:],
    )
    assert image == f"{registry.image(unique_repo)}@{digest}"

    liveness = daemon["livenessProbe"]["exec"]["command"]

    def alive() -> bool:
        done = subprocess.run(
            [pod.path(a) for a in liveness],
            env=pod.process_env(daemon),
            capture_output=True,
            timeout=60,
        )
        return done.returncode == 0

    wait_until(alive, 60, "the daemon's liveness probe", lambda: processes.log(daemon_proc)[-3000:])
