"""Numeric settings from the environment: a bad value is an error naming the variable."""

from __future__ import annotations

import subprocess
import sys

import pytest

from factory_assets.common.env import int_setting
from factory_assets.common.errors import InputError


@pytest.mark.parametrize(("raw", "expected"), [(None, 3), ("", 3), ("7", 7), (" 2 ", 2)])
def test_int_setting_reads_or_defaults(monkeypatch, raw, expected):
    if raw is None:
        monkeypatch.delenv("FACTORY_TEST_SETTING", raising=False)
    else:
        monkeypatch.setenv("FACTORY_TEST_SETTING", raw)
    assert int_setting("FACTORY_TEST_SETTING", 3) == expected


@pytest.mark.parametrize("raw", ["three", "0", "-1", "2.5"])
def test_int_setting_names_the_variable(monkeypatch, raw):
    monkeypatch.setenv("FACTORY_TEST_SETTING", raw)
    with pytest.raises(InputError, match="FACTORY_TEST_SETTING: -: expected a whole number >= 1"):
        int_setting("FACTORY_TEST_SETTING", 3)


def test_repair_cli_refuses_a_bad_attempt_limit(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "factory_assets.cli.main", "repair", "--repo", str(tmp_path)],
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin", "FACTORY_REPAIR_MAX_ATTEMPTS": "many"},
    )
    assert proc.returncode == 1
    assert "FACTORY_REPAIR_MAX_ATTEMPTS: -: expected a whole number >= 1, got 'many'" in proc.stderr


def test_a_minimum_of_zero_allows_zero(monkeypatch):
    monkeypatch.setenv("FACTORY_TEST_SETTING", "0")
    assert int_setting("FACTORY_TEST_SETTING", 30, minimum=0) == 0
    monkeypatch.setenv("FACTORY_TEST_SETTING", "-1")
    with pytest.raises(InputError, match="expected a whole number >= 0, got -1"):
        int_setting("FACTORY_TEST_SETTING", 30, minimum=0)


def test_a_typo_in_a_git_setting_stops_the_command_instead_of_being_ignored(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "factory_assets.cli.main", "promote", "--dry-run"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={"PATH": "/usr/bin:/bin", "FACTORY_GIT_MAX_ATTEMPTS": "ten"},
    )
    assert proc.returncode == 1
    assert "FACTORY_GIT_MAX_ATTEMPTS: -: expected a whole number >= 1, got 'ten'" in proc.stderr
