"""A service CI request and a promotion pass as the pipeline tests drive them: one place, so
the tests that need them do not each carry a copy."""

from __future__ import annotations

from pathlib import Path

from factory_assets.promotion import run_pass
from factory_assets.release.add import add_release
from resources.registry.environments import EnvRegistries
from tests.support.oci import push_image


def request_api(clone: Path, registry, repo: str, tag: str, **kw):
    """Service CI: push the image `api <tag>` and queue it (pushed); the new entry."""
    push_image(registry, repo, tag, content=f"api {tag}".encode())
    return add_release(
        clone,
        service="api",
        tag=tag,
        image=registry.image(repo),
        requested_by="ci",
        push=True,
        **kw,
    ).entry


def promotion_pass(clone: Path, **kw):
    """One promotion pass on `clone`, the env registries from the environment (closed after)."""
    registries = EnvRegistries()
    try:
        return run_pass(clone, registry=registries, **kw)
    finally:
        registries.close()
