"""A deploy repo (bare remote + clone) wired to a real registry, and helpers to drive passes."""

from __future__ import annotations

import subprocess
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from factory_assets.common import roundtrip_yaml
from factory_assets.promotion import PassResult, run_pass
from factory_assets.release.add import add_release
from factory_assets.release.model import ReleaseQueue
from factory_assets.release.releases_list import parse_queue
from resources.registry import RegistryClient
from tests.support.gitrepo import GitOpsRemote
from tests.support.oci import push_image


@dataclass
class Deploy:
    """One GitOps remote, its main clone, and the registry its images live on."""

    remote: GitOpsRemote
    registry: object  # RegistryServer or FaultProxy
    prefix: str = field(
        default_factory=lambda: f"factory/t{uuid.uuid4().hex[:10]}"
    )  # per test: no shared tags

    @property
    def clone(self) -> Path:
        return self.remote.clone

    def client(self, **kwargs) -> RegistryClient:
        reg = self.registry
        return RegistryClient(reg.url, reg.username, reg.password, **kwargs)

    def image(self, service: str) -> str:
        return self.registry.image(f"{self.prefix}/{service}")

    def push(self, service: str, tag: str | None = "v1", content: bytes | None = None) -> str:
        return push_image(
            self.registry,
            f"{self.prefix}/{service}",
            tag,
            content=content or f"{service} {tag}".encode(),
        )

    def add(
        self,
        service: str,
        *,
        tag: str | None = None,
        digest: str | None = None,
        clone: Path | None = None,
        **kw,
    ):
        return add_release(
            clone or self.clone,
            service=service,
            tag=tag,
            digest=digest,
            image=kw.pop("image", self.image(service)),
            requested_by="test",
            push=True,
            harbor_url=self.registry.url,
            **kw,
        ).entry

    def add_many(self, services: list[str], tag: str = "v1") -> None:
        """Queue one release per service in a single human commit (faster than one push each)."""
        subprocess.run(["git", "-C", str(self.clone), "pull", "-q", "--rebase"], check=True)
        for service in services:
            add_release(
                self.clone,
                service=service,
                tag=tag,
                image=self.image(service),
                requested_by="test",
                harbor_url=self.registry.url,
            )
        queue = (self.clone / "release" / "queue.yaml").read_text()
        self.remote.commit_and_push(
            {"release/queue.yaml": queue}, f"queue {len(services)} releases"
        )

    def run(
        self, clone: Path | None = None, client_kwargs: dict | None = None, **kwargs
    ) -> PassResult:
        with self.client(**(client_kwargs or {})) as client:
            return run_pass(clone or self.clone, registry=client, **kwargs)

    def commit(self, files: dict[str, str], message: str) -> str:
        """A human edit: pull the main clone, commit `files`, push."""
        subprocess.run(["git", "-C", str(self.clone), "pull", "-q", "--rebase"], check=True)
        return self.remote.commit_and_push(files, message)

    def git(self, *args: str) -> str:
        return subprocess.run(
            ["git", "--git-dir", str(self.remote.bare), *args],
            check=True,
            capture_output=True,
            text=True,
        ).stdout

    def show(self, path: str) -> str | None:
        return self.remote.show(path)

    def queue(self) -> ReleaseQueue:
        text = self.show("release/queue.yaml") or "releases: []\n"
        return parse_queue(roundtrip_yaml.loads(text, "queue"), Path("queue"))[0]

    def pin(self, service: str) -> dict | None:
        text = self.show(f"envs/dev/{service}.yaml")
        return None if text is None else dict(roundtrip_yaml.loads(text, service))

    def commits(self) -> list[str]:
        return self.git("log", "--format=%s", "main").splitlines()


@pytest.fixture
def deploy(gitops_remote: GitOpsRemote, registry) -> Deploy:
    return Deploy(gitops_remote, registry)
