"""The clusters the repository runs on, as its runtime folders say: what each deploys, with what.

Argo CD applies `cluster/` on the dev cluster and `cluster-prod/` on the prod one (the bootstrap
Applications). Each folder holds that cluster's legacy runners, whose settings are the facts
the factory's runtime there is built from: the promoter's `ENV_ALLOWLIST` (the environments the
cluster owns), `SERVICE_MAP_PATH` (its map profile), the smoke runner's `SMOKE_TARGETS` (its
targets file) and the Secret keys. One environment list per cluster, for promotion and smoke
alike, so a runner never records a verdict for an environment it does not own.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import yaml

from factory_assets.adopt.detect import Findings
from factory_assets.adopt.legacy_runtime import (
    PROMOTER_PREFIX,
    RUNTIME_DIRS,
    SMOKE_PREFIX,
    LegacyJob,
    job_document,
    legacy_jobs,
)
from factory_assets.common.errors import InputError
from factory_assets.layout.config import check_env, relative_path
from factory_assets.layout.service_map import ServiceMap

SECRET = "deploy-promoter-secret"  # the legacy runners' Secret (reference section 9)
TARGETS_DIR = "scripts/smoke"
APPLICATION_DIRS = ("argocd-apps", *RUNTIME_DIRS)  # where the bootstrap Applications live

# Legacy variables the factory refuses or has no use for: left out of its runtime, named in the plan.
DROPPED = {
    "HARBOR_INSECURE": "refused by the factory: trust the registry's CA with SSL_CERT_FILE",
    "SKIP_REGISTRY_CHECK": "the factory always verifies the digest",
    "SKIP_EVIDENCE_COLLECT": "the factory's records need no collect step",
    "RETRY_MAX": "the attempt budget lives in the queue (meta.factory.maxAttempts)",
    "LOCAL_REPO_DIR": "the runner clones the repository itself",
    "DRY_RUN": "use `factory promote --dry-run` instead",
    # the smoke runner's handoff: factory.yaml's stage (after, retag) does it now
    "AUTO_TAG_LOCAL_HARBOR": "the prod stage in factory.yaml retags",
    "AUTO_ENQUEUE_PROD": "the prod stage in factory.yaml queues",
    "LOCAL_HARBOR_PROD_TAG_PREFIX": "the stage's `retag` prefix",
    "PROD_ENV": "the stage's name in factory.yaml",
}
# The smoke runner's names for what the factory reads under another name.
RENAMED = {
    "SMOKE_SERVICE_MAP_PATH": "SERVICE_MAP_PATH",
    "HARBOR_LOCAL_URL": "HARBOR_URL",
    "HARBOR_LOCAL_USER": "HARBOR_USER",
    "HARBOR_LOCAL_PASS": "HARBOR_PASS",
}
# Set per cluster by adoption, whatever the legacy containers said.
OWN = ("ENV_ALLOWLIST", "SMOKE_TARGETS")
# The smoke check's Argo CD access: the Secret's keys on every cluster (reference section 9).
ARGOCD_KEYS = (("ARGOCD_SERVER", "argocd_server"), ("ARGOCD_TOKEN", "argocd_token"))


@dataclass(frozen=True)
class Cluster:
    """One runtime folder: the cluster Argo CD applies it to, and what the factory runs there."""

    folder: str  # `cluster`, `cluster-prod`
    suffix: str  # the legacy names' suffix (`-prod`), kept on the factory's names
    namespace: str | None
    envs: tuple[str, ...]  # the environments this cluster deploys: its runtime's limit
    envs_from: str  # where that list comes from, for the plan
    application: str | None  # the Argo CD Application that applies the folder
    jobs: tuple[LegacyJob, ...]  # its legacy promoter(s) and smoke runner(s)
    secret: str
    env: tuple[dict, ...]  # the factory containers' environment (legacy names: the aliases)
    env_from: tuple[dict, ...]
    left_out: tuple[str, ...]  # legacy variables not carried over, each with why
    targets: str | None  # the smoke targets file this cluster's smoke reads
    targets_from: str
    missing_targets: tuple[tuple[str, str], ...] = ()  # (service, env) lanes without a target

    @property
    def promoters(self) -> list[LegacyJob]:
        return [job for job in self.jobs if job.is_promoter]

    @property
    def smoke_runners(self) -> list[LegacyJob]:
        return [job for job in self.jobs if not job.is_promoter]

    @property
    def label(self) -> str:
        return f"{self.folder}/"


@dataclass
class _Read:
    """A legacy job and its containers, read once."""

    job: LegacyJob
    containers: list[dict] = field(default_factory=list)


def _containers(doc: dict) -> list[dict]:
    node = doc
    for key in ("spec", "jobTemplate", "spec", "template", "spec", "containers"):
        node = node.get(key) if isinstance(node, dict) else None
    return [c for c in node or [] if isinstance(c, dict)]


def _namespace(doc: dict) -> str | None:
    metadata = doc.get("metadata")
    namespace = metadata.get("namespace") if isinstance(metadata, dict) else None
    return namespace if isinstance(namespace, str) and namespace else None


def _yaml_docs(path: Path) -> list[dict]:
    try:
        return [
            d for d in yaml.safe_load_all(path.read_text(encoding="utf-8")) if isinstance(d, dict)
        ]
    except (yaml.YAMLError, UnicodeDecodeError):
        return []  # not ours to judge: the repository's own gate checks manifests


def _source_paths(app: dict) -> list[str]:
    spec = app.get("spec") if isinstance(app.get("spec"), dict) else {}
    sources = [spec.get("source"), *(spec.get("sources") or [])]
    return [
        str(PurePosixPath(s["path"].strip().removeprefix("./"))).rstrip("/")
        for s in sources
        if isinstance(s, dict) and isinstance(s.get("path"), str) and s["path"].strip()
    ]


def _bootstrap_apps(root: Path) -> dict[str, str]:
    """Runtime folder -> the name of the Argo CD Application that applies it."""
    found: dict[str, str] = {}
    for folder in APPLICATION_DIRS:
        base = root / folder
        if not base.is_dir() or base.is_symlink():
            continue
        for path in sorted(base.rglob("*")):
            if path.suffix not in (".yaml", ".yml") or not path.is_file():
                continue
            for doc in _yaml_docs(path):
                if doc.get("kind") != "Application":
                    continue
                name = (doc.get("metadata") or {}).get("name")
                for source in _source_paths(doc):
                    if source in RUNTIME_DIRS and isinstance(name, str):
                        found.setdefault(source, name)
    return found


def _suffix(folder: str, jobs: list[LegacyJob]) -> str:
    """`-prod` for `deploy-promoter-prod`: the factory's names follow the legacy ones."""
    for prefix in (PROMOTER_PREFIX, SMOKE_PREFIX):
        for job in jobs:
            if job.name.startswith(prefix):
                return job.name.removeprefix(prefix)
    return folder.removeprefix("cluster")


