"""Dagster resources: configuration for the Dagster layer, read from the environment."""

from pathlib import Path

import dagster as dg

from factory_assets.config import resolve_repo


class GitOpsRepo(dg.ConfigurableResource):
    """The deploy repository the factory operates on (FACTORY_REPO, default: the current directory)."""

    path: str = ""

    def resolve(self) -> Path:
        return resolve_repo(self.path or None)
