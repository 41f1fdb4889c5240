"""The factory's runners, added beside the legacy promoter CronJobs they replace.

Same folder (so the same Argo CD Application applies it), same namespace, and the legacy
container's environment copied as it is: the same Secret and its keys reach the factory
through the variable aliases (HARBOR_USER, DEPLOY_REPO_TOKEN, ENV_ALLOWLIST, ...). What the
factory refuses or has no use for is left out, and the plan says so.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import yaml

from factory_assets.adopt.image import FACTORY_IMAGE
from factory_assets.layout.legacy_runtime import LegacyJob

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


@dataclass(frozen=True)
class Runner:
    path: str  # the new manifest, beside the legacy one
    text: str
    replaces: str  # the legacy CronJob's name
    dropped: tuple[str, ...]  # legacy variables left out


def _document(root: Path, job: LegacyJob) -> dict:
    text = (root / job.path).read_text(encoding="utf-8")
    docs = [d for d in yaml.safe_load_all(text)]
    doc = docs[job.document] if job.document < len(docs) else None
    return doc if isinstance(doc, dict) else {}


def _containers(doc: dict) -> list[dict]:
    node = doc
    for key in ("spec", "jobTemplate", "spec", "template", "spec", "containers"):
        node = node.get(key) if isinstance(node, dict) else None
    return [c for c in node or [] if isinstance(c, dict)]


def runner_for(root: Path, job: LegacyJob, image: str = FACTORY_IMAGE) -> Runner:
    """The factory runner that takes over `job` (a promoter, or the smoke runner)."""
    doc = _document(root, job)
    metadata = doc.get("metadata") if isinstance(doc.get("metadata"), dict) else {}
    env, env_from, dropped = [], [], []
    for container in _containers(doc):
        for item in container.get("env") or []:
            if not isinstance(item, dict) or not item.get("name"):
                continue
            if item["name"] in DROPPED:
                dropped.append(item["name"])
                continue
            item = {**item, "name": RENAMED.get(item["name"], item["name"])}
            if all(item["name"] != e["name"] for e in env):
                env.append(item)
        env_from += [e for e in container.get("envFrom") or [] if isinstance(e, dict)]
    promoter = job.is_promoter
    name = re.sub(
        r"^(deploy-promoter|smoke-runner)",
        "factory-runner" if promoter else "factory-smoke",
        job.name,
    )
    env += [
        {"name": "FACTORY_REPO", "value": "/work/repo"},
        {"name": "HOME", "value": "/work/home"},
        {"name": "GIT_TERMINAL_PROMPT", "value": "0"},
    ]
    container = {
        "name": "factory",
        "image": image,
        "args": ["factory", "promote"] if promoter else ["factory", "smoke"],
        "env": env,
        **({"envFrom": env_from} if env_from else {}),
        "volumeMounts": [{"name": "work", "mountPath": "/work"}],
    }
    manifest = {
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "metadata": {
            "name": name,
            **({"namespace": metadata["namespace"]} if metadata.get("namespace") else {}),
            "labels": {
                "app.kubernetes.io/name": "factory",
                "app.kubernetes.io/component": "promote" if promoter else "smoke",
            },
        },
        "spec": {
            "schedule": "*/5 * * * *" if promoter else "*/15 * * * *",
            "concurrencyPolicy": "Forbid",
            "jobTemplate": {
                "spec": {
                    "backoffLimit": 0,
                    "template": {
                        "spec": {
                            "restartPolicy": "Never",
                            "containers": [container],
                            "volumes": [{"name": "work", "emptyDir": {}}],
                        }
                    },
                }
            },
        },
    }
    header = (
        f"# Added by `factory adopt`: the factory's runner in place of CronJob {job.name}\n"
        f"# ({job.path}, now suspended): "
        + ("one promotion pass every 5 minutes" if promoter else "smoke checks every 15 minutes")
        + ", with the same\n# environment and Secret.\n"
    )
    path = str(PurePosixPath(job.path).parent / f"{name}-cronjob.yaml")
    text = header + yaml.safe_dump(manifest, sort_keys=False, allow_unicode=True)
    return Runner(path, text, job.name, tuple(dropped))


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
