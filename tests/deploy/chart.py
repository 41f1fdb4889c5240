"""What the official Dagster chart renders from deploy/helm/values.yaml, reconstructed offline.

Neither `helm` nor the chart can be fetched here (the chart repository is no package
registry), so this module rebuilds, for the values we set, the parts of the chart 1.13
templates that carry them: the instance ConfigMap's dagster.yaml (configmap-instance.yaml
and helpers/instance/*.tpl), the user-code Deployment (deployment-user.yaml) and the
container context the chart hands to launched runs (dagsterUserDeployments.k8sContainerContext).
The run pod itself is built by dagster-k8s's own `construct_dagster_k8s_job`, as the
K8sRunLauncher does. Everything rendered is then checked by Dagster's config schemas and by
kubernetes-validate; the reconstruction is narrow on purpose (no defaults of sections we do
not set).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ruamel.yaml import YAML

VALUES = Path(__file__).resolve().parents[2] / "deploy" / "helm" / "values.yaml"
RELEASE = "factory"
NAMESPACE = "factory"
CHART_VERSION = "1.13.27"
DAGSTER_HOME = "/opt/dagster/dagster_home"  # the chart's default `global.dagsterHome`
FULLNAME = f"{RELEASE}-dagster"  # dagster.fullname: release name + chart name
USER_FULLNAME = f"{RELEASE}-dagster-user-deployments"  # the same helper in the subchart


def load_values() -> dict[str, Any]:
    return YAML(typ="safe").load(VALUES.read_text())


def user_deployments(values: dict[str, Any]) -> list[dict[str, Any]]:
    return values["dagster-user-deployments"]["deployments"]


def image_name(image: dict[str, Any]) -> str:
    return f"{image['repository']}:{image.get('tag') or CHART_VERSION}"


def _postgres_storage(values: dict[str, Any]) -> dict[str, Any]:
    pg = values["postgresql"]
    db = {
        "username": pg["postgresqlUsername"],
        "password": {"env": "DAGSTER_PG_PASSWORD"},
        "hostname": pg["postgresqlHost"],
        "db_name": pg["postgresqlDatabase"],
        "port": pg["service"]["port"],
        "params": pg.get("postgresqlParams") or {},
    }
    if pg.get("postgresqlScheme"):
        db["scheme"] = pg["postgresqlScheme"]
    return {"postgres_db": db}


def _k8s_run_launcher(values: dict[str, Any]) -> dict[str, Any]:
    cfg = values["runLauncher"]["config"]["k8sRunLauncher"]
    out: dict[str, Any] = {
        "load_incluster_config": cfg["loadInclusterConfig"],
        "job_namespace": cfg.get("jobNamespace") or NAMESPACE,
        "image_pull_policy": cfg["imagePullPolicy"],
        "service_account_name": FULLNAME,
        "dagster_home": DAGSTER_HOME,
        "instance_config_map": f"{FULLNAME}-instance",
        "postgres_password_secret": values["global"]["postgresqlSecretName"],
    }
    named = {"envConfigMaps": "env_config_maps", "envSecrets": "env_secrets"}
    for key, target in named.items():
        names = [ref["name"] for ref in cfg.get(key) or [] if "name" in ref]
        if names:
            out[target] = names
    plain = {
        "envVars": "env_vars",
        "volumeMounts": "volume_mounts",
        "volumes": "volumes",
        "labels": "labels",
        "resources": "resources",
        "schedulerName": "scheduler_name",
        "securityContext": "security_context",
    }
    for key, target in plain.items():
        if cfg.get(key):
            out[target] = cfg[key]
    if cfg.get("failPodOnRunFailure"):
        out["fail_pod_on_run_failure"] = True
    run_cfg = cfg.get("runK8sConfig") or {}
    parts = {
        "containerConfig": "container_config",
        "podSpecConfig": "pod_spec_config",
        "podTemplateSpecMetadata": "pod_template_spec_metadata",
        "jobSpecConfig": "job_spec_config",
        "jobMetadata": "job_metadata",
    }
    if run_cfg:
        out["run_k8s_config"] = {parts[k]: v for k, v in run_cfg.items() if v}
    return {"module": "dagster_k8s", "class": "K8sRunLauncher", "config": out}


def _queued_run_coordinator(values: dict[str, Any]) -> dict[str, Any]:
    qrc = values["dagsterDaemon"]["runCoordinator"]["config"]["queuedRunCoordinator"]
    config: dict[str, Any] = {}
    if qrc.get("maxConcurrentRuns"):
        config["max_concurrent_runs"] = qrc["maxConcurrentRuns"]
    if qrc.get("tagConcurrencyLimits"):
        config["tag_concurrency_limits"] = qrc["tagConcurrencyLimits"]
    if qrc.get("dequeueIntervalSeconds"):
        config["dequeue_interval_seconds"] = qrc["dequeueIntervalSeconds"]
    section = {"module": "dagster._core.run_coordinator", "class": "QueuedRunCoordinator"}
    return {**section, "config": config} if config else section


def instance_yaml(values: dict[str, Any]) -> dict[str, Any]:
    """The dagster.yaml of the chart's `<release>-dagster-instance` ConfigMap (sections we set)."""
    storage = _postgres_storage(values)
    daemon = values["dagsterDaemon"]
    doc: dict[str, Any] = {
        "scheduler": {"module": "dagster._core.scheduler", "class": "DagsterDaemonScheduler"},
        "schedule_storage": {
            "module": "dagster_postgres.schedule_storage",
            "class": "PostgresScheduleStorage",
            "config": storage,
        },
        "run_launcher": _k8s_run_launcher(values),
        "run_storage": {
            "module": "dagster_postgres.run_storage",
            "class": "PostgresRunStorage",
            "config": storage,
        },
        "event_log_storage": {
            "module": "dagster_postgres.event_log",
            "class": "PostgresEventLogStorage",
            "config": storage,
        },
        "telemetry": {"enabled": values.get("telemetry", {}).get("enabled", True)},
    }
    coordinator = daemon["runCoordinator"]
    if daemon["enabled"] and coordinator["enabled"]:
        assert coordinator["type"] == "QueuedRunCoordinator"
        doc["run_coordinator"] = _queued_run_coordinator(values)
    monitoring = daemon.get("runMonitoring") or {}
    if daemon["enabled"] and monitoring.get("enabled"):
        doc["run_monitoring"] = {
            "enabled": True,
            "start_timeout_seconds": monitoring["startTimeoutSeconds"],
        }
    sensors = daemon.get("sensors") or {}
    if daemon["enabled"] and sensors.get("useThreads"):
        doc["sensors"] = {"use_threads": True}
        if sensors.get("numWorkers"):
            doc["sensors"]["num_workers"] = sensors["numWorkers"]
    return doc


def user_container_context(values: dict[str, Any], deployment: dict[str, Any]) -> dict[str, Any]:
    """What the chart passes to `dagster api grpc --container-context` for launched runs."""
    k8s: dict[str, Any] = {
        "image_pull_policy": deployment["image"]["pullPolicy"],
        "env_config_maps": [f"{USER_FULLNAME}-{deployment['name']}-user-env"]
        + [ref["name"] for ref in deployment.get("envConfigMaps") or [] if "name" in ref],
        "namespace": NAMESPACE,
        "service_account_name": f"{USER_FULLNAME}-user-deployments",
        "run_k8s_config": {"pod_spec_config": {"automount_service_account_token": True}},
    }
    secrets = [ref["name"] for ref in deployment.get("envSecrets") or [] if "name" in ref]
    if secrets:
        k8s["env_secrets"] = secrets
    for key, target in (
        ("volumeMounts", "volume_mounts"),
        ("volumes", "volumes"),
        ("labels", "labels"),
        ("resources", "resources"),
    ):
        if deployment.get(key):
            k8s[target] = deployment[key]
    return {"k8s": k8s}


def user_deployment_manifest(values: dict[str, Any], deployment: dict[str, Any]) -> dict[str, Any]:
    """The chart's user-code Deployment for one entry of `dagster-user-deployments.deployments`."""
    name = deployment["name"]
    port = deployment["port"]
    image = image_name(deployment["image"])
    selector = {
        "app.kubernetes.io/name": "dagster-user-deployments",
        "app.kubernetes.io/instance": RELEASE,
        "component": "user-deployments",
        "deployment": name,
    }
    health = ["dagster", "api", "grpc-health-check", "-p", str(port)]
    container: dict[str, Any] = {
        "name": "dagster-user-deployments",
        "securityContext": deployment.get("securityContext") or {},
        "imagePullPolicy": deployment["image"]["pullPolicy"],
        "image": image,
        "args": ["dagster", "api", "grpc", "-h", "0.0.0.0", "-p", str(port)]
        + list(deployment["dagsterApiGrpcArgs"]),
        "env": [
            {"name": "DAGSTER_CURRENT_IMAGE", "value": image},
            {
                "name": "DAGSTER_PG_PASSWORD",
                "valueFrom": {
                    "secretKeyRef": {
                        "name": values["global"]["postgresqlSecretName"],
                        "key": "postgresql-password",
                    }
                },
            },
        ],
        "envFrom": [
            {"configMapRef": {"name": f"{USER_FULLNAME}-user-deployments-shared-env"}},
            {"configMapRef": {"name": f"{USER_FULLNAME}-{name}-user-env"}},
            *[{"configMapRef": ref} for ref in deployment.get("envConfigMaps") or []],
            *[{"secretRef": ref} for ref in deployment.get("envSecrets") or []],
        ],
        "resources": deployment.get("resources") or {},
        "readinessProbe": {
            "exec": {"command": health},
            "periodSeconds": 20,
            "timeoutSeconds": 10,
            "successThreshold": 1,
            "failureThreshold": 15,
        },
    }
    if deployment.get("volumeMounts"):
        container["volumeMounts"] = deployment["volumeMounts"]
    pod_spec: dict[str, Any] = {
        "serviceAccountName": f"{USER_FULLNAME}-user-deployments",
        "securityContext": deployment.get("podSecurityContext") or {},
        "containers": [container],
    }
    if deployment.get("volumes"):
        pod_spec["volumes"] = deployment["volumes"]
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": f"{USER_FULLNAME}-{name}", "labels": dict(selector)},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": dict(selector)},
            "template": {"metadata": {"labels": dict(selector)}, "spec": pod_spec},
        },
    }


