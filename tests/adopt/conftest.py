"""The ljwx-layout fixtures (two real registries and an adopted-style repo) for pass tests."""

from tests.layout.conftest import ljwx, prod_registry  # noqa: F401 - fixtures by name
