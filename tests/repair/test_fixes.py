"""Each shipped recipe fixes its breakage in a real git repo and ends in one fix commit."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from factory_assets.evidence.store import append_record, new_body
from factory_assets.evidence.validate import validate_repo
from factory_assets.repair.commands import CommandResult, run_command
from factory_assets.repair.fingerprint import FINGERPRINT
from factory_assets.repair.gitwork import scratch_clone, tracked_files
from factory_assets.repair.recipes import load_recipes
from tests.repair.conftest import GitOpsRepo

UNFORMATTED = 'def greet( name:str )->str:\n    return f"hello {name}"\n'
UNUSED_IMPORT = 'import os\n\n\ndef greet(name: str) -> str:\n    return f"hello {name}"\n'
UNNORMAL_YAML = (
    "# the app pinned in dev\n"
    "image:\n"
    "    repository: registry.local/team/app  # where it lives\n"
    "    digest: 'sha256:00'\n"
    "ports:\n"
    "- 8080   # http\n"
    "- 8443\n"
)


def _run_check(gitops: GitOpsRepo, name: str) -> CommandResult:
    """One check on a clean checkout of HEAD (the working tree also holds repair's own records)."""
    check = load_recipes(gitops.path / "repair/recipes.yaml").check(name)
    with scratch_clone(gitops.repo, gitops.head().hexsha) as clone:
        covered = [p for p in tracked_files(clone) if check.covers(p)]
        files = None if check.scope == "repo" else covered
        return run_command(check, Path(clone.working_tree_dir), files)


def _assert_fixed(gitops: GitOpsRepo, broken: str, recipes: str, checks: str) -> dict:
    result = gitops.run("repair")
    assert result.code == 0, result.out + result.err
    head = gitops.head()
    assert head.parents[0].hexsha == broken, "exactly one fix commit on top of the broken one"
    assert head.author.name == "factory-repair"
    subject, _, rest = head.message.partition("\n")
    assert subject == f"fix(repair): {recipes}"
    trailers = dict(re.findall(r"^(Repair-[A-Za-z]+): (.+)$", rest, re.MULTILINE))
    assert FINGERPRINT.match(trailers["Repair-Fingerprint"])
    assert trailers["Repair-Checks"] == checks
    assert trailers["Repair-Patch"].startswith("sha256:")
    assert gitops.status() == "", "the fix is committed, nothing else left behind"
    # the repaired commit passes the checks that failed, run on their own in the real tree
    for name in checks.split():
        assert _run_check(gitops, name).ok, name
    records = gitops.repair_records()
    assert [r["result"] for r in records] == ["success"]
    details = records[0]["details"]
    assert details["commit"] == head.hexsha
    assert details["fingerprint"] == trailers["Repair-Fingerprint"]
    assert details["patch_digest"] == trailers["Repair-Patch"]
    assert records[0]["links"]["commit"] == broken
    assert validate_repo(gitops.path)[1] == []
    return details


def test_ruff_format_breakage_is_fixed(gitops: GitOpsRepo) -> None:
    broken = gitops.commit({"pkg/core.py": UNFORMATTED}, "Add greet, unformatted")
    details = _assert_fixed(gitops, broken, "ruff-format", "ruff-format")
    assert (
        gitops.path / "pkg/core.py"
    ).read_text() == 'def greet(name: str) -> str:\n    return f"hello {name}"\n'
    assert details["checks_failed"] == ["ruff-format"] and details["attempt"] == 1
    again = gitops.run("repair", "--dry-run")
    assert again.code == 0 and "all checks pass" in again.out, "a fresh run has nothing to do"


def test_lint_breakage_is_fixed(gitops: GitOpsRepo) -> None:
    broken = gitops.commit({"pkg/core.py": UNUSED_IMPORT}, "Import os for later")
    _assert_fixed(gitops, broken, "ruff-fix, ruff-format", "ruff-lint")
    assert "import os" not in (gitops.path / "pkg/core.py").read_text()


def test_schema_drift_is_fixed(gitops: GitOpsRepo) -> None:
    path = gitops.path / "evidence/schema/evidence-record.schema.json"
    drifted = json.loads(path.read_text())
    drifted["title"] = "an old title"
    broken = gitops.commit(
        {"evidence/schema/evidence-record.schema.json": json.dumps(drifted, indent=2) + "\n"},
        "Edit schema by hand",
    )
    _assert_fixed(gitops, broken, "evidence-schema", "evidence-schema")
    assert json.loads(path.read_text())["title"] == "factory evidence record"


def test_stale_index_is_rebuilt(gitops: GitOpsRepo) -> None:
    body = new_body(
        kind="smoke",
        service="app",
        result="success",
        details={"method": "none", "verdict": "skipped"},
    )
    record = append_record(gitops.path, body)
    repo = gitops.repo
    repo.git.add("evidence/records", "evidence/chain-head.json")
    repo.git.commit("--quiet", "-m", "Record a smoke check without collecting")
    broken = repo.head.commit.hexsha
    _assert_fixed(gitops, broken, "evidence-index", "evidence-index")
    index = json.loads((gitops.path / "evidence/index.json").read_text())
    assert index["record_count"] == 1
    assert record.id in (gitops.path / "evidence/index/ids.txt").read_text()


def test_gitops_yaml_is_normalised_keeping_comments(gitops: GitOpsRepo) -> None:
    broken = gitops.commit({"envs/dev/app.yaml": UNNORMAL_YAML}, "Hand-edit the dev pin")
    _assert_fixed(gitops, broken, "normalize-yaml", "gitops-yaml")
    text = (gitops.path / "envs/dev/app.yaml").read_text()
    assert text.splitlines()[0] == "# the app pinned in dev"
    assert "# where it lives" in text and "# http" in text
    assert "  repository: registry.local/team/app" in text and "  - 8080" in text
    assert "'sha256:00'" in text, "quotes are kept as written"


def test_several_breakages_make_one_commit(gitops: GitOpsRepo) -> None:
    broken = gitops.commit(
        {"pkg/core.py": UNFORMATTED, "envs/dev/app.yaml": UNNORMAL_YAML}, "Two breakages"
    )
    _assert_fixed(gitops, broken, "ruff-format, normalize-yaml", "ruff-format gitops-yaml")
    assert sorted(gitops.repo.head.commit.stats.files) == ["envs/dev/app.yaml", "pkg/core.py"]


def test_dry_run_reports_and_writes_nothing(gitops: GitOpsRepo, tmp_path) -> None:
    broken = gitops.commit({"pkg/core.py": UNFORMATTED}, "Unformatted")
    patch_out = tmp_path / "suggested.patch"
    result = gitops.run("repair", "--dry-run", "--patch-out", str(patch_out))
    assert result.code == 0, result.err
    assert "would make every check pass" in result.out
    assert "+def greet(name: str) -> str:" in result.out, "the patch is shown"
    assert gitops.head().hexsha == broken
    assert gitops.repo.git.status("--porcelain", "--untracked-files=all") == "", (
        "no evidence, no edits"
    )
    # the suggested patch (what a fork PR gets) applies and fixes the file
    gitops.repo.git.apply(str(patch_out))
    assert (gitops.path / "pkg/core.py").read_text().startswith("def greet(name: str)")


def test_base_limits_checks_to_changed_files(gitops: GitOpsRepo) -> None:
    old = gitops.commit({"pkg/legacy.py": UNFORMATTED}, "Legacy code nobody formats")
    gitops.commit({"pkg/new.py": UNFORMATTED.replace("greet", "wave")}, "New code")
    result = gitops.run("repair", "--base", old)
    assert result.code == 0, result.out + result.err
    changed = sorted(gitops.head().stats.files)
    assert changed == ["pkg/new.py"], "only the file changed since --base is checked and fixed"
    assert (gitops.path / "pkg/legacy.py").read_text() == UNFORMATTED
    # without --base the legacy file fails too
    full = gitops.run("repair", "--dry-run")
    assert full.code == 1 and "pkg/legacy.py" in full.out


@pytest.mark.parametrize("args", [["--max-attempts", "0"], ["--base", "no-such-ref"], ["--bogus"]])
def test_usage_errors_exit_2(gitops: GitOpsRepo, args: list[str]) -> None:
    assert gitops.run("repair", *args).code == 2


def test_dirty_tree_is_refused_with_exit_1(gitops: GitOpsRepo) -> None:
    (gitops.path / "pkg/core.py").write_text(UNFORMATTED)
    result = gitops.run("repair")
    assert result.code == 1
    assert "uncommitted changes in pkg/core.py" in result.err