def run_job_manifest(values: dict[str, Any], deployment: dict[str, Any]) -> dict[str, Any]:
    """The Job the K8sRunLauncher creates for a run of this code location (via dagster-k8s)."""
    import kubernetes
    from dagster_k8s.container_context import K8sContainerContext
    from dagster_k8s.job import (
        DagsterK8sJobConfig,
        UserDefinedDagsterK8sConfig,
        construct_dagster_k8s_job,
    )

    launcher = _k8s_run_launcher(values)["config"]
    # What K8sContainerContext.create_for_run takes from the launcher, then the code location's.
    from_launcher = K8sContainerContext(
        image_pull_policy=launcher.get("image_pull_policy"),
        service_account_name=launcher.get("service_account_name"),
        env_config_maps=launcher.get("env_config_maps"),
        env_secrets=launcher.get("env_secrets"),
        env_vars=launcher.get("env_vars"),
        volume_mounts=launcher.get("volume_mounts"),
        volumes=launcher.get("volumes"),
        labels=launcher.get("labels"),
        namespace=launcher.get("job_namespace"),
        resources=launcher.get("resources"),
        scheduler_name=launcher.get("scheduler_name"),
        security_context=launcher.get("security_context"),
        run_k8s_config=UserDefinedDagsterK8sConfig.from_dict(launcher.get("run_k8s_config", {})),
    )
    context = from_launcher.merge(
        K8sContainerContext.create_from_config(user_container_context(values, deployment))
    )
    job_config = DagsterK8sJobConfig(
        job_image=image_name(deployment["image"]),
        dagster_home=launcher["dagster_home"],
        instance_config_map=launcher["instance_config_map"],
        postgres_password_secret=launcher["postgres_password_secret"],
    )
    job = construct_dagster_k8s_job(
        job_config=job_config,
        args=["dagster", "api", "execute_run", "{}"],
        job_name="dagster-run-0123456789abcdef",
        user_defined_k8s_config=context.run_k8s_config,
        component="run_worker",
        labels={"dagster/job": "promote_service"},
    )
    body = kubernetes.client.ApiClient().sanitize_for_serialization(job)
    return {"apiVersion": "batch/v1", "kind": "Job", **body}
