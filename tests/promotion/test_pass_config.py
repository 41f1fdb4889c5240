"""The pass configuration is built once, at the edge: the CLI from the environment, Dagster
from its `promotion` resource; nothing inside the pass reads a setting."""

from __future__ import annotations

import ast
from datetime import timedelta
from pathlib import Path

import pytest

from factory_assets.common.errors import InputError
from factory_assets.dagster_resources import PromotionSettings
from factory_assets.promotion.pass_config import PassConfig

ROOT = Path(__file__).resolve().parents[2]
THE_PASS = [
    ROOT / "factory_assets/promotion/promote_pass.py",
    *sorted((ROOT / "factory_assets/promotion/steps").glob("*.py")),
]


def test_the_resource_fields_set_the_pass_and_the_rest_comes_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("FACTORY_RESOLVE_CONCURRENCY", "2")
    monkeypatch.setenv("FACTORY_RETRY_BASE_SECONDS", "99")
    config = PromotionSettings(
        factory_envs=["prod"], factory_retry_base_seconds=7, factory_claim_lease_seconds=30
    ).pass_config()
    assert config.envs == frozenset({"prod"})
    assert config.retry.base_seconds == 7  # the field wins over the variable
    assert config.lease == timedelta(seconds=30)
    assert config.resolve_concurrency == 2  # unset field: the variable
    assert config.retention == timedelta(days=30)  # neither: the default


def test_a_field_out_of_range_is_refused_naming_its_variable() -> None:
    with pytest.raises(InputError, match="FACTORY_RETRY_BASE_SECONDS"):
        PromotionSettings(factory_retry_base_seconds=0).pass_config()


def test_the_code_location_binds_the_promotion_resource_the_pin_asset_uses() -> None:
    from factory_assets.definitions import defs
    from factory_assets.promotion.assets import lane_pin

    assert isinstance(defs.resources["promotion"], PromotionSettings)
    assert "promotion" in lane_pin.required_resource_keys


def test_the_cli_and_the_environment_agree(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FACTORY_ENVS", "dev,prod")
    monkeypatch.setenv("FACTORY_REPLICATION_TIMEOUT", "60")
    config = PassConfig.from_env()
    assert config.envs == frozenset({"dev", "prod"})
    assert config.replication.timeout == timedelta(seconds=60)
    assert PromotionSettings().pass_config() == config


def _reads_settings(path: Path) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module == "factory_assets.common":
            found += [f"{path.name}:{node.lineno}" for a in node.names if a.name == "settings"]
        elif isinstance(node, ast.Name) and node.id in ("allowed_envs", "settings"):
            found.append(f"{path.name}:{node.lineno}: {node.id}")
        elif isinstance(node, ast.Attribute) and node.attr == "from_env":
            if ast.unparse(node) != "PassConfig.from_env":  # run_pass's default, at its top
                found.append(f"{path.name}:{node.lineno}: {ast.unparse(node)}")
    return found


def test_nothing_inside_the_pass_reads_a_setting() -> None:
    found = [line for path in THE_PASS for line in _reads_settings(path)]
    assert not found, "take it from the PassConfig instead: " + ", ".join(found)
