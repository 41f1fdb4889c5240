"""A deploy repository as ljwx-deploy has it *before* adoption (README.md, "`factory adopt`"):
no factory.yaml, a four-list queue, a map with two profiles, hand-pinned and digest overlays,
mutable YAML evidence records (one collision, one broken), the repository's two schemas,
its derived files and the legacy CronJobs. No registry is needed: adopt never contacts one.
"""

from __future__ import annotations

import json
from pathlib import Path

from tests.support.gitrepo import GitOpsRemote, make_gitops_remote
from tests.support.ljwx import API_DEV_OVERLAY, PUBLIC, WORKER_DEV_OVERLAY, _base

DIGEST_A = "sha256:" + "2cc106c9ef98f3848ce5766cf3c6a59eb05e10b12979b6b630bc4a3d5706fef2"
DIGEST_B = "sha256:" + "b964bd3b0f0e53d10577716908efe25ce340455e819e253ac4cdaef709b9cc24"

QUEUE = f"""\
pending:
- id: 20260401T091502Z-api-sha-4417092-prod
  service: api
  env: prod
  source:
    ghcr: {PUBLIC}/api@{DIGEST_A}
    tag: sha-4417092
    digest: {DIGEST_A}
    gitSha: '4417092'
  createdAt: '2026-04-01T09:15:02Z'
  status: pending
  attempts: 0
  lastError: ''
  promotedAt: ''
  supersededAt: ''
  failedAt: ''
  meta:
    autoPromoteBySmoke: true
    sourceQueueId: 20260401T085940Z-api-sha-4417092
promoted:
- id: 20260401T085940Z-api-sha-4417092
  service: api
  env: dev
  source:
    ghcr: {PUBLIC}/api@{DIGEST_A}
    tag: sha-4417092
    digest: {DIGEST_A}
    gitSha: '4417092'
  createdAt: '2026-04-01T08:59:40Z'
  status: promoted
  attempts: 0
  lastError: ''
  promotedAt: '2026-04-01T09:00:12Z'
  supersededAt: ''
  failedAt: ''
failed: []
superseded:
- id: 20260401T085512Z-api-sha-0c0ffee
  service: api
  env: dev
  source:
    ghcr: {PUBLIC}/api@{DIGEST_B}
    tag: sha-0c0ffee
    digest: {DIGEST_B}
    gitSha: 0c0ffee
  createdAt: '2026-04-01T08:55:12Z'
  status: superseded
  attempts: 0
  lastError: ''
  promotedAt: ''
  supersededAt: '2026-04-01T09:00:11Z'
  failedAt: ''
  reason: replaced by newer pending release for same service+env
"""

SERVICES = f"""\
services:
  api:
    envs:
      dev:
        overlayPath: apps/api/overlays/dev/kustomization.yaml
        kustomizeImageName: {PUBLIC}/api
        harborImage: harbor-dev.example/acme/api
        argocdApp: api-dev
      prod:
        overlayPath: apps/api/overlays/prod/kustomization.yaml
        kustomizeImageName: {PUBLIC}/api
        harborImage: harbor-prod.example/acme/api
        argocdApp: api-prod
        deployImage: harbor-prod.example/acme/api
  worker:
    envs:
      dev:
        overlayPath: apps/worker/overlays/dev/kustomization.yaml
        kustomizeImageName: {PUBLIC}/worker
        harborImage: harbor-dev.example/acme/worker
        argocdApp: worker-dev
  worker-cron:
    envs:
      dev:
        overlayPath: apps/worker/overlays/dev/kustomization.yaml
        kustomizeImageName: {PUBLIC}/worker-cron
        harborImage: harbor-dev.example/acme/worker-cron
        argocdApp: worker-dev
"""


def legacy_record(
    evidence_id: str, env: str, digest: str, synced_at: str, smoke: str = "pass"
) -> str:
    """A record in the promoter's PyYAML style (section 7 of the reference)."""
    service = evidence_id.split("-")[1]
    tag = evidence_id.split("-", 2)[2]
    return f"""\
evidenceId: {evidence_id}
service: {service}
env: {env}
source:
  repo: {PUBLIC}/{service}
  commit: '{tag.removeprefix("sha-")}'
  workflowRun: ''
image:
  ghcr: {PUBLIC}/{service}@{digest}
  harbor: harbor-{env}.example/acme/{service}@{digest}
  deployed: {PUBLIC}/{service}@{digest}
deploy:
  deployRepoCommit: 3b1f0c9d8e7a6b5c4d3e2f1a0b9c8d7e6f5a4b3c
  queueId: 20260401T085940Z-{service}-{tag}
  argocdApp: {service}-{env}
  overlayPath: apps/{service}/overlays/{env}/kustomization.yaml
  syncedAt: '{synced_at}'
  smokedAt: '2026-04-01T09:15:00Z'
tests:
  smoke:
    status: {smoke}
    checkedAt: '2026-04-01T09:15:00Z'
    details: argocd check skipped; endpoint=200 body='{{"status":"ok"}}' and a long tail that
      wraps onto a continuation line as PyYAML writes it
approvals: {{}}
"""


