"""What the soak runs against, all real and on loopback: two `docker-registry` processes behind
fault proxies, two deploy repositories (bare remotes with a pre-receive hook), an Argo CD
double that reconciles both from their remotes.

- dev registry: token auth (so a 401 can be cured by a token refresh); prod: htpasswd Basic.
- `own`: the factory's layout: a `releases:` queue, pin files with smoke blocks, prod after
  dev with approval. Its images live on the dev registry under `<prefix>/<service>`; a prod
  request is verified on the prod registry at the same path.
- `ljwx`: the deploy repository's layout: four-list queue, service map, overlays, targets file,
  prod after dev with `retag: prod-`. Builds go to `<project>/build-<service>` (the public
  registry, never asked by the engine); each env's Harbor gets `<project>/<service>`.
- The hook refuses every push while its flag file exists, and counts what it refused.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import tempfile
import threading
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from tests.doubles.argocd import ArgoCDDouble, app_status
from tests.soak.proxy import SoakProxy
from tests.soak.schedule import SoakConfig, held_lanes, service_names
from tests.support.gitrepo import make_gitops_remote
from tests.support.ljwx import PUBLIC, deployment, render
from tests.support.oci import push_image
from tests.support.registry import RegistryServer

HOOK = """\
#!/bin/sh
# The soak's remote refuses every push while the flag file exists (a maintenance window,
# a branch protection switched on by hand): the runners must say so and try again later.
if [ -e "{flag}" ]; then
  echo refused >> "{count}"
  echo "soak: pushes are refused while {flag} exists" >&2
  exit 1
fi
exit 0
"""


def no_prod_target(service: str) -> bool:
    """One ljwx service in ten is deployed to dev only: its handoff is `skipped`."""
    return int(service.rsplit("-", 1)[1]) % 10 == 9


@dataclass
class RepoWorld:
    """One deploy repository: its layout, remote, services and where their images live."""

    layout: str
    bare: Path
    flag: Path
    refusals: Path
    services: list[str]
    held: dict[str, list[str]]
    prefix: str  # the repository path prefix on both registries
    dev_host: str  # the dev proxy's host: what the engine talks to
    prod_host: str

    def dev_repository(self, service: str) -> str:
        return f"{self.prefix}/{service}"

    def prod_repository(self, service: str) -> str:
        return f"{self.prefix}/{service}"

    def build_repository(self, service: str) -> str:
        return f"{self.prefix}/build-{service}"

    def image(self, service: str) -> str:
        """The request's image: own layout on the dev Harbor; ljwx on the public registry."""
        if self.layout == "own":
            return f"{self.dev_host}/{self.dev_repository(service)}"
        return f"{PUBLIC}/{service}"

    def lanes(self) -> list[tuple[str, str]]:
        out = [(s, "dev") for s in self.services]
        out += [(s, "prod") for s in self.services if self.has_prod(s)]
        return out

    def has_prod(self, service: str) -> bool:
        return self.layout == "own" or not no_prod_target(service)

    def pin_path(self, service: str, env: str) -> str:
        if self.layout == "own":
            return f"envs/{env}/{service}.yaml"
        return f"apps/{service}/overlays/{env}/kustomization.yaml"

    def refused_pushes(self) -> int:
        try:
            return len(self.refusals.read_text().splitlines())
        except FileNotFoundError:
            return 0

    def git(self, *args: str) -> str:
        return subprocess.run(
            ["git", "--git-dir", str(self.bare), *args], capture_output=True, text=True, check=True
        ).stdout


def _own_files(config: SoakConfig, services: list[str]) -> dict[str, str]:
    held = held_lanes(config, "own")
    envs = {
        "dev": {"pins": "pin-files", **({"hold": held["dev"]} if held.get("dev") else {})},
        "prod": {
            "pins": "pin-files",
            "after": "dev",
            "approval": True,
            **({"hold": held["prod"]} if held.get("prod") else {}),
        },
    }
    files = {
        "factory.yaml": yaml.safe_dump(
            {"queue": {"path": "release/queue.yaml", "format": "releases"}, "environments": envs},
            sort_keys=False,
        ),
        "release/queue.yaml": "releases: []\n",
        "evidence/records/.gitkeep": "",
    }
    for service in services:
        for env in ("dev", "prod"):
            files[f"envs/{env}/{service}.yaml"] = (
                f"# {service}: settings only until the first promotion\n"
                "smoke:\n"
                f"  argocd_app: {service}-{env}\n"
                "  timeout_seconds: 20\n"
                "  interval_seconds: 1\n"
            )
    return files


