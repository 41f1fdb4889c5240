"""UTC timestamps in the one RFC 3339 form the records use, and the factory's clock.

`utc_now` is the clock every policy reads (soak time, promotion windows, the sync window of
an automatic rollback). `FACTORY_CLOCK_FILE` is a test hook: a file holding the RFC 3339 time
to take for now, read on every look, so a test moves a running daemon's clock by writing it.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path


def utc_now() -> datetime:
    from factory_assets.common import settings  # the module imports nothing heavy

    clock = settings.FACTORY_CLOCK_FILE.get()
    return _set_by_test(clock) if clock else datetime.now(UTC)


def _set_by_test(path: str) -> datetime:
    from factory_assets.common.errors import InputError

    try:
        return parse_rfc3339(Path(path).read_text().strip())
    except (OSError, ValueError) as exc:
        raise InputError(
            "FACTORY_CLOCK_FILE", "-", f"expected a file holding an RFC 3339 time: {exc}"
        ) from None


def rfc3339(moment: datetime) -> str:
    """`2026-11-27T16:22:04.123456Z`: always UTC, always microseconds."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_rfc3339(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)
