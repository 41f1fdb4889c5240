"""Fixtures for the ljwx-deploy layout: two real registries (dev and prod Harbor) and a repo."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.ljwx import LjwxRepo, make_ljwx_repo
from tests.support.registry import RegistryServer


@pytest.fixture(scope="session")
def prod_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RegistryServer]:
    """A second open registry: the prod cluster's Harbor (the session `registry` is dev's)."""
    server = RegistryServer(tmp_path_factory.mktemp("registry-prod"), auth="none").start()
    yield server
    server.stop()


@pytest.fixture
def ljwx(tmp_path: Path, registry, prod_registry, monkeypatch: pytest.MonkeyPatch) -> LjwxRepo:
    repo = make_ljwx_repo(tmp_path / "ljwx", registry, prod_registry)
    for name in ("HARBOR_URL", "HARBOR_USERNAME", "HARBOR_PASSWORD", "FACTORY_ENVS"):
        monkeypatch.delenv(name, raising=False)
    for name, value in repo.env().items():
        monkeypatch.setenv(name, value)
    return repo
