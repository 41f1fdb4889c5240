"""`factory` starts small: `--version`, help that says what each command does, and each
command imports what it runs (never Dagster, never the groups it was not asked for).

Start-up time itself is judged by bench/cli_start_bench.py; these tests check what is
imported, in a fresh interpreter each time.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

import pytest

from factory_assets.cli.main import COMMANDS
from tests.support.gitrepo import make_gitops_remote

DIGEST = "sha256:" + "ab" * 32
HARBOR = "127.0.0.1:9"  # never contacted: `release add --digest` only checks the host
PIN = f"service: api\nimage: {HARBOR}/shop/api@sha256:{'cd' * 32}\n"
# A command runs in a fresh interpreter, which then says what it imported.
RUN_AND_LIST_MODULES = """
import json, sys
from factory_assets.cli.main import main
try:
    code = main(sys.argv[1:])
except SystemExit as exc:
    code = exc.code
print(json.dumps({"code": code, "modules": sorted(sys.modules)}), file=sys.stderr)
"""
HEAVY = ("dagster", "httpx", "git", "pydantic", "ruamel", "yaml", "jsonschema")


def clean_env() -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("FACTORY_", "HARBOR_", "ARGOCD_", "GITHUB_", "DAGSTER_"))
    }
    return {**env, "HARBOR_URL": f"http://{HARBOR}", "COLUMNS": "1000"}


def factory(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "factory_assets.cli.main", *args],
        capture_output=True,
        text=True,
        env=clean_env(),
    )


def imported_by(*args: str) -> tuple[int, set[str]]:
    """(exit code, top-level packages and factory modules) of `factory ARGS` in a fresh process."""
    done = subprocess.run(
        [sys.executable, "-c", RUN_AND_LIST_MODULES, *args],
        capture_output=True,
        text=True,
        env=clean_env(),
    )
    report = json.loads(done.stderr.strip().splitlines()[-1])
    modules = set(report["modules"])
    return report["code"], modules | {name.split(".")[0] for name in modules}


def subcommands(group: str) -> list[str]:
    """The subcommands a group's module registers (none for a single command)."""
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers()
    importlib.import_module(COMMANDS[group][0]).register(
        sub, argparse.ArgumentParser(add_help=False)
    )
    nested = [
        action
        for action in sub.choices[group]._actions
        if isinstance(action, argparse._SubParsersAction)
    ]
    return [name for action in nested for name in action.choices]


def group_help_lines(text: str) -> dict[str, str]:
    """Each group's help in `factory --help` (COLUMNS is wide: one line each, after the
    name or, for a long name, on the next line)."""
    lines, rows = {}, text.splitlines()
    for row, following in zip(rows, [*rows[1:], ""], strict=True):
        words = row.split(maxsplit=1)
        if row.startswith("    ") and words and words[0] in COMMANDS:
            lines[words[0]] = (words[1] if len(words) == 2 else following).strip()
    return lines


def test_version_prints_the_installed_version():
    done = factory("--version")
    assert done.returncode == 0, done.stderr
    assert done.stdout == f"factory {version('factory')}\n"


def test_each_group_help_line_names_what_it_does_today():
    done = factory("--help")
    assert done.returncode == 0
    lines = group_help_lines(done.stdout)
    assert set(lines) == set(COMMANDS)
    for group, line in lines.items():
        for name in subcommands(group):
            assert name in line, f"`factory --help` says of {group}: {line!r}; no {name!r}"
    # what the lines used to get wrong: the runner's environments, services x envs
    assert "this runner's environments" in lines["smoke"] and " dev " not in lines["smoke"]
    assert "`services` x `envs`" in lines["partitions"]
    assert "--version" in done.stdout


def test_the_listed_help_is_the_help_each_group_registers():
    for group, (module, line) in COMMANDS.items():
        parser = argparse.ArgumentParser()
        sub = parser.add_subparsers()
        importlib.import_module(module).register(sub, argparse.ArgumentParser(add_help=False))
        (registered,) = [action.help for action in sub._choices_actions if action.dest == group]
        assert registered == line, group


def test_site_defaults_are_the_publishers():
    from factory_assets.cli import site as cli_site
    from factory_assets.site import publish

    assert cli_site.DEFAULT_BRANCH == publish.DEFAULT_BRANCH
    assert cli_site.EVIDENCE_BRANCH == publish.EVIDENCE_BRANCH


@pytest.mark.parametrize("args", [["--help"], ["--version"], [], ["bogus"]])
def test_help_version_and_usage_import_no_command_group(args):
    code, modules = imported_by(*args)
    assert code == (2 if args in ([], ["bogus"]) else 0)
    loaded = {name for name in modules if name.startswith("factory_assets.cli.")}
    assert loaded == {"factory_assets.cli.main"}
    assert not modules & set(HEAVY)