def _allowlist(job: LegacyJob) -> tuple[str, ...]:
    names = []
    for name in (job.setting("ENV_ALLOWLIST") or "").split(","):
        name = name.strip()
        if not name:
            continue
        try:
            check_env(name)
        except ValueError as exc:
            raise InputError(job.path, f"{job.name}: env ENV_ALLOWLIST", str(exc)) from None
        if name not in names:
            names.append(name)
    return tuple(names)


def _cluster_env(
    read: list[_Read], envs: tuple[str, ...], targets: str | None, secret: str
) -> tuple[list[dict], list[dict], list[str]]:
    """The cluster's factory environment: its promoters' then its smoke runners' variables, as
    written (the same Secret and keys; the aliases map the names), renamed where the smoke
    runner's name differs, the cluster's environment limit and targets file set first."""
    env: list[dict] = [{"name": "ENV_ALLOWLIST", "value": ",".join(envs)}]
    if targets:
        env.append({"name": "SMOKE_TARGETS", "value": targets})
    env_from: list[dict] = []
    left_out: list[str] = []
    owner: dict[str, str] = {}
    for item_read in sorted(read, key=lambda r: not r.job.is_promoter):
        job = item_read.job
        for container in item_read.containers:
            for item in container.get("env") or []:
                if not isinstance(item, dict) or not isinstance(item.get("name"), str):
                    continue
                name = item["name"]
                if name in DROPPED:
                    note = f"{name} ({DROPPED[name]})"
                    if note not in left_out:
                        left_out.append(note)
                    continue
                if name in OWN:
                    continue
                renamed = {**item, "name": RENAMED.get(name, name)}
                same = next((e for e in env if e["name"] == renamed["name"]), None)
                if same is None:
                    env.append(renamed)
                    owner[renamed["name"]] = job.name
                elif same != renamed:
                    left_out.append(
                        f"{name} of {job.name} ({renamed['name']} of {owner[renamed['name']]} "
                        "is kept; the two differ)"
                    )
            for source in container.get("envFrom") or []:
                if isinstance(source, dict) and source not in env_from:
                    env_from.append(source)
    for name, key in ARGOCD_KEYS:
        if all(e["name"] != name for e in env):
            env.append(
                {
                    "name": name,
                    "valueFrom": {"secretKeyRef": {"name": secret, "key": key, "optional": True}},
                }
            )
    return env, env_from, left_out


