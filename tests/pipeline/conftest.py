"""Fixtures of the pipeline tests: the prod registry, a readiness endpoint and the Argo CD
double (shared ones)."""

from tests.layout.conftest import prod_registry  # noqa: F401
from tests.smoke.conftest import argocd, endpoint  # noqa: F401
