"""The sandbox's Dagster daemon and webserver for tests, plus a poll that reports the log at failure time."""

from __future__ import annotations

import time

from factory_assets.sandbox.dagster_processes import (
    DagsterProcess,
    shipped_dagster_home,
    start_daemon,
    start_webserver,
)
from factory_assets.sandbox.registry_server import free_port

__all__ = [
    "DagsterProcess",
    "shipped_dagster_home",
    "start_daemon",
    "start_webserver",
    "free_port",
    "wait_for",
]


def wait_for(predicate, timeout: float, interval: float = 0.5, what="condition"):
    """Poll `predicate` until it is truthy; `what` may be a callable, built only on a timeout
    (so a daemon log in the message is the log at failure time, not at the start)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    described = what() if callable(what) else what
    raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {described}")
