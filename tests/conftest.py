"""Shared fixtures: real registries (open, basic, token), a fault proxy, git remotes, DAGSTER_HOME.

Registries are session-scoped (one per variant per xdist worker); push each test's images to its
own repository (`unique_repo`) so tests never see each other's tags.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.support.dagster_home import make_dagster_home
from tests.support.gitrepo import GitOpsRemote, make_gitops_remote
from tests.support.registry import (
    AuthKind,
    FaultProxy,
    RegistryEndpoint,
    RegistryServer,
    endpoint_env,
)


def _start_registry(root: Path, auth: AuthKind, **kwargs: object) -> RegistryServer:
    return RegistryServer(root, auth, **kwargs).start()  # type: ignore[arg-type]


@pytest.fixture(scope="session")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RegistryServer]:
    """An open (no auth) registry shared by the session."""
    server = _start_registry(tmp_path_factory.mktemp("registry-open"), "none")
    yield server
    server.stop()


@pytest.fixture(scope="session")
def registry_basic(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RegistryServer]:
    """A registry with htpasswd Basic auth; `.username` / `.password` are the valid credentials."""
    server = _start_registry(tmp_path_factory.mktemp("registry-basic"), "basic")
    yield server
    server.stop()


@pytest.fixture(scope="session")
def registry_token(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RegistryServer]:
    """A registry with Bearer token auth; `.token_issuer` counts token requests."""
    server = _start_registry(tmp_path_factory.mktemp("registry-token"), "token")
    yield server
    server.stop()


@pytest.fixture
def make_registry(tmp_path: Path) -> Iterator[Callable[..., RegistryServer]]:
    """Factory for a fresh registry owned by one test: `make_registry("token", token_expires_in=2)`."""
    started: list[RegistryServer] = []

    def make(auth: AuthKind = "none", **kwargs: object) -> RegistryServer:
        server = _start_registry(tmp_path / f"registry-{len(started)}", auth, **kwargs)
        started.append(server)
        return server

    yield make
    for server in started:
        server.stop()


@pytest.fixture
def make_fault_proxy() -> Iterator[Callable[[RegistryServer], FaultProxy]]:
    """Factory for a fault-injecting proxy in front of any registry; stopped after the test."""
    started: list[FaultProxy] = []

    def make(upstream: RegistryServer) -> FaultProxy:
        proxy = FaultProxy(upstream).start()
        started.append(proxy)
        return proxy

    yield make
    for proxy in started:
        proxy.stop()


@pytest.fixture
def fault_proxy(
    registry: RegistryServer, make_fault_proxy: Callable[[RegistryServer], FaultProxy]
) -> FaultProxy:
    """A fresh fault proxy in front of the open session registry."""
    return make_fault_proxy(registry)


@pytest.fixture
def unique_repo() -> str:
    """A repository name no other test uses: `factory/t<hex>`."""
    return f"factory/t{uuid.uuid4().hex[:12]}"


@pytest.fixture
def harbor_env(monkeypatch: pytest.MonkeyPatch) -> Callable[[RegistryEndpoint], dict[str, str]]:
    """`harbor_env(registry)` sets HARBOR_URL/HARBOR_USERNAME/HARBOR_PASSWORD for this test."""

    def apply(endpoint: RegistryEndpoint) -> dict[str, str]:
        for name in ("HARBOR_URL", "HARBOR_USERNAME", "HARBOR_PASSWORD"):
            monkeypatch.delenv(name, raising=False)
        env = endpoint_env(endpoint)
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        return env

    return apply


@pytest.fixture
def gitops_remote(tmp_path: Path) -> GitOpsRemote:
    """Bare remote (branch main) + a seeded, pushed working clone; `.new_clone()` for races."""
    return make_gitops_remote(tmp_path / "gitops")


@pytest.fixture
def dagster_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A tmp DAGSTER_HOME (telemetry off) exported for this test; `DagsterInstance.get()` works."""
    home = make_dagster_home(tmp_path / "dagster_home")
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    return home


@pytest.fixture
def dagster_instance(dagster_home: Path) -> Iterator[object]:
    """`DagsterInstance.get()` on the tmp DAGSTER_HOME, disposed after the test."""
    from dagster import DagsterInstance  # imported lazily: dagster is slow to import

    instance = DagsterInstance.get()
    yield instance
    instance.dispose()
