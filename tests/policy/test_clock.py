"""FACTORY_CLOCK_FILE: a test sets the factory's clock, read on every look (no sleeping)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from factory_assets.common.clock import utc_now
from factory_assets.common.errors import InputError


def test_the_clock_file_sets_now_and_moving_it_moves_the_clock(tmp_path, monkeypatch):
    clock = tmp_path / "clock"
    clock.write_text("2027-03-26T15:00:00Z\n")
    monkeypatch.setenv("FACTORY_CLOCK_FILE", str(clock))
    assert utc_now() == datetime(2027, 3, 26, 15, 0, tzinfo=UTC)
    clock.write_text("2027-03-29T06:00:00.000000Z")
    assert utc_now() == datetime(2027, 3, 29, 6, 0, tzinfo=UTC)
    clock.write_text("monday")
    with pytest.raises(InputError, match="FACTORY_CLOCK_FILE: -: expected a file holding"):
        utc_now()
    monkeypatch.delenv("FACTORY_CLOCK_FILE")
    assert utc_now().year >= 2026 and utc_now().tzinfo is UTC
