"""The factory's Dagster deployment for one cluster: plain manifests in the cluster's folder.

One pod, one replica: `dagster-daemon` (the sensors start RUNNING: a pushed request is seen
within ~5 s, a replica within ~30 s; runs are its subprocesses) and `dagster-webserver` (the
UI, behind a Service), both loading the code location from the image's workspace file, so no
separate code server runs. The instance is SQLite on a PVC, with deploy/dagster.yaml as its
dagster.yaml (one in-flight run per service); an init container migrates it first, since two
processes initializing a fresh home at once leave it unusable. The daemon gets the cluster's
environment (its environment limit, map profile, targets file, the legacy Secret's keys); the
webserver only enqueues and holds no Secret.
"""

from __future__ import annotations

from pathlib import PurePosixPath

from factory_assets.adopt.clusters import Cluster
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

DAGSTER_HOME = "/opt/dagster/dagster_home"
WORKSPACE = "/opt/factory/workspace.yaml"  # the image's workspace file (deploy/Dockerfile)
WEB_PORT = 3000
HOME_SIZE = "2Gi"  # run history and logs of one cluster; the evidence itself lives in git

# deploy/dagster.yaml, the single-machine instance settings (tests/adopt holds the two equal).
DAGSTER_YAML = """\
# dagster.yaml for DAGSTER_HOME on one machine (2 cores). Copy it into $DAGSTER_HOME.
telemetry:
  enabled: false

concurrency:
  runs:
    max_concurrent_runs: 4
    tag_concurrency_limits:
      # At most one in-flight run per service: promotions of a service never overlap here;
      # across machines the git compare-and-swap in the engine is what serializes.
      - key: factory/service
        value:
          applyLimitPerUniqueValue: true
        limit: 1

sensors:
  use_threads: true
  num_workers: 2

run_monitoring:
  enabled: true
  start_timeout_seconds: 180
  # A run still going after an hour is one whose daemon was killed with it (a pod restart,
  # the OOM killer): this run launcher cannot see that its process is gone, so the run would
  # hold its place in the run queue, and its service's, for ever. A promotion and its smoke
  # check take minutes.
  max_runtime_seconds: 3600
"""


def names(cluster: Cluster) -> dict[str, str]:
    """The objects' names on `cluster` (`factory-dagster-prod` beside `deploy-promoter-prod`)."""
    base = f"factory-dagster{cluster.suffix}"
    return {
        "deployment": base,
        "config": base,
        "claim": f"{base}-home",
        "service": f"{base}-webserver",
        "file": str(PurePosixPath(cluster.folder) / f"{base}.yaml"),
    }


def _home_mounts() -> list[dict]:
    return [
        {"name": "dagster-home", "mountPath": DAGSTER_HOME},
        {
            "name": "dagster-config",
            "mountPath": f"{DAGSTER_HOME}/dagster.yaml",
            "subPath": "dagster.yaml",
        },
    ]