def _secret_name(read: list[_Read]) -> str:
    for item_read in read:
        for container in item_read.containers:
            for item in container.get("env") or []:
                source = item.get("valueFrom") if isinstance(item, dict) else None
                ref = source.get("secretKeyRef") if isinstance(source, dict) else None
                if isinstance(ref, dict) and isinstance(ref.get("name"), str):
                    return ref["name"]
    return SECRET


def _targets_of(root: Path, rel: str) -> dict[tuple[str, str], bool] | None:
    """(service, env) -> whether the target names something to check; None: not a targets file
    (or not a path inside the repository)."""
    try:
        data = json.loads((root / relative_path(rel)).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    targets = data.get("targets") if isinstance(data, dict) else None
    if not isinstance(targets, list):
        return None
    found: dict[tuple[str, str], bool] = {}
    for item in targets:
        if isinstance(item, dict) and isinstance(item.get("service"), str):
            env = item.get("environment")
            if isinstance(env, str):
                checkable = any(
                    isinstance(item.get(k), str) and item[k].strip()
                    for k in ("argocd_app", "endpoint")
                )
                found[(item["service"], env)] = (
                    found.get((item["service"], env), False) or checkable
                )
    return found


def _targets_file(
    root: Path, smoke: list[LegacyJob], envs: tuple[str, ...]
) -> tuple[str | None, str, list[str]]:
    """(file, why, notes): the smoke runner's SMOKE_TARGETS, else the repository's targets file
    that holds only this cluster's environments (for prod: targets.prod-planned.json)."""
    notes: list[str] = []
    for job in smoke:
        named = (job.setting("SMOKE_TARGETS") or "").strip()
        if not named:
            continue
        if _targets_of(root, named) is not None:
            return named, f"SMOKE_TARGETS of {job.name}", notes
        notes.append(
            f"{job.path}: {job.name}: SMOKE_TARGETS names {named}, which is not a targets file "
            "in the repository"
        )
    folder = root / TARGETS_DIR
    candidates = sorted(folder.glob("targets*.json")) if folder.is_dir() else []
    fitting = []
    for path in candidates:
        rel = f"{TARGETS_DIR}/{path.name}"
        targets = _targets_of(root, rel)
        target_envs = {env for _, env in targets or {}}
        if targets and target_envs <= set(envs):
            fitting.append((len(target_envs), rel))
    if fitting:
        fitting.sort(key=lambda f: (-f[0], f[1]))  # the one covering most of them, by name
        return fitting[0][1], f"the repository's targets file for {', '.join(envs)}", notes
    return None, "none", notes


def _missing(
    root: Path, service_map: ServiceMap, envs: tuple[str, ...], targets: str | None
) -> tuple[tuple[str, str], ...]:
    """The (service, env) lanes the map deploys here that the targets file gives nothing to check."""
    covered = _targets_of(root, targets) if targets else {}
    lanes = sorted(lane for lane in service_map.targets if lane[1] in envs)
    return tuple(lane for lane in lanes if not (covered or {}).get(lane))


def find_clusters(root: Path, found: Findings) -> tuple[list[Cluster], list[str]]:
    """Every runtime folder with legacy runners, as a cluster; and what needs a human."""
    jobs = legacy_jobs(root)
    apps = _bootstrap_apps(root)
    notes: list[str] = []
    folders = [f for f in RUNTIME_DIRS if any(j.folder == f for j in jobs)]
    claimed: dict[str, str] = {}
    limits: dict[str, tuple[tuple[str, ...], str]] = {}
    for folder in folders:
        promoters = [j for j in jobs if j.folder == folder and j.is_promoter]
        for job in promoters:
            envs = _allowlist(job)
            if envs:
                limits[folder] = (envs, f"ENV_ALLOWLIST of {job.name}")
                for env in envs:
                    if env in claimed and claimed[env] != folder:
                        notes.append(
                            f"{env} is in the ENV_ALLOWLIST of both {claimed[env]}/ and "
                            f"{folder}/: both clusters' runtimes will promote and smoke-check it"
                        )
                    claimed.setdefault(env, folder)
                break
    clusters = []
    for folder in folders:
        mine = [j for j in jobs if j.folder == folder]
        if folder in limits:
            envs, envs_from = limits[folder]
        else:
            envs = tuple(e for e in found.envs if e not in claimed)
            envs_from = "the map's environments no other cluster's ENV_ALLOWLIST names"
            notes.append(
                f"{folder}/: no promoter there sets ENV_ALLOWLIST, so its runtime covers "
                f"{', '.join(envs) or 'nothing'} ({envs_from}); set ENV_ALLOWLIST in its "
                "factory manifests if the cluster deploys other environments"
            )
        docs = {job: job_document(root, job) for job in mine}
        read = [_Read(job, _containers(docs[job])) for job in mine]
        smoke = [j for j in mine if not j.is_promoter]
        targets, targets_from, target_notes = _targets_file(root, smoke, envs)
        notes += target_notes
        secret = _secret_name(read)
        env, env_from, left_out = _cluster_env(read, envs, targets, secret)
        profile = next(
            (e["value"] for e in env if e["name"] == "SERVICE_MAP_PATH" and "value" in e), None
        )
        service_map = next((m for m in found.maps if m.path == profile), found.default_map)
        missing = _missing(root, service_map, envs, targets)
        if missing:
            lanes = ", ".join(f"{s} ({e})" for s, e in missing)
            where = f"in {targets}" if targets else "in any targets file for it"
            notes.append(
                f"{folder}/ smoke-checks {', '.join(envs)} but finds no target {where} for: "
                f"{lanes}; add each (service, environment, argocd_app, endpoint) to "
                + (targets or f"a {TARGETS_DIR}/targets.<profile>.json named by SMOKE_TARGETS")
                + ", or its smoke is skipped"
            )
        namespace = next((n for n in (_namespace(docs[j]) for j in mine) if n), None)
        if apps and folder not in apps:
            notes.append(
                f"{folder}/: no Argo CD Application in the repository applies it; the runtime "
                "added there runs once one does"
            )
        clusters.append(
            Cluster(
                folder=folder,
                suffix=_suffix(folder, mine),
                namespace=namespace,
                envs=envs,
                envs_from=envs_from,
                application=apps.get(folder),
                jobs=tuple(mine),
                secret=secret,
                env=tuple(env),
                env_from=tuple(env_from),
                left_out=tuple(left_out),
                targets=targets,
                targets_from=targets_from,
                missing_targets=missing,
            )
        )
    return clusters, notes
