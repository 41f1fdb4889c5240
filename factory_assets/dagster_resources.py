"""Dagster resources: configuration for the Dagster layer, read from the environment."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import dagster as dg
from pydantic import Field, PrivateAttr

from factory_assets.config import resolve_repo

if TYPE_CHECKING:
    from factory_assets.promotion.pass_config import PassConfig
    from resources.registry import RegistryClient
    from resources.registry.environments import EnvRegistries


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
            from resources.registry.environments import EnvRegistries

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


class PromotionSettings(dg.ConfigurableResource):
    """How a promotion pass behaves in this code location: set per deployment, shown in the UI.

    Each field stands for the variable of the same name (`common/settings.py`, which the CLI
    reads too); an empty field takes that variable from the environment, else its default.
    """

    factory_envs: list[str] | None = Field(
        default=None, description="FACTORY_ENVS: the environments this runner promotes"
    )
    factory_retry_base_seconds: int | None = Field(
        default=None, description="FACTORY_RETRY_BASE_SECONDS: first back-off of a retry"
    )
    factory_retry_max_seconds: int | None = Field(
        default=None, description="FACTORY_RETRY_MAX_SECONDS: the longest back-off"
    )
    factory_claim_lease_seconds: int | None = Field(
        default=None, description="FACTORY_CLAIM_LEASE_SECONDS: how long a claim holds"
    )
    factory_release_retention_days: int | None = Field(
        default=None, description="FACTORY_RELEASE_RETENTION_DAYS: when old entries are compacted"
    )
    factory_resolve_concurrency: int | None = Field(
        default=None, description="FACTORY_RESOLVE_CONCURRENCY: registry resolutions in flight"
    )
    factory_replication_timeout: int | None = Field(
        default=None, description="FACTORY_REPLICATION_TIMEOUT: how long a digest may wait"
    )

    def pass_config(self) -> PassConfig:
        """The pass configuration: the environment, with each field that is set in its place
        (checked as its variable is: a value out of range names it)."""
        from factory_assets.common.settings import environ_with
        from factory_assets.promotion.pass_config import PassConfig

        fields = {
            name.upper(): ",".join(value) if isinstance(value, list) else str(value)
            for name, value in self.model_dump().items()
            if value is not None
        }
        return PassConfig.from_env(environ_with(fields))
