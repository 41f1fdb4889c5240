"""A deploy repository in the ljwx-deploy layout (README.md, "The repository's layout"), built
from its formats: a four-list queue, a service map, kustomize bases and overlays.

Scenario (each a case the reference names):
- `api`: dev and prod; the dev overlay is tag-only (`newTag: "dev"`, hand-written, with a
  comment); prod deploys from the prod Harbor (`deployImage`).
- `worker` and `worker-cron`: two services sharing one overlay and one Application.
- `web`: prod only, with a wrong `kustomizeImageName` (the base renders the public name).
- `batch`: a prod-only service.
Registries: `dev` and `prod` are two real `docker-registry` processes; images are "built" to
`ghcr.example` (never contacted) and replicated by pushing the same manifest to a replica.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from factory_assets.common import roundtrip_yaml
from factory_assets.pins.kustomize_tool import Kustomize, find_kustomize
from tests.support.gitrepo import GitOpsRemote, make_gitops_remote
from tests.support.oci import push_image

PUBLIC = "ghcr.example/acme"

FACTORY_YAML = """\
queue: {path: release/queue.yaml, format: four-lists}
service_map: release/services.yaml
environments:
  dev: {pins: overlays}
  prod: {pins: overlays}
"""

EMPTY_QUEUE = "pending: []\npromoted: []\nfailed: []\nsuperseded: []\n"


def deployment(name: str, image: str) -> str:
    """A one-container Deployment, as the overlays' bases hold."""
    return f"""\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {name}
spec:
  selector:
    matchLabels: {{app: {name}}}
  template:
    metadata:
      labels: {{app: {name}}}
    spec:
      containers:
        - name: {name}
          image: {image}
"""


def _base(*names: str) -> dict[str, str]:
    return {
        "kustomization.yaml": "resources:\n" + "".join(f"  - {n}.yaml\n" for n in names),
        **{f"{n}.yaml": deployment(n, f"{PUBLIC}/{n}:latest") for n in names},
    }


API_DEV_OVERLAY = """\
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
namespace: api-dev
resources:
  - ../../base
images:
  # pinned by hand during an incident
  - name: ghcr.example/acme/api
    newTag: "dev"
  - name: redis
    newTag: "7.2"
"""

WORKER_DEV_OVERLAY = """\
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
namespace: worker-dev
resources:
- ../../base
images:
- name: ghcr.example/acme/worker
  newName: ghcr.example/acme/worker
  digest: sha256:1111111111111111111111111111111111111111111111111111111111111111
- name: ghcr.example/acme/worker-cron
  newName: ghcr.example/acme/worker-cron
  digest: sha256:2222222222222222222222222222222222222222222222222222222222222222
"""


# ljwx-shiti's dev overlay in the real repository: the base uses the Harbor image, and the one
# `images:` entry, named after it, remaps it to the public registry and pins it by digest (the
# map's `kustomizeImageName` is that entry's `newName`, not its `name`).
HARBOR_EU = "harbor-eu.example/ljwx"


def remapped_batch(digest: str) -> dict[str, str]:
    """`batch` in the remapped shape: a base on the Harbor name, an overlay remapping it."""
    overlay = f"""\
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
namespace: batch-prod
resources:
  - ../../base
images:
  # the Harbor name the base uses, deployed from the public registry
  - name: {HARBOR_EU}/batch
    newName: {PUBLIC}/batch
    digest: {digest}
  - name: redis   # third party, pinned by hand
    newTag: "7.2"
"""
    return {
        "apps/batch/base/batch.yaml": deployment("batch", f"{HARBOR_EU}/batch:latest"),
        "apps/batch/overlays/prod/kustomization.yaml": overlay,
    }


def _prod_overlay(namespace: str) -> str:
    return f"""\
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
namespace: {namespace}
resources:
  - ../../base
"""


@dataclass
class LjwxRepo:
    """The remote, its clone, and the two environments' registries."""

    remote: GitOpsRemote
    dev: object  # RegistryServer: the dev cluster's Harbor
    prod: object  # RegistryServer: the prod cluster's Harbor
    project: str = field(default_factory=lambda: f"acme{uuid.uuid4().hex[:8]}")

    @property
    def clone(self) -> Path:
        return self.remote.clone

    def harbor(self, env: str, service: str) -> str:
        return getattr(self, env).image(f"{self.project}/{service}")

    def build(self, service: str, content: str) -> str:
        """A build: the digest of an image that is not on any env's registry yet."""
        return push_image(
            self.dev, f"{self.project}/scratch-{service}", None, content=content.encode()
        )

    def replicate(self, env: str, service: str, content: str) -> str:
        """The env's Harbor gets the image (the same manifest, so the same digest)."""
        return push_image(
            getattr(self, env), f"{self.project}/{service}", None, content=content.encode()
        )

    def env(self) -> dict[str, str]:
        return {"HARBOR_URL_DEV": self.dev.url, "HARBOR_URL_PROD": self.prod.url}

    def entry(self, service: str, env: str, digest: str, *, tag: str, git_sha: str, at: str) -> str:
        """A pending entry exactly as service CI appends it (PyYAML style)."""
        return pending_entry(service, env, digest, tag=tag, git_sha=git_sha, at=at)

    def show(self, path: str) -> str | None:
        return self.remote.show(path)

    def queue(self) -> dict:
        return roundtrip_yaml.loads(self.show("release/queue.yaml"), "queue")

    def find(self, release_id: str) -> tuple[str, dict]:
        data = self.queue()
        for name in ("pending", "promoted", "failed", "superseded"):
            for item in data[name]:
                if item["id"] == release_id:
                    return name, item
        raise KeyError(release_id)


