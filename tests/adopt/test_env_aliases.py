"""The deploy repository's variable names work as aliases; HARBOR_INSECURE is refused."""

from __future__ import annotations

import pytest

from factory_assets.cli.main import main
from factory_assets.common.env_aliases import ALIASES, apply_env_aliases
from factory_assets.common.errors import InputError


def test_each_alias_fills_the_factory_variable():
    env = {legacy: f"value-of-{legacy}" for legacy in ALIASES}
    used = apply_env_aliases(env)
    assert sorted(used) == sorted(ALIASES)
    for legacy, own in ALIASES.items():
        assert env[own] == f"value-of-{legacy}"


def test_the_factory_name_wins_only_when_equal_otherwise_an_error():
    env = {"HARBOR_USER": "robot", "HARBOR_USERNAME": "robot"}
    assert apply_env_aliases(env) == ["HARBOR_USER"]
    env = {"HARBOR_PASS": "s3cret-one", "HARBOR_PASSWORD": "s3cret-two"}
    with pytest.raises(InputError) as exc:
        apply_env_aliases(env)
    assert "HARBOR_PASS: -: is set and differs from HARBOR_PASSWORD" in str(exc.value)
    assert "s3cret" not in str(exc.value)  # values never reach a message


@pytest.mark.parametrize("value", ["1", "true", "yes"])
def test_harbor_insecure_is_refused_pointing_at_ssl_cert_file(value):
    with pytest.raises(InputError) as exc:
        apply_env_aliases({"HARBOR_INSECURE": value})
    assert "SSL_CERT_FILE" in str(exc.value)


def test_harbor_insecure_off_is_fine():
    assert apply_env_aliases({"HARBOR_INSECURE": "0"}) == []


def test_the_cli_applies_them(monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("HARBOR_INSECURE", "1")
    assert main(["evidence", "validate", "--repo", str(tmp_path)]) == 1
    assert "HARBOR_INSECURE: -: is not supported" in capsys.readouterr().err
    monkeypatch.delenv("HARBOR_INSECURE")
    monkeypatch.setenv("FACTORY_ENVS", "")  # unset for the alias; restored after the test
    monkeypatch.setenv("ENV_ALLOWLIST", "prod")
    main(["evidence", "validate", "--repo", str(tmp_path)])
    import os

    assert os.environ["FACTORY_ENVS"] == "prod"
