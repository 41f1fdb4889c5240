"""What every pod adoption adds has in common: the image's unprivileged user under the Kubernetes
Pod Security "restricted" profile, writable volumes only where the factory writes, stated
requests and limits, and the cluster's environment.

As deploy/k8s runs the factory: the image's user 10001, a read-only root file system, no
privilege escalation, every capability dropped, the runtime's default seccomp profile. HOME and
the clone live on the `work` volume (the image's entrypoint clones DEPLOY_REPO_URL there), /tmp
on its own; a Dagster instance on its own volume (a PVC for the daemon, `work` for a CronJob).
"""

from __future__ import annotations

from dataclasses import dataclass

import yaml

from factory_assets.adopt.clusters import Cluster

USER = 10001  # deploy/Dockerfile's `factory` user
WORK = "/work"
HOME = f"{WORK}/home"
REPO = f"{WORK}/repo"
LABEL_NAME = "app.kubernetes.io/name"
LABEL_COMPONENT = "app.kubernetes.io/component"


def pod_security() -> dict:
    """The pod-level half of the restricted profile."""
    return {
        "runAsNonRoot": True,
        "runAsUser": USER,
        "runAsGroup": USER,
        "fsGroup": USER,
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def container_security() -> dict:
    """The container-level half: no escalation, no capabilities, nothing written to the image."""
    return {
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "capabilities": {"drop": ["ALL"]},
    }


def resources(cpu: str, memory: str, cpu_limit: str, memory_limit: str) -> dict:
    return {
        "requests": {"cpu": cpu, "memory": memory},
        "limits": {"cpu": cpu_limit, "memory": memory_limit},
    }


def runner_env(cluster: Cluster, dagster_home: str) -> list[dict]:
    """The cluster's environment, then where the factory keeps its clone, HOME and instance."""
    return [
        *cluster.env,
        {"name": "FACTORY_REPO", "value": REPO},
        {"name": "HOME", "value": HOME},
        {"name": "DAGSTER_HOME", "value": dagster_home},
        {"name": "GIT_TERMINAL_PROMPT", "value": "0"},
    ]


def scratch_volumes() -> tuple[list[dict], list[dict]]:
    """(mounts, volumes): `work` for HOME and the clone, `tmp` for /tmp."""
    return (
        [{"name": "work", "mountPath": WORK}, {"name": "tmp", "mountPath": "/tmp"}],
        [
            {"name": "work", "emptyDir": {"sizeLimit": "1Gi"}},
            {"name": "tmp", "emptyDir": {"sizeLimit": "256Mi"}},
        ],
    )


def metadata(name: str, cluster: Cluster, component: str) -> dict:
    return {
        "name": name,
        **({"namespace": cluster.namespace} if cluster.namespace else {}),
        "labels": {LABEL_NAME: "factory", LABEL_COMPONENT: component},
    }


class _Dumper(yaml.SafeDumper):
    """Plain YAML for a reviewer: no anchors or aliases, multi-line text as a literal block."""

    def ignore_aliases(self, data: object) -> bool:
        return True


def _text(dumper: yaml.SafeDumper, data: str) -> yaml.ScalarNode:
    style = "|" if "\n" in data else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", data, style=style)


_Dumper.add_representer(str, _text)


def dump(header: str, docs: list[dict]) -> str:
    """The manifest text: a comment saying what and why, then the documents."""
    body = yaml.dump_all(docs, Dumper=_Dumper, sort_keys=False, allow_unicode=True)
    return header + body


@dataclass(frozen=True)
class RuntimeFile:
    """One manifest the runtime adds to a cluster's folder."""

    path: str
    text: str
    what: str  # one line for the plan
    replaces: tuple[str, ...]  # the legacy CronJobs whose work it takes over
    after: str | None  # the folder's kustomization entry it is listed after
    footprint: Footprint
    always_on: bool  # a long-running pod (else a Job per schedule)


# -- what a manifest asks of the cluster, for the plan -------------------------------------

_BINARY = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30}


def _cpu_milli(value: str) -> int:
    return int(value[:-1]) if value.endswith("m") else int(float(value) * 1000)


def _bytes(value: str) -> int:
    for suffix, factor in _BINARY.items():
        if value.endswith(suffix):
            return int(float(value[: -len(suffix)]) * factor)
    return int(value)


@dataclass(frozen=True)
class Footprint:
    """CPU (millicores) and memory (bytes) a workload requests and may use at most."""

    cpu: int = 0
    memory: int = 0
    cpu_limit: int = 0
    memory_limit: int = 0

    def __add__(self, other: Footprint) -> Footprint:
        return Footprint(
            self.cpu + other.cpu,
            self.memory + other.memory,
            self.cpu_limit + other.cpu_limit,
            self.memory_limit + other.memory_limit,
        )

    def text(self) -> str:
        return (
            f"requests {cpu_text(self.cpu)} CPU, {memory_text(self.memory)}; "
            f"limits {cpu_text(self.cpu_limit)} CPU, {memory_text(self.memory_limit)}"
        )


def cpu_text(milli: int) -> str:
    return f"{milli // 1000}" if milli % 1000 == 0 else f"{milli}m"


def memory_text(size: int) -> str:
    for suffix in ("Gi", "Mi"):
        if size % _BINARY[suffix] == 0:
            return f"{size // _BINARY[suffix]}{suffix}"
    return f"{size // _BINARY['Mi']}Mi"


def _of(container: dict) -> Footprint:
    res = container.get("resources") or {}
    req, lim = res.get("requests") or {}, res.get("limits") or {}
    return Footprint(
        _cpu_milli(str(req.get("cpu", "0"))),
        _bytes(str(req.get("memory", "0"))),
        _cpu_milli(str(lim.get("cpu", "0"))),
        _bytes(str(lim.get("memory", "0"))),
    )


def footprint(pod: dict) -> Footprint:
    """What a pod asks for while it runs: its containers together (init containers run first,
    alone, so the pod's request is the larger of the two, as the scheduler counts it)."""
    running = sum((_of(c) for c in pod.get("containers") or []), Footprint())
    init = [_of(c) for c in pod.get("initContainers") or []]
    if not init:
        return running
    return Footprint(
        max(running.cpu, *(i.cpu for i in init)),
        max(running.memory, *(i.memory for i in init)),
        max(running.cpu_limit, *(i.cpu_limit for i in init)),
        max(running.memory_limit, *(i.memory_limit for i in init)),
    )
