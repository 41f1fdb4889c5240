"""Fixtures the soak's regression tests share with the layout and smoke tests."""

from tests.layout.conftest import ljwx, prod_registry  # noqa: F401
from tests.smoke.conftest import endpoint  # noqa: F401
