"""Test hook: `FACTORY_CRASH_AT=<step>:<point>` kills the process (SIGKILL) at that step boundary.

Crash-safety tests use it to stop a promotion exactly between two steps, as `kill -9` would,
then check that the next pass finishes or retries the release. Points, in pass order:

    claim_release:applied|committed|pushed   resolve_digest:done
    write_pin:applied|committed|pushed       record_promotion:applied|committed|pushed

Unset in production; it has no other effect.
"""

from __future__ import annotations

import os
import signal

from factory_assets.common import settings


def crash_point(name: str) -> None:
    """SIGKILL ourselves when FACTORY_CRASH_AT names this point (no cleanup, no flush)."""
    if settings.FACTORY_CRASH_AT.get() == name:
        os.kill(os.getpid(), signal.SIGKILL)