def _ljwx_files(config: SoakConfig, repo: RepoWorld) -> dict[str, str]:
    held = held_lanes(config, "ljwx")
    envs = {
        "dev": {"pins": "overlays", **({"hold": held["dev"]} if held.get("dev") else {})},
        "prod": {
            "pins": "overlays",
            "after": "dev",
            "retag": "prod-",
            **({"hold": held["prod"]} if held.get("prod") else {}),
        },
    }
    files = {
        "factory.yaml": yaml.safe_dump(
            {
                "queue": {"path": "release/queue.yaml", "format": "four-lists"},
                "service_map": "release/services.yaml",
                "smoke_targets": "scripts/smoke/targets.json",
                "environments": envs,
            },
            sort_keys=False,
        ),
        "release/queue.yaml": "pending: []\npromoted: []\nfailed: []\nsuperseded: []\n",
    }
    lines = ["services:"]
    targets = []
    for service in repo.services:
        lines += [f"  {service}:", "    envs:"]
        for env in ("dev", "prod"):
            if env == "prod" and not repo.has_prod(service):
                continue
            host = repo.dev_host if env == "dev" else repo.prod_host
            lines += [
                f"      {env}:",
                f"        overlayPath: apps/{service}/overlays/{env}/kustomization.yaml",
                f"        kustomizeImageName: {PUBLIC}/{service}",
                f"        harborImage: {host}/{repo.prefix}/{service}",
                f"        argocdApp: {service}-{env}",
            ]
            if env == "prod":
                lines.append(f"        deployImage: {host}/{repo.prefix}/{service}")
            targets.append(
                {
                    "service": service,
                    "environment": env,
                    "argocd_app": f"{service}-{env}",
                    "endpoint": "",
                }
            )
            overlay = (
                "apiVersion: kustomize.config.k8s.io/v1beta1\n"
                "kind: Kustomization\n"
                f"namespace: {service}-{env}\n"
                "resources:\n"
                "  - ../../base\n"
            )
            if env == "dev":
                overlay += (
                    f"images:\n  # pinned by hand during an incident\n"
                    f'  - name: {PUBLIC}/{service}\n    newTag: "dev"\n'
                )
            files[f"apps/{service}/overlays/{env}/kustomization.yaml"] = overlay
        files[f"apps/{service}/base/kustomization.yaml"] = "resources:\n  - deployment.yaml\n"
        files[f"apps/{service}/base/deployment.yaml"] = deployment(
            service, f"{PUBLIC}/{service}:latest"
        )
    files["release/services.yaml"] = "\n".join(lines) + "\n"
    files["scripts/smoke/targets.json"] = json.dumps(
        {"profile": "soak", "targets": targets}, indent=2
    )
    return files


def _install_hook(bare: Path, flag: Path, count: Path) -> None:
    hook = bare / "hooks" / "pre-receive"
    hook.write_text(HOOK.format(flag=flag, count=count))
    hook.chmod(hook.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)


@dataclass
class World:
    """Everything the runners talk to. `pushed` is what each registry holds, by repository."""

    config: SoakConfig
    workdir: Path
    registries: dict[str, RegistryServer] = field(default_factory=dict)
    proxies: dict[str, SoakProxy] = field(default_factory=dict)
    repos: dict[str, RepoWorld] = field(default_factory=dict)
    argocd: ArgoCDDouble | None = None
    reconciler: Reconciler | None = None
    pushed: dict[tuple[str, str], set[str]] = field(default_factory=lambda: defaultdict(set))
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self, services: dict[str, list[str]] | None = None) -> World:
        """Start the registries, proxies, remotes and Argo CD. `services` narrows the lanes
        (a replay of a shortest history only needs the services it names)."""
        self.registries["dev"] = RegistryServer(self.workdir / "registry-dev", "token").start()
        self.registries["prod"] = RegistryServer(self.workdir / "registry-prod", "basic").start()
        for env, server in self.registries.items():
            self.proxies[env] = SoakProxy(server, env).start()
        for layout in ("own", "ljwx"):
            names = service_names(self.config, layout)
            only = services or {
                lay: [s for s in self.config.only_services if s.startswith(pre)]
                for lay, pre in (("own", "fo-"), ("ljwx", "lj-"))
            }
            if services is not None or self.config.only_services:
                names = only.get(layout) or names[:1]  # a replay: its services, one elsewhere
            root = self.workdir / layout
            root.mkdir(parents=True, exist_ok=True)
            repo = RepoWorld(
                layout=layout,
                bare=root / "remote.git",
                flag=root / "refuse-pushes",
                refusals=root / "refused.log",
                services=names,
                held=held_lanes(self.config, layout),
                prefix=f"{'own' if layout == 'own' else 'acme'}{uuid.uuid4().hex[:6]}",
                dev_host=self.proxies["dev"].host,
                prod_host=self.proxies["prod"].host,
            )
            files = (
                _own_files(self.config, names)
                if layout == "own"
                else _ljwx_files(self.config, repo)
            )
            make_gitops_remote(root, files, clone="seed")
            _install_hook(repo.bare, repo.flag, repo.refusals)
            self.repos[layout] = repo
        self.argocd = ArgoCDDouble().start()
        self.reconciler = Reconciler(self.argocd, list(self.repos.values())).start()
        return self

    def stop(self) -> None:
        if self.reconciler is not None:
            self.reconciler.stop()
        if self.argocd is not None:
            self.argocd.stop()
        for proxy in self.proxies.values():
            proxy.stop()
        for server in self.registries.values():
            server.stop()

    # -- images ------------------------------------------------------------------------------
    def push(self, env: str, repository: str, content: str, tag: str | None = None) -> str:
        """Put an image on an env's registry (a build, or a replica: the same bytes)."""
        digest = push_image(self.registries[env], repository, tag, content=content.encode())
        with self._lock:
            self.pushed[(env, repository)].add(digest)
        return digest

    def holds(self, env: str, repository: str, digest: str) -> bool:
        with self._lock:
            return digest in self.pushed[(env, repository)]

    def has_tag(self, env: str, repository: str, tag: str) -> str | None:
        """The digest the env's registry answers for `repository:tag` (None: no such tag)."""
        server = self.registries[env]
        from resources.registry import RegistryClient, RegistryError

        try:
            with RegistryClient(server.url, server.username, server.password) as client:
                return client.head_digest(f"{server.host}/{repository}", tag)
        except RegistryError:
            return None

    # -- the runners' environment --------------------------------------------------------------
    def runner_env(self) -> dict[str, str]:
        dev, prod = self.proxies["dev"], self.proxies["prod"]
        assert self.argocd is not None
        return {
            "HARBOR_URL_DEV": dev.url,
            "HARBOR_USERNAME_DEV": dev.username or "",
            "HARBOR_PASSWORD_DEV": dev.password or "",
            "HARBOR_URL_PROD": prod.url,
            "HARBOR_USERNAME_PROD": prod.username or "",
            "HARBOR_PASSWORD_PROD": prod.password or "",
            "ARGOCD_URL": self.argocd.url,
            "ARGOCD_TOKEN": self.argocd.token,
            "FACTORY_CLAIM_LEASE_SECONDS": str(self.config.lease_seconds),
            "FACTORY_REPLICATION_TIMEOUT": str(self.config.replication_timeout),
            "FACTORY_RETRY_BASE_SECONDS": "2",
            "FACTORY_RETRY_MAX_SECONDS": "20",
            "FACTORY_RELEASE_RETENTION_DAYS": "365",
        }