def service_map(repo: LjwxRepo) -> str:
    dev, prod = repo.dev.host, repo.prod.host
    p = repo.project
    return f"""\
services:
  api:
    envs:
      dev:
        overlayPath: apps/api/overlays/dev/kustomization.yaml
        kustomizeImageName: {PUBLIC}/api
        harborImage: {dev}/{p}/api
        argocdApp: api-dev
      prod:
        overlayPath: apps/api/overlays/prod/kustomization.yaml
        kustomizeImageName: {PUBLIC}/api
        harborImage: {prod}/{p}/api
        argocdApp: api-prod
        deployImage: {prod}/{p}/api
  worker:
    envs:
      dev:
        overlayPath: apps/worker/overlays/dev/kustomization.yaml
        kustomizeImageName: {PUBLIC}/worker
        harborImage: {dev}/{p}/worker
        argocdApp: worker-dev
  worker-cron:
    envs:
      dev:
        overlayPath: apps/worker/overlays/dev/kustomization.yaml
        kustomizeImageName: {PUBLIC}/worker-cron
        harborImage: {dev}/{p}/worker-cron
        argocdApp: worker-dev
  web:
    envs:
      prod:
        overlayPath: apps/web/overlays/prod/kustomization.yaml
        kustomizeImageName: {prod}/{p}/web   # WRONG: the base renders {PUBLIC}/web
        harborImage: {prod}/{p}/web
        argocdApp: web-prod
        deployImage: {prod}/{p}/web
  batch:
    envs:
      prod:
        overlayPath: apps/batch/overlays/prod/kustomization.yaml
        kustomizeImageName: {PUBLIC}/batch
        harborImage: {prod}/{p}/batch
        argocdApp: batch-prod
"""


def make_ljwx_repo(workdir: Path, dev, prod, *, queue: str = EMPTY_QUEUE) -> LjwxRepo:
    """Seed a remote and clone with the layout; `queue` is the initial queue text."""
    repo = LjwxRepo(remote=None, dev=dev, prod=prod)  # type: ignore[arg-type]
    files: dict[str, str] = {
        "factory.yaml": FACTORY_YAML,
        "release/queue.yaml": queue,
        "release/services.yaml": service_map(repo),
        "apps/api/overlays/dev/kustomization.yaml": API_DEV_OVERLAY,
        "apps/api/overlays/prod/kustomization.yaml": _prod_overlay("api-prod"),
        "apps/worker/overlays/dev/kustomization.yaml": WORKER_DEV_OVERLAY,
        "apps/web/overlays/prod/kustomization.yaml": _prod_overlay("web-prod"),
        "apps/batch/overlays/prod/kustomization.yaml": _prod_overlay("batch-prod"),
    }
    for app, names in (
        ("api", ["api"]),
        ("worker", ["worker", "worker-cron"]),
        ("web", ["web"]),
        ("batch", ["batch"]),
    ):
        for name, text in _base(*names).items():
            files[f"apps/{app}/base/{name}"] = text
    repo.remote = make_gitops_remote(workdir, files)
    return repo


def now_stamp() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def render(overlay_dir: Path) -> str:
    """The overlay rendered by the kustomize the factory proves pins with (the pinned one)."""
    import subprocess

    tool = find_kustomize()
    assert isinstance(tool, Kustomize), tool
    return subprocess.run(
        [*tool.command, str(overlay_dir)], capture_output=True, text=True, check=True
    ).stdout


def rendered_images(overlay_dir: Path) -> list[str]:
    """The images kustomize renders for the overlay: what Argo CD would deploy."""
    out = render(overlay_dir)
    return sorted(
        {line.split("image:", 1)[1].strip() for line in out.splitlines() if "image:" in line}
    )


def pending_entry(service: str, env: str, digest: str, *, tag: str, git_sha: str, at: str) -> str:
    """A pending entry exactly as service CI appends it (PyYAML style)."""
    stamp = at.replace("-", "").replace(":", "")
    suffix = "-prod" if env == "prod" else ""
    return f"""\
- id: {stamp}-{service}-{tag}{suffix}
  service: {service}
  env: {env}
  source:
    ghcr: {PUBLIC}/{service}@{digest}
    tag: {tag}
    digest: {digest}
    gitSha: {git_sha}
  createdAt: '{at}'
  status: pending
  attempts: 0
  lastError: ''
  promotedAt: ''
  supersededAt: ''
  failedAt: ''
"""
