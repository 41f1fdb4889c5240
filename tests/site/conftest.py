"""Fixtures for the dashboard: the fixture evidence repo, a build, a static server, one chromium."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from factory_assets.site.build import SiteLinks, build_site
from tests.site.fixture import write_fixture
from tests.site.server import StaticServer

LINKS = SiteLinks(
    commit_url_template="https://git.example.test/deploy/commit/{commit}",
    dagster_url="https://dagster.example.test",
)


@pytest.fixture
def evidence_repo(tmp_path: Path) -> Path:
    repo = tmp_path / "repo"
    repo.mkdir()
    write_fixture(repo)
    return repo


@pytest.fixture(scope="module")
def built_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One build of the fixture, shared by a module's read-only tests."""
    root = tmp_path_factory.mktemp("site")
    (root / "repo").mkdir()
    write_fixture(root / "repo")
    return build_site(root / "repo", root / "out", links=LINKS).out_dir


@pytest.fixture(scope="session")
def browser() -> Iterator[object]:
    if not shutil.which("chromium"):
        pytest.skip("chromium is not installed (Debian package `chromium`)")
    from tests.site.chromium import Browser

    instance = Browser()
    yield instance
    instance.close()


@pytest.fixture
def serve() -> Iterator[object]:
    """`serve(directory)` -> base URL of a loopback static server for this test."""
    servers: list[StaticServer] = []

    def start(directory: Path) -> str:
        server = StaticServer(directory).start()
        servers.append(server)
        return server.url

    yield start
    for server in servers:
        server.stop()
