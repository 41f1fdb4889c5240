"""Fixtures of the pipeline tests: the prod registry and a readiness endpoint (shared ones)."""

from tests.layout.conftest import prod_registry  # noqa: F401
from tests.smoke.conftest import endpoint  # noqa: F401
