"""factory.yaml: the repository declares its layout; bad input names file and field, exit 1."""

from __future__ import annotations

from pathlib import Path

import pytest

from factory_assets.cli.main import main
from factory_assets.common.errors import InputError
from factory_assets.layout.config import allowed_envs, load_layout
from resources.registry.environments import env_settings
from tests.support.ljwx import LjwxRepo


def test_without_factory_yaml_the_layout_is_the_factorys_own(tmp_path: Path):
    layout = load_layout(tmp_path)
    assert (layout.queue_path, layout.queue_format, layout.declared) == (
        "release/queue.yaml",
        "releases",
        False,
    )
    assert layout.pin_kind("dev") == "pin-files" and layout.pin_kind("prod") == "pin-files"
    assert layout.pin_kind("Not An Env") is None


@pytest.mark.parametrize(
    ("text", "field", "problem"),
    [
        ("environments: {dev: {pins: overlay}}\n", "environments.dev.pins", "'overlays'"),
        ("environments: {dev: {pins: overlays}}\n", "environments.dev.pins", "needs `service_map`"),
        ("environments: {}\n", "environments", "at least 1"),
        ("environments: {Dev: {}}\n", "environments.Dev.[key]", "not an environment name"),
        ("queue: {format: lists}\nenvironments: {dev: {}}\n", "queue.format", "'four-lists'"),
        (
            "queue: {path: ../queue.yaml}\nenvironments: {dev: {}}\n",
            "queue.path",
            "inside the repository",
        ),
        ("envs: {dev: {}}\n", "envs", "unknown key"),
        ("- dev\n", "-", "expected a mapping"),
        ("environments: [\n", "-", "not valid YAML"),
    ],
)
def test_a_bad_factory_yaml_names_the_field(tmp_path: Path, text: str, field: str, problem: str):
    (tmp_path / "factory.yaml").write_text(text)
    with pytest.raises(InputError) as caught:
        load_layout(tmp_path)
    assert caught.value.path.endswith("factory.yaml")
    assert caught.value.field == field and problem in caught.value.problem, str(caught.value)


def test_a_bad_factory_yaml_stops_every_command_and_changes_nothing(ljwx: LjwxRepo, capsys):
    bad = {"factory.yaml": "environments: {dev: {pins: overlay}}\n"}
    ljwx.remote.commit_and_push(bad, "a typo in the layout")  # passes read the remote head
    queue = (ljwx.clone / "release" / "queue.yaml").read_bytes()
    head = ljwx.remote.remote_head()
    for args in (["promote", "--dry-run"], ["release", "status"], ["promote"]):
        assert main([*args, "--repo", str(ljwx.clone)]) == 1
        err = capsys.readouterr().err
        assert "factory.yaml: environments.dev.pins:" in err and "Traceback" not in err
    assert (ljwx.clone / "release" / "queue.yaml").read_bytes() == queue
    assert ljwx.remote.remote_head() == head


def test_service_map_path_selects_the_clusters_profile(ljwx: LjwxRepo, monkeypatch):
    profile = ljwx.clone / "release" / "services.prod-cluster.yaml"
    profile.write_text("services: {}\n")
    monkeypatch.setenv("SERVICE_MAP_PATH", "release/services.prod-cluster.yaml")
    assert load_layout(ljwx.clone).service_map == "release/services.prod-cluster.yaml"
    monkeypatch.setenv("SERVICE_MAP_PATH", "/etc/passwd")
    with pytest.raises(InputError, match="SERVICE_MAP_PATH"):
        load_layout(ljwx.clone)


def test_factory_envs_is_checked(monkeypatch):
    monkeypatch.setenv("FACTORY_ENVS", "prod, dev")
    assert allowed_envs() == {"prod", "dev"}
    monkeypatch.setenv("FACTORY_ENVS", "prod,Pr od")
    with pytest.raises(InputError, match="FACTORY_ENVS"):
        allowed_envs()


def test_an_envs_credentials_never_go_to_another_envs_host(monkeypatch):
    monkeypatch.setenv("HARBOR_URL", "https://harbor-dev.example")
    monkeypatch.setenv("HARBOR_USERNAME", "robot$dev")
    monkeypatch.setenv("HARBOR_PASSWORD", "dev-secret")
    monkeypatch.setenv("HARBOR_URL_PROD", "https://harbor-prod.example")
    for name in ("HARBOR_USERNAME_PROD", "HARBOR_PASSWORD_PROD", "HARBOR_URL_DEV"):
        monkeypatch.delenv(name, raising=False)
    assert env_settings("dev") == (
        "https://harbor-dev.example",
        "robot$dev",
        "dev-secret",
        "HARBOR_URL",
    )
    assert env_settings("prod") == ("https://harbor-prod.example", None, None, "HARBOR_URL_PROD")
    monkeypatch.setenv("HARBOR_USERNAME_PROD", "robot$prod")
    monkeypatch.setenv("HARBOR_PASSWORD_PROD", "prod-secret")
    assert env_settings("prod")[1:3] == ("robot$prod", "prod-secret")
    monkeypatch.setenv("HARBOR_URL_EU_WEST", "https://harbor-dev.example")  # the same host
    assert env_settings("eu-west")[1:3] == ("robot$dev", "dev-secret")


def test_a_runner_may_only_narrow_its_environments(ljwx: LjwxRepo, monkeypatch, capsys):
    monkeypatch.setenv("FACTORY_ENVS", "prod")
    code = None
    try:
        code = main(["promote", "--env", "dev", "--repo", str(ljwx.clone)])
    except SystemExit as exc:
        code = exc.code
    assert code == 2 and "not in FACTORY_ENVS" in capsys.readouterr().err
