"""Settings read from the environment: a bad value is an error naming the variable; a value is
read when asked for; a secret never prints."""

from __future__ import annotations

import subprocess
import sys

import pytest

from factory_assets.common import settings
from factory_assets.common.errors import InputError
from factory_assets.common.settings import Setting, whole_number
from resources.registry import RegistryConfigError
from resources.registry.environments import env_settings


def count(minimum: int = 1, default: int = 3) -> Setting:
    return Setting("FACTORY_TEST_SETTING", whole_number(minimum), default=default, strip=True)


@pytest.mark.parametrize(("raw", "expected"), [(None, 3), ("", 3), ("7", 7), (" 2 ", 2)])
def test_a_whole_number_reads_or_defaults(monkeypatch, raw, expected):
    if raw is None:
        monkeypatch.delenv("FACTORY_TEST_SETTING", raising=False)
    else:
        monkeypatch.setenv("FACTORY_TEST_SETTING", raw)
    assert count().get() == expected


@pytest.mark.parametrize("raw", ["three", "0", "-1", "2.5"])
def test_a_bad_whole_number_names_the_variable(monkeypatch, raw):
    monkeypatch.setenv("FACTORY_TEST_SETTING", raw)
    with pytest.raises(InputError, match="FACTORY_TEST_SETTING: -: expected a whole number >= 1"):
        count().get()


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
    assert count(minimum=0, default=30).get() == 0
    monkeypatch.setenv("FACTORY_TEST_SETTING", "-1")
    with pytest.raises(InputError, match="expected a whole number >= 0, got -1"):
        count(minimum=0, default=30).get()


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


@pytest.mark.parametrize("raw", ["fast", "-1", "nan", "inf"])
def test_a_bad_number_names_the_variable_and_the_text(raw):
    with pytest.raises(InputError) as bad:
        settings.HARBOR_REQUESTS_PER_SECOND.get({"HARBOR_REQUESTS_PER_SECOND": raw})
    assert str(bad.value) == f"HARBOR_REQUESTS_PER_SECOND: -: expected a number >= 0, got {raw!r}"


def test_a_value_is_read_when_asked_for_not_at_import(monkeypatch):
    monkeypatch.setenv("FACTORY_CLAIM_LEASE_SECONDS", "60")
    assert settings.FACTORY_CLAIM_LEASE_SECONDS.get() == 60
    monkeypatch.setenv("FACTORY_CLAIM_LEASE_SECONDS", "90")
    assert settings.FACTORY_CLAIM_LEASE_SECONDS.get() == 90
    monkeypatch.delenv("FACTORY_CLAIM_LEASE_SECONDS")
    assert settings.FACTORY_CLAIM_LEASE_SECONDS.get() == 600


def test_a_secret_never_prints_and_its_client_gets_the_text_as_it_is():
    value = settings.HARBOR_PASSWORD.get({"HARBOR_PASSWORD": " s3cret-value "})
    assert "s3cret" not in f"{value} {value!r} {[value]!r}"
    assert settings.reveal(value) == " s3cret-value "  # credentials are never stripped
    assert settings.reveal(settings.HARBOR_PASSWORD.get({})) is None


def test_every_credential_is_typed_secret():
    credentials = {s.name for s in settings.SETTINGS if s.name.endswith(("PASSWORD", "TOKEN"))}
    credentials |= {s.name for s in settings.SETTINGS if "PASSWORD_" in s.name}
    assert credentials == {s.name for s in settings.SETTINGS if s.secret}


def test_the_argo_cd_url_is_read_through_its_alias_only_when_unset():
    assert settings.ARGOCD_URL.get({"ARGOCD_SERVER": "https://argo"}) == "https://argo"
    both = {"ARGOCD_URL": "https://own", "ARGOCD_SERVER": "https://argo"}
    assert settings.ARGOCD_URL.get(both) == "https://own"
    # Other aliases are filled by env_aliases at the CLI's and the code location's start only.
    assert settings.FACTORY_GIT_BRANCH.get({"GIT_BRANCH": "release"}) is None


def test_a_per_environment_variable_is_named_after_the_environment(monkeypatch):
    assert settings.HARBOR_URL_ENV.variable("eu-west") == "HARBOR_URL_EU_WEST"
    monkeypatch.setenv("HARBOR_URL", "https://harbor.example")
    monkeypatch.setenv("HARBOR_URL_EU_WEST", "https://harbor-eu.example")
    monkeypatch.setenv("HARBOR_USERNAME_EU_WEST", "robot$eu")
    monkeypatch.delenv("HARBOR_PASSWORD_EU_WEST", raising=False)
    with pytest.raises(RegistryConfigError) as bad:
        env_settings("eu-west")
    assert "HARBOR_USERNAME_EU_WEST/HARBOR_PASSWORD_EU_WEST: set both, or neither" in str(bad.value)
