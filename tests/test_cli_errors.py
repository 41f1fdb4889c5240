"""Every `factory` command meets bad input with a clean error, never a traceback.

Each case runs the real command line in its own process: exit 1 with one line
`factory: error: <file>: <field>: <what is wrong>` (or exit 2, a usage error), and no
`Traceback` on stderr, whatever the input: a repository path that does not exist, a folder
that is not git, a malformed factory.yaml or queue, bad arguments, a legacy record adopt
cannot import.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.gitrepo import make_gitops_remote
from tests.support.ljwx_legacy import make_legacy_repo

DIGEST = "sha256:" + "ab" * 32
HARBOR = "127.0.0.1:9"  # never contacted: every case fails before a registry request
PIN = f"service: api\nimage: {HARBOR}/shop/api@sha256:{'cd' * 32}\n"
# `factory: error: <file>: <field>: <problem>`, on one line
ERROR_LINE = re.compile(
    r"^factory: error: (?P<where>[^:\n]+): (?P<field>[^:\n]+): (?P<problem>.+)$"
)

# Every command and subcommand, with the arguments it needs to get as far as the repository.
COMMANDS = {
    "evidence schema": ["evidence", "schema"],
    "evidence schema --check": ["evidence", "schema", "--check"],
    "evidence validate": ["evidence", "validate"],
    "evidence collect": ["evidence", "collect"],
    "evidence collect --check": ["evidence", "collect", "--check"],
    "evidence verify": ["evidence", "verify"],
    "evidence export": ["evidence", "export", "01JDZ8X3M4T9V6W2Q5R7S1K0PA"],
    "release add": ["release", "add", "api", "--digest", DIGEST],
    "release approve": ["release", "approve", "r1", "--by", "alice"],
    "release reject": ["release", "reject", "r1", "--by", "alice", "--reason", "no"],
    "release status": ["release", "status"],
    "promote": ["promote"],
    "promote --dry-run": ["promote", "--dry-run"],
    "smoke": ["smoke"],
    "repair": ["repair", "--no-escalate"],
    "repair --dry-run": ["repair", "--dry-run"],
    "repair normalize-yaml": ["repair", "normalize-yaml", "--check"],
    "site build": ["site", "build", "--out", "{tmp}/site"],
    "site publish": ["site", "publish"],
    "partitions sync": ["partitions", "sync"],
    "rollback": ["rollback", "api", "--env", "dev"],
    "adopt": ["adopt"],
    "adopt --dry-run": ["adopt", "--dry-run"],
}
# Commands that read factory.yaml and the queue (the others never open them).
READ_LAYOUT = [
    "release add",
    "release approve",
    "release reject",
    "release status",
    "promote",
    "promote --dry-run",
    "smoke",
    "rollback",
    "partitions sync",
]
READ_QUEUE = [name for name in READ_LAYOUT if name != "smoke"] + ["adopt", "adopt --dry-run"]
# Commands that need git: a plain folder is refused, naming it.
NEED_GIT = {
    "evidence verify": "remote: has no `origin` remote",
    "repair": "not a git repository",
    "repair --dry-run": "not a git repository",
    "site publish": "remote: has no `origin` remote",
    "adopt": "not a git repository",
    "adopt --dry-run": "not a git repository",
}


@pytest.fixture(scope="module")
def repos(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """One repository per kind of bad input (built once: each case only reads them)."""
    root = tmp_path_factory.mktemp("cli-errors")
    seed = {"envs/dev/api.yaml": PIN}
    plain = root / "plain"
    for relative, text in {"release/queue.yaml": "releases: []\n", **seed}.items():
        (plain / relative).parent.mkdir(parents=True, exist_ok=True)
        (plain / relative).write_text(text)
    layout = {"factory.yaml": "environments:\n  dev: {pins: overlay}\n", **seed}
    legacy = make_legacy_repo(root / "legacy").clone
    name = os.fsdecode(b"evidence/records/20260501-api-\xff.yaml")  # not UTF-8
    (legacy / name).write_text("evidenceId: x\n")
    subprocess.run(["git", "-C", str(legacy), "add", "--all"], check=True)
    subprocess.run(["git", "-C", str(legacy), "commit", "-qm", "odd name"], check=True)
    return {
        "missing": root / "no-such-repo",
        "plain": plain,
        "good": make_gitops_remote(root / "good", seed).clone,
        "bad-layout": make_gitops_remote(root / "bad-layout", layout).clone,
        "bad-queue": make_gitops_remote(
            root / "bad-queue", {"release/queue.yaml": "releases: {r1: 1}\n", **seed}
        ).clone,
        "legacy": legacy,
        "legacy-bad-queue": make_legacy_repo(
            root / "legacy-bad-queue", **{"release__queue.yaml": "pending: {}\npromoted: []\n"}
        ).clone,
        "declared": make_gitops_remote(
            root / "declared", {"factory.yaml": "environments:\n  dev: {pins: pin-files}\n"}
        ).clone,
    }


def factory(args: list[str], tmp: Path, env: dict[str, str] | None = None):
    clean = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("FACTORY_", "HARBOR_", "ARGOCD_", "GITHUB_", "DAGSTER_"))
    }
    return subprocess.run(
        [sys.executable, "-m", "factory_assets.cli.main", *args],
        capture_output=True,
        text=True,
        env={**clean, "HARBOR_URL": f"http://{HARBOR}", **(env or {})},
        cwd=tmp,
        timeout=120,
    )


def command(name: str, repo: Path, tmp: Path) -> list[str]:
    args = [arg.format(tmp=tmp) for arg in COMMANDS[name]]
    if name == "repair normalize-yaml":  # --repo belongs to `repair`, before the subcommand
        return ["repair", "--repo", str(repo), *args[1:]]
    return [*args, "--repo", str(repo)]


def assert_clean_error(done: subprocess.CompletedProcess, code: int, needle: str) -> None:
    """Exit `code`; for 1, exactly one `factory: error: <file>: <field>: ...` line naming
    `needle`; for 2, a usage message; never a traceback."""
    assert "Traceback" not in done.stderr, done.stderr
    assert done.returncode == code, done.stdout + done.stderr
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("factory")]
    assert errors, done.stderr
    if code == 1:  # progress may come first; the error is one line, and the last
        assert len(errors) == 1 and errors[0] == lines[-1], done.stderr
        assert ERROR_LINE.match(errors[0]), done.stderr
    else:
        assert "usage: factory" in done.stderr or errors[-1].startswith("factory: error: ")
    assert needle in done.stderr, done.stderr


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_a_repository_that_does_not_exist(repos, tmp_path, name):
    missing = repos["missing"]
    done = factory(command(name, missing, tmp_path), tmp_path)
    assert_clean_error(done, 1, f"{missing}: --repo: no such directory")
    assert not missing.exists()


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(NEED_GIT))
def test_a_folder_that_is_not_git(repos, tmp_path, name):
    done = factory(command(name, repos["plain"], tmp_path), tmp_path)
    assert_clean_error(done, 1, NEED_GIT[name])


@pytest.mark.slow
@pytest.mark.parametrize("name", READ_LAYOUT)
def test_a_malformed_factory_yaml(repos, tmp_path, name):
    instance = {"DAGSTER_HOME": str(tmp_path)}  # `partitions sync` gets as far as the repository
    done = factory(command(name, repos["bad-layout"], tmp_path), tmp_path, instance)
    assert_clean_error(
        done, 1, "factory.yaml: environments.dev.pins: Input should be 'pin-files' or 'overlays'"
    )


@pytest.mark.slow
@pytest.mark.parametrize("name", READ_QUEUE)
def test_a_malformed_queue(repos, tmp_path, name):
    kind = "legacy-bad-queue" if name.startswith("adopt") else "bad-queue"
    instance = {"DAGSTER_HOME": str(tmp_path)}  # `partitions sync` gets as far as the repository
    done = factory(command(name, repos[kind], tmp_path), tmp_path, instance)
    needle = "release/queue.yaml: " + ("pending: expected a list" if kind != "bad-queue" else "")
    assert_clean_error(done, 1, needle)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["adopt", "adopt --dry-run"])
def test_a_legacy_record_adopt_cannot_keep(repos, tmp_path, name):
    done = factory(command(name, repos["legacy"], tmp_path), tmp_path)
    assert_clean_error(
        done, 1, "evidence/records/20260501-api-\\xff.yaml: -: the file name is not UTF-8"
    )


# (arguments, repository, exit code, what the message names)
BAD_ARGUMENTS = [
    ([], None, 2, "the following arguments are required: COMMAND"),
    (["bogus"], None, 2, "invalid choice: 'bogus'"),
    (["evidence"], None, 2, "the following arguments are required: SUBCOMMAND"),
    (["evidence", "schema", "--bogus"], "good", 2, "unrecognized arguments: --bogus"),
    (["evidence", "validate", "extra"], "good", 2, "unrecognized arguments: extra"),
    (["evidence", "collect", "--out"], "good", 2, "argument --out: expected one argument"),
    (["evidence", "verify", "--against"], "good", 2, "argument --against: expected one"),
    (["evidence", "export"], "good", 2, "the following arguments are required: ID"),
    (["evidence", "export", "x", "--format", "pdf"], "good", 2, "invalid choice: 'pdf'"),
    (["evidence", "export", "../../etc/passwd"], "good", 1, "ID: ../../etc/passwd: expected"),
    (["evidence", "verify", "--against", "no-such-ref"], "good", 1, "--against: no-such-ref"),
    (["evidence", "verify", "--remote", "{tmp}/nowhere.git"], "good", 1, "nowhere.git"),
    (["release"], None, 2, "the following arguments are required: SUBCOMMAND"),
    (["release", "add", "api"], "good", 2, "one of the arguments --tag --digest is required"),
    (["release", "add", "API", "--digest", DIGEST], "good", 1, "arguments: SERVICE: 'API'"),
    (["release", "add", "api", "--digest", "sha256:xyz"], "good", 1, "arguments: --digest:"),
    (["release", "add", "api", "--digest", DIGEST, "--env", "Dev"], "good", 1, "--env: 'Dev'"),
    (["release", "approve", "r1"], "good", 2, "the following arguments are required: --by"),
    (["release", "reject", "r1", "--by", "a"], "good", 2, "required: --reason"),
    (["release", "approve", "r1", "--by", "a"], "good", 1, "arguments: ID: no release 'r1'"),
    (["release", "status", "--bogus"], "good", 2, "unrecognized arguments: --bogus"),
    (["promote", "--env", "BAD"], "good", 2, "--env: 'BAD' is not an environment name"),
    (["promote", "--dry-run", "--service", "API"], "good", 1, "arguments: --service: 'API'"),
    (["smoke", "--timeout", "-1"], "good", 2, "argument --timeout: must be > 0"),
    (["smoke", "--env", "BAD ENV"], "good", 2, "--env: 'BAD ENV' is not an environment name"),
    (["smoke", "--env", "prod"], "declared", 1, "factory.yaml: environments: 'prod' is not"),
    (["smoke", "--service", "API"], "good", 1, "service: 'API' is not a valid service name"),
    (["repair", "--max-attempts", "0"], "good", 2, "argument --max-attempts: must be at least"),
    (["repair", "--recipes", "{tmp}/none.yaml"], "good", 1, "none.yaml: -: missing"),
    (["site"], None, 2, "the following arguments are required: SUBCOMMAND"),
    (["site", "build"], "good", 2, "the following arguments are required: --out"),
    (["site", "build", "--out", "{tmp}/afile"], "good", 1, "afile: -: Not a directory"),
    (["site", "publish", "--build-dir", "{tmp}/none"], "good", 1, "none: data/summary.json:"),
    (["site", "publish", "--remote", "{tmp}/nowhere.git"], "good", 1, "nowhere.git"),
    (["partitions"], None, 2, "the following arguments are required: SUBCOMMAND"),
    (["partitions", "sync"], "good", 1, "DAGSTER_HOME: -: not set"),
    (["rollback", "api"], "good", 2, "the following arguments are required: --env"),
    (["rollback", "API", "--env", "dev"], "good", 1, "arguments: SERVICE: 'API' is not a"),
    (["rollback", "api", "--env", "BAD ENV"], "good", 1, "arguments: --env: 'BAD ENV' is not"),
    (["rollback", "api", "--env", "dev", "--to", "nope"], "good", 1, "arguments: --to: 'nope'"),
    (["adopt", "--branch", ""], "good", 2, "--branch: expected a branch name"),
    (["adopt", "--branch", "a..b"], "good", 2, "--branch: 'a..b' is not a valid branch name"),
    (["adopt", "--factory-image", "not an image"], "good", 2, "--factory-image: expected"),
]


@pytest.mark.slow
@pytest.mark.parametrize(
    ("args", "repo", "code", "needle"), BAD_ARGUMENTS, ids=[" ".join(c[0]) for c in BAD_ARGUMENTS]
)
def test_bad_arguments(repos, tmp_path, args, repo, code, needle):
    (tmp_path / "afile").write_text("a file, not a folder\n")
    args = [arg.format(tmp=tmp_path) for arg in args]
    if repo is not None:
        args += ["--repo", str(repos[repo])]
    done = factory(args, tmp_path)
    assert_clean_error(done, code, needle)
