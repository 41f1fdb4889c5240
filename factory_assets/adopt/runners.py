"""The factory's runtime on each cluster, in the repository's own conventions: plain manifests in
the cluster's folder, which the bootstrap Application already applies.

Two runtimes, the same environment per cluster (`clusters.Cluster.env`: its environment limit,
map profile, targets file and the legacy Secret's keys through the variable aliases):
- `dagster` (the default): one Deployment per cluster, the daemon with its sensors running and
  the webserver behind a Service, the instance (SQLite) on a PVC (`dagster_runtime.py`);
- `cronjob`: `factory promote` every 5 minutes and `factory smoke` every 15, as CronJobs
  beside the legacy ones they replace.
"""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import PurePosixPath
from typing import Literal

from factory_assets.adopt.clusters import Cluster
from factory_assets.adopt.legacy_runtime import LegacyJob
from factory_assets.adopt.pods import (
    LABEL_COMPONENT,
    LABEL_NAME,
    RuntimeFile,
    container_security,
    dump,
    footprint,
    metadata,
    pod_security,
    resources,
    runner_env,
    scratch_volumes,
)

Runtime = Literal["dagster", "cronjob"]
RUNTIMES: tuple[Runtime, ...] = ("dagster", "cronjob")
CRONJOB_DAGSTER_HOME = "/work/dagster_home"  # unused by one pass, but never on the read-only root

PROMOTE_SCHEDULE = "*/5 * * * *"
SMOKE_SCHEDULE = "*/15 * * * *"


def _cronjob(
    cluster: Cluster, image: str, role: Literal["promote", "smoke"], legacy: LegacyJob | None
) -> RuntimeFile:
    name = f"factory-{'runner' if role == 'promote' else 'smoke'}{cluster.suffix}"
    schedule = PROMOTE_SCHEDULE if role == "promote" else SMOKE_SCHEDULE
    mounts, volumes = scratch_volumes()
    container = {
        "name": "factory",
        "image": image,
        "args": ["factory", role],
        "env": runner_env(cluster, CRONJOB_DAGSTER_HOME),
        **({"envFrom": list(cluster.env_from)} if cluster.env_from else {}),
        "resources": resources("50m", "192Mi", "500m", "512Mi"),
        "securityContext": container_security(),
        "volumeMounts": mounts,
    }
    pod = {
        "restartPolicy": "Never",
        "automountServiceAccountToken": False,
        "securityContext": pod_security(),
        "containers": [container],
        "volumes": volumes,
    }
    labels = {LABEL_NAME: "factory", LABEL_COMPONENT: role}
    manifest = {
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "metadata": metadata(name, cluster, role),
        "spec": {
            "schedule": schedule,
            "concurrencyPolicy": "Forbid",
            "jobTemplate": {
                "spec": {
                    "backoffLimit": 0,  # retries follow the queue's back-off, not the Job's
                    "template": {"metadata": {"labels": labels}, "spec": pod},
                }
            },
        },
    }
    every = (
        "one promotion pass every 5 minutes"
        if role == "promote"
        else "smoke checks every 15 minutes"
    )
    instead = (
        f"in place of CronJob {legacy.name}\n# ({legacy.path}, now suspended)"
        if legacy
        else (
            f"for {', '.join(cluster.envs)}\n# (the repository had no smoke runner on this cluster)"
        )
    )
    header = (
        f"# Added by `factory adopt`: the factory's runner {instead}: {every},\n"
        f"# limited to this cluster's environments ({', '.join(cluster.envs)}), with the legacy "
        "Secret's keys.\n"
        '# Pod Security "restricted": user 10001, read-only root, writable /work and /tmp.\n'
    )
    path = str(PurePosixPath(cluster.folder) / f"{name}-cronjob.yaml")
    after = PurePosixPath(legacy.path).name if legacy else None
    what = f"CronJob {name} (`factory {role}`, {schedule})" + (
        f" in place of {legacy.name}" if legacy else ""
    )
    return RuntimeFile(
        path,
        dump(header, [manifest]),
        what,
        (legacy.name,) if legacy else (),
        after,
        footprint(pod),
        always_on=False,
    )


def cronjob_runtime(cluster: Cluster, image: str) -> list[RuntimeFile]:
    """The promote and smoke CronJobs of one cluster (smoke too where it had no smoke runner)."""
    promoter = next(iter(cluster.promoters), None)
    smoke = next(iter(cluster.smoke_runners), None)
    runner = _cronjob(cluster, image, "promote", promoter)
    checker = _cronjob(cluster, image, "smoke", smoke)
    if checker.after is None:  # a new smoke runner is listed beside the cluster's factory runner
        checker = replace(checker, after=PurePosixPath(runner.path).name)
    if runner.after is None and smoke is not None:
        runner = replace(runner, after=PurePosixPath(smoke.path).name)
    return [runner, checker]


def cluster_runtime(cluster: Cluster, image: str, runtime: Runtime) -> list[RuntimeFile]:
    """What `runtime` adds to `cluster`'s folder."""
    if runtime == "cronjob":
        return cronjob_runtime(cluster, image)
    from factory_assets.adopt.dagster_runtime import dagster_runtime

    return [dagster_runtime(cluster, image)]


def with_resource(kustomization: str, after: str, added: str) -> str | None:
    """The folder's kustomization.yaml with `added` listed right after `after` (None: not listed)."""
    lines = kustomization.splitlines(keepends=True)
    for index, line in enumerate(lines):
        match = re.match(r"^(\s*-\s*)(\S+)\s*(#.*)?$", line)
        if match and match.group(2) == after:
            newline = "\n" if line.endswith("\n") else ""
            lines.insert(index + 1, f"{match.group(1)}{added}\n")
            if not newline:
                lines[index] += "\n"
            return "".join(lines)
    return None