# The repository's schema in use (draft 2020-12, additionalProperties true): only what it requires.
EVIDENCE_SCHEMA = json.dumps(
    {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "type": "object",
        "additionalProperties": True,
        "required": ["evidenceId", "service", "env", "source", "image", "deploy"],
        "properties": {
            "evidenceId": {"type": "string"},
            "source": {"type": "object", "required": ["repo", "commit"]},
            "image": {"type": "object", "required": ["deployed"]},
            "deploy": {"type": "object", "required": ["deployRepoCommit"]},
        },
    },
    indent=2,
)
# The unused snake_case schema at the path the factory writes its own to.
OLD_RECORD_SCHEMA = '{"type": "object", "required": ["record_id"], "additionalProperties": false}\n'

RECORDS = {
    # Older promotion of api dev.
    "evidence/records/20260331-api-sha-0c0ffee.yaml": legacy_record(
        "20260331-api-sha-0c0ffee", "dev", DIGEST_B, "2026-03-31T10:00:00Z"
    ),
    "evidence/records/20260401-api-sha-4417092.yaml": legacy_record(
        "20260401-api-sha-4417092", "dev", DIGEST_A, "2026-04-01T09:00:12Z"
    ),
    # A hand copy with the same evidenceId (a collision: the id has no env and no time).
    "evidence/records/20260401-api-sha-4417092-copy.yaml": legacy_record(
        "20260401-api-sha-4417092", "prod", DIGEST_A, "2026-04-01T11:00:00Z", smoke="pending"
    ),
    # Broken: does not parse.
    "evidence/records/20260402-worker-sha-5e6f7a8.yaml": "evidenceId: [unclosed\nservice: worker\n",
}

CRONJOB = """\
apiVersion: batch/v1
kind: CronJob
metadata:
  name: {name}
  namespace: dev
spec:
  schedule: '{schedule}'
  concurrencyPolicy: Forbid
  jobTemplate:
    spec:
      template:
        spec:
          restartPolicy: OnFailure
          containers:
          - name: promoter
            image: ghcr.example/acme/ljwx-deploy-promoter:main
            env:
            - name: ENV_ALLOWLIST
              value: dev,demo
"""


def _secret(name: str, key: str) -> str:
    return f"""\
            - name: {name}
              valueFrom:
                secretKeyRef: {{name: deploy-promoter-secret, key: {key}, optional: true}}
"""


def promoter_cronjob(name: str, schedule: str, service_map: str, envs: str, harbor: str) -> str:
    """A live promoter as section 9 has it: its settings, and Secret keys `harbor_<harbor>_*`."""
    return CRONJOB.format(name=name, schedule=schedule).replace(
        "            - name: ENV_ALLOWLIST\n              value: dev,demo\n",
        f"""\
            - name: SERVICE_MAP_PATH
              value: {service_map}
            - name: ENV_ALLOWLIST
              value: {envs}
            - name: SKIP_REGISTRY_CHECK
              value: '0'
            - name: SKIP_EVIDENCE_COLLECT
              value: '0'
            - name: RETRY_MAX
              value: '10'
            - name: HARBOR_INSECURE
              value: '1'
            - name: GIT_BRANCH
              value: main
            - name: DEPLOY_REPO_URL
              value: https://github.example/acme/ljwx-deploy.git
"""
        + _secret("DEPLOY_REPO_TOKEN", "deploy_repo_token")
        + _secret("HARBOR_URL", f"harbor_{harbor}_url")
        + _secret("HARBOR_USER", f"harbor_{harbor}_username")
        + _secret("HARBOR_PASS", f"harbor_{harbor}_password"),
    )


LEGACY_NIGHTLY = """\
name: nightly-evidence
on:
  schedule:
    - cron: '0 17 * * *'
  workflow_dispatch: {}
jobs:
  publish:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
      - run: python3 scripts/evidence/validate.py && python3 scripts/evidence/collect.py
"""

GATE = """\
name: deploy-repo-gate
on:
  pull_request:
    branches-ignore: [gh-pages]
jobs:
  gate:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
      - run: python3 scripts/promoter/validate_queue.py
"""


SMOKE_CRONJOB = CRONJOB.format(name="smoke-runner", schedule="*/15 * * * *").replace(
    "            - name: ENV_ALLOWLIST\n              value: dev,demo\n",
    """\
            - name: SMOKE_TARGETS
              value: scripts/smoke/targets.local-k3s.json
            - name: SMOKE_SERVICE_MAP_PATH
              value: release/services.local-k3s.yaml
            - name: AUTO_TAG_LOCAL_HARBOR
              value: '1'
            - name: LOCAL_HARBOR_PROD_TAG_PREFIX
              value: prod-
            - name: AUTO_ENQUEUE_PROD
              value: '1'
            - name: PROD_ENV
              value: prod
"""
    + _secret("HARBOR_LOCAL_URL", "harbor_local_url")
    + _secret("HARBOR_LOCAL_USER", "harbor_local_username")
    + _secret("HARBOR_LOCAL_PASS", "harbor_local_password")
    + _secret("ARGOCD_SERVER", "argocd_server")
    + _secret("ARGOCD_TOKEN", "argocd_token"),
)