class Reconciler:
    """Argo CD for both repositories: every `interval` it syncs each app to its remote's head,
    reporting what runs there: the overlay rendered by kustomize, or the pin file's image.
    Only apps whose files changed between heads are rendered again."""

    def __init__(self, double: ArgoCDDouble, repos: list[RepoWorld], interval: float = 0.5):
        self.double, self.repos, self.interval = double, repos, interval
        self._stop = threading.Event()
        self._heads: dict[str, str] = {}
        self._images: dict[str, tuple[str, ...]] = {}
        self.syncs = 0
        self.torn: list[str] = []  # overlays kustomize could not render: a torn pin
        self._thread = threading.Thread(target=self._run, name="argocd-reconciler", daemon=True)

    def start(self) -> Reconciler:
        for repo in self.repos:
            self.sync(repo)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            for repo in self.repos:
                try:
                    self.sync(repo)
                except subprocess.CalledProcessError:
                    continue  # a push in flight: the next look sees a whole commit

    def sync(self, repo: RepoWorld) -> None:
        head = repo.git("rev-parse", "main").strip()
        before = self._heads.get(repo.layout)
        if head == before:
            return
        if before is None:
            changed = None
        else:
            changed = set(repo.git("diff", "--name-only", before, head).split())
        with tempfile.TemporaryDirectory(prefix="argocd-") as tmp:
            checkout = None
            for service, env in repo.lanes():
                app = f"{service}-{env}"
                path = repo.pin_path(service, env)
                if changed is None or path in changed or app not in self._images:
                    if checkout is None:
                        subprocess.run(
                            ["git", "--git-dir", str(repo.bare), "--work-tree", tmp]
                            + [
                                "checkout",
                                "-f",
                                head,
                                "--",
                                "apps" if repo.layout == "ljwx" else "envs",
                            ],
                            capture_output=True,
                            check=True,
                        )
                        checkout = Path(tmp)
                    self._images[app] = self._running(repo, checkout, service, env)
                self._report(app, head)
        self._heads[repo.layout] = head
        self.syncs += 1

    def _running(self, repo: RepoWorld, tree: Path, service: str, env: str) -> tuple[str, ...]:
        if repo.layout == "own":
            try:
                data = yaml.safe_load((tree / repo.pin_path(service, env)).read_text()) or {}
            except (OSError, yaml.YAMLError):
                self.torn.append(f"{repo.layout}:{service}-{env}")
                return ()
            image = data.get("image") if isinstance(data, dict) else None
            return (image,) if isinstance(image, str) else (f"{PUBLIC}/{service}:latest",)
        try:
            out = render(tree / os.path.dirname(repo.pin_path(service, env)))
        except subprocess.CalledProcessError:
            self.torn.append(f"{repo.layout}:{service}-{env}")
            return ()
        return tuple(
            sorted({ln.split("image:", 1)[1].strip() for ln in out.splitlines() if "image:" in ln})
        )

    def _report(self, app: str, head: str) -> None:
        status = app_status(revision=head, images=list(self._images.get(app, ())))
        try:
            self.double.replace_status(app, status)
        except KeyError:
            self.double.set_app(app, status)