def _pod(cluster: Cluster, image: str, named: dict[str, str]) -> dict:
    mounts, volumes = scratch_volumes()
    tmp = [m for m in mounts if m["mountPath"] == "/tmp"]
    quiet_env = [
        {"name": "DAGSTER_HOME", "value": DAGSTER_HOME},
        {"name": "HOME", "value": "/tmp/home"},
    ]
    migrate = {
        "name": "migrate",
        "image": image,
        "args": ["dagster", "instance", "migrate"],
        "env": quiet_env,
        "resources": resources("100m", "256Mi", "500m", "768Mi"),
        "securityContext": container_security(),
        "volumeMounts": [*_home_mounts(), *tmp],
    }
    daemon = {
        "name": "daemon",
        "image": image,
        # The image's entrypoint clones DEPLOY_REPO_URL into FACTORY_REPO first.
        "args": ["dagster-daemon", "run", "-w", WORKSPACE],
        "env": runner_env(cluster, DAGSTER_HOME),
        **({"envFrom": list(cluster.env_from)} if cluster.env_from else {}),
        "livenessProbe": {
            "exec": {"command": ["dagster-daemon", "liveness-check"]},
            "initialDelaySeconds": 120,
            "periodSeconds": 60,
            "timeoutSeconds": 30,
            "failureThreshold": 3,
        },
        "resources": resources("250m", "512Mi", "1", "2Gi"),
        "securityContext": container_security(),
        "volumeMounts": [*_home_mounts(), *mounts],
    }
    webserver = {
        "name": "webserver",
        "image": image,
        "args": [
            "dagster-webserver",
            "--host",
            "0.0.0.0",
            "--port",
            str(WEB_PORT),
            "--workspace",
            WORKSPACE,
        ],
        "env": quiet_env,
        "ports": [{"name": "http", "containerPort": WEB_PORT}],
        "readinessProbe": {
            "httpGet": {"path": "/server_info", "port": "http"},
            "periodSeconds": 10,
            "timeoutSeconds": 5,
        },
        "livenessProbe": {
            "httpGet": {"path": "/server_info", "port": "http"},
            "initialDelaySeconds": 60,
            "periodSeconds": 30,
            "timeoutSeconds": 5,
        },
        "resources": resources("100m", "384Mi", "500m", "1Gi"),
        "securityContext": container_security(),
        "volumeMounts": [*_home_mounts(), *tmp],
    }
    return {
        "automountServiceAccountToken": False,
        "securityContext": pod_security(),
        "initContainers": [migrate],
        "containers": [daemon, webserver],
        "volumes": [
            {"name": "dagster-home", "persistentVolumeClaim": {"claimName": named["claim"]}},
            {"name": "dagster-config", "configMap": {"name": named["config"]}},
            *volumes,
        ],
    }


def dagster_runtime(cluster: Cluster, image: str) -> RuntimeFile:
    """The ConfigMap, PVC, Deployment and Service of `cluster`'s Dagster, as one manifest."""
    named = names(cluster)
    selector = {
        LABEL_NAME: "factory",
        LABEL_COMPONENT: "dagster",
        "app.kubernetes.io/instance": named["deployment"],
    }
    pod = _pod(cluster, image, named)
    docs = [
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": metadata(named["config"], cluster, "dagster"),
            "data": {"dagster.yaml": DAGSTER_YAML},
        },
        {
            "apiVersion": "v1",
            "kind": "PersistentVolumeClaim",
            "metadata": metadata(named["claim"], cluster, "dagster"),
            "spec": {
                "accessModes": ["ReadWriteOnce"],
                "resources": {"requests": {"storage": HOME_SIZE}},
            },
        },
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": metadata(named["deployment"], cluster, "dagster"),
            "spec": {
                "replicas": 1,  # one daemon per instance: two would fight over the SQLite home
                "strategy": {"type": "Recreate"},
                "selector": {"matchLabels": selector},
                "template": {"metadata": {"labels": selector}, "spec": pod},
            },
        },
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": metadata(named["service"], cluster, "dagster"),
            "spec": {
                "type": "ClusterIP",
                "selector": selector,
                "ports": [{"name": "http", "port": 80, "targetPort": "http"}],
            },
        },
    ]
    envs = ", ".join(cluster.envs)
    header = (
        "# Added by `factory adopt`: the factory's Dagster on this cluster, for "
        f"{envs} only (ENV_ALLOWLIST).\n"
        "# dagster-daemon runs the sensors (promotion within ~5 s of a pushed request, smoke "
        "after each pin)\n"
        "# and dagster-webserver the UI (lineage, run history):\n"
        f"#   kubectl{f' -n {cluster.namespace}' if cluster.namespace else ''} port-forward "
        f"svc/{named['service']} 3000:80\n"
        f'# One replica, SQLite on the PVC {named["claim"]}; Pod Security "restricted" '
        "(user 10001, read-only root).\n"
    )
    legacy = [job.name for job in cluster.jobs if not job.suspended]
    after = next(
        (PurePosixPath(j.path).name for j in (*cluster.promoters, *cluster.smoke_runners)),
        None,
    )
    what = (
        f"Deployment {named['deployment']} (dagster-daemon with its sensors, dagster-webserver "
        f"behind Service {named['service']}), its instance on PVC {named['claim']} "
        f"({HOME_SIZE}) and ConfigMap {named['config']} (deploy/dagster.yaml)"
    )
    return RuntimeFile(
        named["file"], dump(header, docs), what, tuple(legacy), after, footprint(pod), True
    )
