"""The Postgres dagster.yaml: same limits as one machine, settings from the environment, and
the README's commands for it run as written against a real PostgreSQL."""

from __future__ import annotations

import os
import subprocess

import pytest
import yaml

from tests.deploy.conftest import DEPLOY, ROOT, VENV_BIN
from tests.deploy.readme import block_after

SINGLE = DEPLOY / "dagster.yaml"
POSTGRES = DEPLOY / "postgres" / "dagster.yaml"


def load(path) -> dict:
    return yaml.safe_load(path.read_text())


def test_concurrency_blocks_are_identical():
    assert load(POSTGRES)["concurrency"] == load(SINGLE)["concurrency"]
    limits = load(SINGLE)["concurrency"]["runs"]["tag_concurrency_limits"]
    assert {"key": "factory/service", "value": {"applyLimitPerUniqueValue": True}, "limit": 1} in (
        limits
    )


def test_postgres_file_is_the_single_machine_file_plus_storage():
    single, postgres = load(SINGLE), load(POSTGRES)
    assert set(postgres) - set(single) == {"storage"}
    assert {k: postgres[k] for k in single} == single


def test_every_connection_setting_comes_from_the_environment():
    db = load(POSTGRES)["storage"]["postgres"]["postgres_db"]
    fields = {"hostname", "port", "username", "password", "db_name"}
    assert {k: v for k, v in db.items() if k in fields} == {
        "hostname": {"env": "DAGSTER_PG_HOST"},
        "port": {"env": "DAGSTER_PG_PORT"},
        "username": {"env": "DAGSTER_PG_USERNAME"},
        "password": {"env": "DAGSTER_PG_PASSWORD"},
        "db_name": {"env": "DAGSTER_PG_DB"},
    }
    assert db["scheme"] == "postgresql+psycopg2"  # SQLAlchemy 2.1 defaults to psycopg 3


@pytest.mark.slow
def test_readme_postgres_commands_run_as_written(postgres, tmp_path):
    script = block_after("test_dagster_yaml.py")
    db = postgres.create_database("dagster_readme")
    env = {
        **os.environ,
        **postgres.env(db),
        "DAGSTER_HOME": str(tmp_path / "dagster_home"),
        "PATH": f"{VENV_BIN}:{os.environ['PATH']}",
    }
    done = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "run_storage: PostgresRunStorage" in done.stdout
    assert "event_log_storage: PostgresEventLogStorage" in done.stdout
    assert postgres.password not in done.stdout + done.stderr


def test_the_test_server_checks_passwords(postgres):
    """So the run above proves the DAGSTER_PG_PASSWORD path: a wrong password is refused."""
    import psycopg2

    with pytest.raises(psycopg2.OperationalError, match="password authentication failed"):
        psycopg2.connect(
            host=postgres.host,
            port=postgres.port,
            user=postgres.user,
            password="wrong-password",
            dbname="postgres",
            connect_timeout=5,
        )
