"""How one promotion pass behaves: every setting it needs, read once at the edge.

The CLI builds it from the environment (`PassConfig.from_env`, the variables declared in
`common/settings.py`); Dagster from the `PromotionSettings` resource, whose fields stand for
the same variables and default to them. The pass and its steps read no variable themselves.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, replace
from datetime import timedelta

from factory_assets.common import settings
from factory_assets.promotion.replication import ReplicationPolicy
from factory_assets.release.state import RetryPolicy


@dataclass(frozen=True)
class PassConfig:
    """The rules of one pass, frozen: back-off, replication wait, lease, retention, scope."""

    retry: RetryPolicy = RetryPolicy()
    replication: ReplicationPolicy = ReplicationPolicy()
    lease: timedelta = timedelta(seconds=settings.FACTORY_CLAIM_LEASE_SECONDS.default)
    retention: timedelta = timedelta(days=settings.FACTORY_RELEASE_RETENTION_DAYS.default)
    resolve_concurrency: int = settings.FACTORY_RESOLVE_CONCURRENCY.default
    envs: frozenset[str] | None = None  # the environments this runner promotes (None: all)
    service: str | None = None  # only this service's lanes
    force: bool = False  # promote lanes on hold or outside a promotion window (recorded)
    forced_by: str | None = None  # who forces past a promotion window, and why (its record)
    forced_why: str | None = None

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> PassConfig:
        """The settings as `environ` (else the process environment) gives them; a value out
        of range is an InputError naming its variable."""
        from factory_assets.layout.config import allowed_envs

        return cls(
            retry=RetryPolicy(
                base_seconds=settings.FACTORY_RETRY_BASE_SECONDS.get(environ),
                max_seconds=settings.FACTORY_RETRY_MAX_SECONDS.get(environ),
            ),
            replication=ReplicationPolicy(
                timeout=timedelta(seconds=settings.FACTORY_REPLICATION_TIMEOUT.get(environ))
            ),
            lease=timedelta(seconds=settings.FACTORY_CLAIM_LEASE_SECONDS.get(environ)),
            retention=timedelta(days=settings.FACTORY_RELEASE_RETENTION_DAYS.get(environ)),
            resolve_concurrency=settings.FACTORY_RESOLVE_CONCURRENCY.get(environ),
            envs=allowed_envs(environ),
        )

    def scoped(
        self,
        *,
        service: str | None = None,
        force: bool = False,
        envs: Collection[str] | None = None,
        forced_by: str | None = None,
        forced_why: str | None = None,
    ) -> PassConfig:
        """This configuration for one invocation: one service, forced (by whom, why), fewer
        environments."""
        return replace(
            self,
            service=service,
            force=force,
            envs=frozenset(envs) if envs is not None else self.envs,
            forced_by=forced_by,
            forced_why=forced_why,
        )
