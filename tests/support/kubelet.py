"""Run a pod of a manifest as processes on this machine, as a kubelet would start it.

Each container's command is the factory image's entrypoint (deploy/docker/entrypoint.sh) with
the container's `args`; its environment is resolved as the kubelet does (`envFrom`, then `env`,
which wins; a `secretKeyRef` from the given Secret data, an optional missing key left unset);
every volume mount is a directory of its own under `root` (a `subPath` mount of a ConfigMap
key is that key's file), and the image's own files (`/opt/factory`) are this checkout. Nothing
else of the test process's environment reaches the container but PATH (the image's is the
venv's here) and a locale.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Mapping
from pathlib import Path

from factory_assets.sandbox.dagster_processes import BIN, ROOT, DagsterProcess

ENTRYPOINT = ROOT / "deploy" / "docker" / "entrypoint.sh"
IMAGE_FILES = "/opt/factory"


def pod_of(doc: dict) -> dict:
    if doc["kind"] == "CronJob":
        return doc["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    return doc["spec"]["template"]["spec"]


class Pod:
    """One pod's volumes as directories, its ConfigMaps written where they are mounted."""

    def __init__(
        self,
        root: Path,
        pod: dict,
        secrets: Mapping[str, Mapping[str, str]],
        configmaps: Mapping[str, Mapping[str, str]] = {},
    ) -> None:
        self.root, self.pod, self.secrets, self.configmaps = root, pod, secrets, configmaps
        self.volumes = {v["name"]: v for v in pod.get("volumes") or []}
        self.mounts: dict[str, Path] = {IMAGE_FILES: ROOT}
        for container in self.containers():
            for mount in container.get("volumeMounts") or []:
                if "subPath" in mount:
                    continue
                local = root / "volumes" / mount["name"]
                local.mkdir(parents=True, exist_ok=True)
                self.mounts[mount["mountPath"]] = local
        for container in self.containers():
            for mount in container.get("volumeMounts") or []:
                if "subPath" in mount:
                    self._write_subpath(mount)

    def containers(self) -> list[dict]:
        return [*(self.pod.get("initContainers") or []), *self.pod["containers"]]

    def container(self, name: str) -> dict:
        (found,) = [c for c in self.containers() if c["name"] == name]
        return found

    def _write_subpath(self, mount: dict) -> None:
        source = self.volumes[mount["name"]]
        assert "configMap" in source, f"subPath of {mount['name']}: only ConfigMap keys here"
        data = self.configmaps[source["configMap"]["name"]]
        target = Path(self.path(mount["mountPath"]))
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(data[mount["subPath"]])

    def path(self, value: str) -> str:
        """A path inside the container as the directory that backs it here."""
        for prefix in sorted(self.mounts, key=len, reverse=True):
            if value == prefix or value.startswith(prefix + "/"):
                return str(self.mounts[prefix]) + value[len(prefix) :]
        return value

    def env(self, container: dict) -> dict[str, str]:
        resolved: dict[str, str] = {}
        for source in container.get("envFrom") or []:
            if "configMapRef" in source:
                resolved.update(self.configmaps[source["configMapRef"]["name"]])
            else:
                resolved.update(self.secrets[source["secretRef"]["name"]])
        for item in container.get("env") or []:
            if "value" in item:
                value = str(item["value"])
                resolved[item["name"]] = self.path(value) if value.startswith("/") else value
                continue
            ref = item["valueFrom"]["secretKeyRef"]
            data = self.secrets.get(ref["name"], {})
            if ref["key"] in data:
                resolved[item["name"]] = data[ref["key"]]
            else:
                assert ref.get("optional"), f"{item['name']}: required key {ref['key']} missing"
        return resolved

    def process_env(self, container: dict) -> dict[str, str]:
        return {"PATH": f"{BIN}:{os.environ['PATH']}", "LC_ALL": "C.UTF-8"} | self.env(container)

    def argv(self, container: dict) -> list[str]:
        return [str(ENTRYPOINT), *(self.path(a) for a in container["args"])]

    def run(self, name: str, timeout: float = 300) -> subprocess.CompletedProcess:
        """Run a container to completion (an init container, a CronJob's Job)."""
        container = self.container(name)
        return subprocess.run(
            self.argv(container),
            env=self.process_env(container),
            cwd=self.root,
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    def start(self, name: str, log: Path) -> DagsterProcess:
        """Start a long-running container, with only its own environment."""
        container = self.container(name)
        # The container's env is all the process has (the kubelet passes nothing else on).
        return DagsterProcess(
            self.argv(container),
            self.process_env(container),
            log,
            cwd=self.root,
            inherit_environ=False,
        )
