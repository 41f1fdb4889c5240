"""Settings read from the environment, checked: a bad value names the variable."""

from __future__ import annotations

import os

from factory_assets.common.errors import InputError


def int_setting(name: str, default: int, *, minimum: int = 1) -> int:
    """`$name` as a whole number >= `minimum`, or `default` when unset or empty.

    A typo is an InputError naming the variable, never a silent fall back to the default.
    """
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise InputError(name, "-", f"expected a whole number >= {minimum}, got {raw!r}") from None
    if value < minimum:
        raise InputError(name, "-", f"expected a whole number >= {minimum}, got {value}")
    return value