def test_a_command_imports_its_own_group_only():
    _, modules = imported_by("release", "add", "--help")
    loaded = {name for name in modules if name.startswith("factory_assets.cli.")}
    assert loaded == {"factory_assets.cli.main", "factory_assets.cli.release"}


# One pending request (quoted timestamps, as the factory writes them) and a pin with a smoke
# block: reading them validates a queue entry, a pin file and its smoke settings.
QUEUE = f"""\
releases:
- id: r0
  service: api
  env: dev
  image: {HARBOR}/shop/api
  digest: {DIGEST}
  requested_at: '2026-01-02T00:00:00Z'
  requested_by: tester
  state: pending
"""
SMOKE_PIN = PIN + "promoted_at: '2026-01-01T00:00:00Z'\nsmoke: {url: 'http://127.0.0.1:9/ready'}\n"
# The ljwx-deploy layout: factory.yaml, a four-list queue, a service map and its overlay.
FOUR_LISTS = {
    "factory.yaml": (
        "queue: {path: release/queue.yaml, format: four-lists}\n"
        "service_map: release/services.yaml\n"
        "environments:\n  dev: {pins: overlays}\n"
    ),
    "release/services.yaml": (
        "services:\n  api:\n    envs:\n      dev:\n"
        "        overlayPath: overlays/api/dev/kustomization.yaml\n"
        "        kustomizeImageName: ghcr.example/acme/api\n"
        f"        harborImage: {HARBOR}/acme/api\n"
        "        argocdApp: api-dev\n"
    ),
    "overlays/api/dev/kustomization.yaml": (
        "resources: []\nimages:\n  - name: ghcr.example/acme/api\n    newTag: dev\n"
    ),
    "release/queue.yaml": f"""\
pending:
- id: 20260102T000000Z-api-abc
  service: api
  env: dev
  source:
    ghcr: ghcr.example/acme/api@{DIGEST}
    tag: abc
    digest: {DIGEST}
  createdAt: '2026-01-02T00:00:00Z'
  status: pending
  attempts: 0
  lastError: ''
  promotedAt: ''
  supersededAt: ''
  failedAt: ''
promoted: []
failed: []
superseded: []
""",
}


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small repository with a remote: one pinned service, one pending request."""
    return make_gitops_remote(
        tmp_path_factory.mktemp("cli-start"),
        {"envs/dev/api.yaml": SMOKE_PIN, "release/queue.yaml": QUEUE},
    ).clone


@pytest.fixture(scope="module")
def four_list_repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The same, in the ljwx-deploy layout."""
    return make_gitops_remote(tmp_path_factory.mktemp("cli-start-ljwx"), FOUR_LISTS).clone


# What none of these commands loads: pydantic (the records are plain), GitPython (git runs
# as the CLI), ruamel (a reader reads with libyaml; only a write edits round-trip).
NOT_LOADED = ("pydantic", "pydantic_core", "git", "ruamel")


@pytest.mark.parametrize("layout", ["repo", "four_list_repo"])
@pytest.mark.parametrize(
    ("args", "not_imported"),
    [
        (["release", "add", "api", "--digest", DIGEST, "--id", "r1"], ("httpx", *NOT_LOADED)),
        (["release", "status"], ("httpx", "orjson", *NOT_LOADED)),
        (["promote", "--dry-run"], ("httpx", "orjson", *NOT_LOADED)),
        (["evidence", "validate"], ("httpx", *NOT_LOADED)),
    ],
    ids=["release add", "release status", "promote --dry-run", "evidence validate"],
)
def test_a_command_without_dagster_imports_what_it_runs(request, layout, args, not_imported):
    tree = request.getfixturevalue(layout)
    if layout == "four_list_repo" and args[:2] == ["release", "add"]:
        # a four-list entry is written as the repository's PyYAML writers wrap it: round-trip
        not_imported = tuple(name for name in not_imported if name != "ruamel")
    before = (tree / "release/queue.yaml").read_bytes()
    try:
        code, modules = imported_by(*args, "--repo", str(tree))
    finally:
        (tree / "release/queue.yaml").write_bytes(before)
    assert code == 0
    assert "dagster" not in modules
    assert not modules & set(not_imported), sorted(modules & set(not_imported))


def test_the_cli_modules_import_no_dagster():
    modules = ["factory_assets.cli.main", *(module for module, _ in COMMANDS.values())]
    code = "import sys\n" + "".join(f"import {m}\n" for m in modules)
    code += "assert 'dagster' not in sys.modules, sorted(m for m in sys.modules if 'dagster' in m)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
