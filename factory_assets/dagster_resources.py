"""Dagster resources: configuration for the Dagster layer, read from the environment."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import dagster as dg
from pydantic import PrivateAttr

from factory_assets.config import resolve_repo

if TYPE_CHECKING:
    from resources.registries import EnvRegistries
    from resources.registry import RegistryClient


class GitOpsRepo(dg.ConfigurableResource):
    """The deploy repository the factory operates on (FACTORY_REPO, default: the current directory)."""

    path: str = ""

    def resolve(self) -> Path:
        return resolve_repo(self.path or None)


class HarborRegistry(dg.ConfigurableResource):
    """The OCI registry (Harbor): HARBOR_URL, HARBOR_USERNAME, HARBOR_PASSWORD from the environment.

    Empty fields fall back to the environment at run time, so secrets never sit in config.
    The registry client (httpx) is imported on first use: runs that never touch the registry
    do not load it with the definitions.
    """

    url: str = ""
    username: str = ""
    password: str = ""
    _client: RegistryClient | None = PrivateAttr(default=None)
    _registries: EnvRegistries | None = PrivateAttr(default=None)

    def registries(self) -> RegistryClient | EnvRegistries:
        """One registry per environment (HARBOR_URL_<ENV>), unless this resource names a url."""
        if self.url or self.username:
            return self.client()
        if self._registries is None:
            from resources.registries import EnvRegistries

            self._registries = EnvRegistries()
        return self._registries

    def client(self) -> RegistryClient:
        if self._client is None:
            from resources.registry import RegistryClient

            # Field by field: a configured url must not drop the credentials or the rate cap.
            self._client = RegistryClient.from_env(
                self.url or None, self.username or None, self.password or None
            )
        return self._client

    def teardown_after_execution(self, context: dg.InitResourceContext) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None
        if self._registries is not None:
            self._registries.close()
            self._registries = None
