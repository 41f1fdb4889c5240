"""Who holds a claim, and whether that runner is gone.

A claim names its runner as `host:pid:token` and carries a lease. It is stale when the
lease has ended, or at once when the runner was on this host and its process is gone
(or, for this very process, when the pass that made it has finished). Runners on other
hosts are only ever judged by the lease, because their processes cannot be seen from here.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime

from factory_assets.release.model import ReleaseEntry

_ACTIVE: set[str] = set()  # runner ids of passes in progress in this process


def hostname() -> str:
    import socket  # here: a dry run that meets no claim never needs it

    return socket.gethostname().replace(":", "_") or "localhost"


@contextmanager
def active_runner() -> Iterator[str]:
    """A fresh runner id, marked live in this process for the duration of a pass."""
    import secrets

    runner = f"{hostname()}:{os.getpid()}:{secrets.token_hex(4)}"
    _ACTIVE.add(runner)
    try:
        yield runner
    finally:
        _ACTIVE.discard(runner)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, owned by someone else
    return True


def lease_expired(entry: ReleaseEntry, now: datetime) -> bool:
    """Staleness by the lease alone: the pure rule, the same on every host."""
    return entry.claim_expires_at is None or entry.claim_expires_at <= now


def claim_is_stale(entry: ReleaseEntry, now: datetime) -> bool:
    """The lease has ended, or the runner was local and is gone (see the module docstring)."""
    if lease_expired(entry, now):
        return True
    parts = (entry.claimed_by or "").rsplit(":", 2)
    if len(parts) != 3 or parts[0] != hostname() or not parts[1].isdigit():
        return False
    pid = int(parts[1])
    if pid == os.getpid():
        return entry.claimed_by not in _ACTIVE
    return not _pid_alive(pid)