def _target(service: str, env: str) -> dict[str, str]:
    return {
        "service": service,
        "environment": env,
        "argocd_app": f"{service}-{env}",
        "endpoint": f"http://{service}.{service}-{env}.svc.cluster.local/health",
    }


# The smoke targets files (reference section 8): the dev cluster's profile also lists the prod
# target (the dev cluster's legacy smoke job ran it too); the prod one holds prod's only.
TARGETS_DEV = json.dumps(
    {
        "profile": "local-k3s",
        "targets": [
            _target("api", "dev"),
            _target("worker", "dev"),
            _target("worker-cron", "dev"),
            _target("api", "prod"),
        ],
    },
    indent=2,
)
TARGETS_PROD = json.dumps(
    {"profile": "prod-planned", "targets": [_target("api", "prod")]}, indent=2
)


def bootstrap_application(name: str, folder: str) -> str:
    """The Argo CD Application that applies a runtime folder on its cluster (section 9)."""
    return f"""\
apiVersion: argoproj.io/v1alpha1
kind: Application
metadata:
  name: {name}
  namespace: argocd
spec:
  project: default
  source:
    repoURL: https://github.example/acme/ljwx-deploy.git
    targetRevision: main
    path: {folder}
  destination:
    server: https://kubernetes.default.svc
    namespace: dev
  syncPolicy:
    automated: {{prune: true, selfHeal: true}}
"""


def legacy_files() -> dict[str, str]:
    files: dict[str, str] = {
        ".github/workflows/nightly-evidence.yml": LEGACY_NIGHTLY,
        ".github/workflows/deploy-repo-gate.yml": GATE,
        "release/queue.yaml": QUEUE,
        "release/services.yaml": SERVICES,
        "release/services.local-k3s.yaml": SERVICES,
        "release/services.orbstack-k3s-cn.yaml": SERVICES,
        "apps/api/overlays/dev/kustomization.yaml": API_DEV_OVERLAY,
        "apps/api/overlays/prod/kustomization.yaml": (
            "resources:\n  - ../../base\nimages:\n"
            f"  - name: {PUBLIC}/api\n    newName: harbor-prod.example/acme/api\n"
            f"    digest: {DIGEST_A}\n"
        ),
        "apps/worker/overlays/dev/kustomization.yaml": WORKER_DEV_OVERLAY,
        "evidence/schema/evidence.schema.json": EVIDENCE_SCHEMA,
        "evidence/schema/evidence-record.schema.json": OLD_RECORD_SCHEMA,
        "evidence/index.json": "[]\n",
        "evidence/metrics/queue-health.json": "{}\n",
        "cluster/deploy-promoter-cronjob.yaml": promoter_cronjob(
            "deploy-promoter",
            "*/10 * * * *",
            "release/services.local-k3s.yaml",
            "dev,demo",
            "local",
        ),
        "cluster/smoke-runner-cronjob.yaml": SMOKE_CRONJOB,
        "cluster-prod/deploy-promoter-prod-cronjob.yaml": promoter_cronjob(
            "deploy-promoter-prod",
            "5-59/10 * * * *",
            "release/services.orbstack-k3s-cn.yaml",
            "prod",
            "prod",
        ),
        "scripts/smoke/targets.local-k3s.json": TARGETS_DEV,
        "scripts/smoke/targets.prod-planned.json": TARGETS_PROD,
        "argocd-apps/cluster-bootstrap.yaml": bootstrap_application("cluster-bootstrap", "cluster"),
        "argocd-apps/cluster-prod-bootstrap.yaml": bootstrap_application(
            "cluster-prod-bootstrap", "cluster-prod"
        ),
        **RECORDS,
    }
    for app, names in (("api", ["api"]), ("worker", ["worker", "worker-cron"])):
        for name, text in _base(*names).items():
            files[f"apps/{app}/base/{name}"] = text
    return files


def make_legacy_repo(workdir: Path, **overrides: str | None) -> GitOpsRemote:
    """The remote and a clone; `overrides` replace (or, with None, drop) seed files."""
    files = legacy_files()
    for path, text in overrides.items():
        key = path.replace("__", "/")
        if text is None:
            files.pop(key, None)
        else:
            files[key] = text
    return make_gitops_remote(workdir, files)


def adopted_file(clone: Path, path: str, branch: str = "factory/adopt") -> str:
    """`path` as the adoption branch has it."""
    import subprocess

    return subprocess.run(
        ["git", "-C", str(clone), "show", f"{branch}:{path}"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
