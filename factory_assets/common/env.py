"""Settings read from the environment, checked: a bad value names the variable."""

from __future__ import annotations

import os

from factory_assets.common.errors import InputError


def positive_int_env(name: str, default: int) -> int:
    """`$name` as a whole number >= 1, or `default` when unset or empty."""
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise InputError(name, "-", f"expected a whole number >= 1, got {raw!r}") from None
    if value < 1:
        raise InputError(name, "-", f"expected a whole number >= 1, got {value}")
    return value
