"""The smoke CronJob manifest is valid Kubernetes and its script passes shellcheck."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import kubernetes_validate
import pytest
from ruamel.yaml import YAML

MANIFEST = Path(__file__).resolve().parents[2] / "deploy" / "k8s" / "smoke-cronjob.yaml"


def documents() -> list[dict]:
    return list(YAML(typ="safe").load_all(MANIFEST.read_text()))


def cronjob() -> dict:
    return next(d for d in documents() if d["kind"] == "CronJob")


def test_manifest_validates_strictly():
    for doc in documents():
        kubernetes_validate.validate(doc, "1.30.0", strict=True)


def test_runs_factory_smoke_with_secrets_from_a_secret():
    container = cronjob()["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]
    assert "factory smoke" in container["args"][0]
    assert {"secretRef": {"name": "factory-smoke"}} in container["envFrom"]
    assert not any("TOKEN" in e["name"] for e in container.get("env", []))  # only via the Secret


@pytest.mark.skipif(shutil.which("shellcheck") is None, reason="shellcheck not installed")
def test_script_passes_shellcheck(tmp_path):
    script = tmp_path / "smoke.sh"
    container = cronjob()["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]
    script.write_text("#!/bin/sh\n" + container["args"][0])
    done = subprocess.run(["shellcheck", str(script)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout
