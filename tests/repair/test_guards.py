"""Every loop guard, tripped on purpose: the real tree is untouched and the refusal is evidence."""

from __future__ import annotations

from pathlib import Path

from factory_assets.evidence.validate import validate_repo
from factory_assets.repair.gitwork import PastRepair, Patch
from factory_assets.repair.guards import check_history
from tests.repair.toy import break_greeting, make_toy, toy_recipes


def _refused(gitops, head: str, guard: str) -> dict:
    result = gitops.run("repair")
    assert result.code == 1, result.out
    assert f"refused ({guard}:" in result.err
    assert gitops.head().hexsha == head, "no commit"
    assert gitops.status() == "", "the working tree is untouched"
    records = gitops.repair_records()
    refused = [r for r in records if r["result"] == "refused"]
    assert len(refused) == 1 and refused[0]["details"]["refused"].startswith(f"{guard}:")
    assert validate_repo(gitops.path)[1] == []
    return refused[0]


def test_toy_recipe_repairs(tmp_path: Path) -> None:
    gitops = make_toy(tmp_path, toy_recipes("good"))
    broken = break_greeting(gitops)
    result = gitops.run("repair")
    assert result.code == 0, result.out + result.err
    assert gitops.head().parents[0].hexsha == broken
    assert (gitops.path / "greeting.txt").read_text() == "hello\n"


def test_never_repairs_a_commit_by_the_repair_identity(tmp_path: Path) -> None:
    gitops = make_toy(tmp_path, toy_recipes("good"))
    head = break_greeting(
        gitops, author=("factory-repair", "factory-repair@users.noreply.github.com")
    )
    record = _refused(gitops, head, "own-commit")
    assert record["details"]["attempt"] == 0 and record["details"]["recipes"] == []


def test_identity_is_configurable(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("FACTORY_REPAIR_NAME", "fixer-bot")
    monkeypatch.setenv("FACTORY_REPAIR_EMAIL", "fixer@example.invalid")
    gitops = make_toy(tmp_path, toy_recipes("good"))
    head = break_greeting(gitops, author=("someone", "fixer@example.invalid"))
    _refused(gitops, head, "own-commit")
    # and the fix commits are authored by that identity
    break_greeting(gitops, "bye again")
    assert gitops.run("repair").code == 0
    assert (gitops.head().author.name, gitops.head().author.email) == (
        "fixer-bot",
        "fixer@example.invalid",
    )


def test_same_fingerprint_same_patch_is_not_repeated(tmp_path: Path) -> None:
    gitops = make_toy(tmp_path, toy_recipes("good"))
    break_greeting(gitops)
    assert gitops.run("repair").code == 0
    fix = gitops.head().hexsha
    # someone reverts the fix: the same failure comes back and would get the same patch
    gitops.repo.git.revert("--no-edit", fix)
    reverted = gitops.head().hexsha
    record = _refused(gitops, reverted, "same-patch")
    assert fix[:12] in record["details"]["refused"]


def test_a_recipe_that_changes_nothing_stops_the_loop(tmp_path: Path) -> None:
    gitops = make_toy(tmp_path, toy_recipes("noop"))
    head = break_greeting(gitops)
    result = gitops.run("repair", "--max-attempts", "3")
    assert (
        result.code == 1
        and "no progress: recipes fix-greeting changed nothing in attempt 1" in result.out
    )
    assert gitops.head().hexsha == head
    records = gitops.repair_records()
    attempts = [r for r in records if r["details"]["attempt"]]
    assert [(r["details"]["attempt"], r["result"]) for r in attempts] == [(1, "failure")], (
        "stopped after one"
    )
    assert attempts[0]["details"]["patch_digest"] is None


def test_recipe_may_only_touch_its_paths(tmp_path: Path) -> None:
    gitops = make_toy(tmp_path, toy_recipes("stray"))
    head = break_greeting(gitops)
    record = _refused(gitops, head, "path-allowlist")
    assert "notes.txt" in record["details"]["refused"]
    assert not (gitops.path / "notes.txt").exists()


def test_github_dir_is_protected_even_when_allowed(tmp_path: Path) -> None:
    gitops = make_toy(tmp_path, toy_recipes("workflow", paths='["**"]'))
    head = break_greeting(gitops)
    record = _refused(gitops, head, "protected-path")
    assert ".github/workflows/evil.yml" in record["details"]["refused"]
    assert not (gitops.path / ".github").exists()


def test_symlinks_are_refused(tmp_path: Path) -> None:
    gitops = make_toy(
        tmp_path, toy_recipes("symlink", paths='["greeting.txt", "greeting-link.txt"]')
    )
    head = break_greeting(gitops)
    record = _refused(gitops, head, "special-file")
    assert "symlink" in record["details"]["refused"]
    assert not (gitops.path / "greeting-link.txt").is_symlink()


def test_patch_size_is_capped(tmp_path: Path) -> None:
    gitops = make_toy(
        tmp_path, toy_recipes("big", paths='["greeting.txt", "big.txt"]', max_lines=50)
    )
    head = break_greeting(gitops)
    record = _refused(gitops, head, "patch-size")
    assert record["details"]["patch_lines"] > 50


def test_gives_up_after_max_attempts_with_one_record_each(tmp_path: Path) -> None:
    gitops = make_toy(tmp_path, toy_recipes("append"))
    head = break_greeting(gitops)
    result = gitops.run("repair", "--max-attempts", "2")
    assert result.code == 1
    assert "still failing after 2 attempt(s)" in result.out
    assert gitops.head().hexsha == head and gitops.status() == ""
    records = gitops.repair_records()
    attempts = [r for r in records if r["details"]["attempt"]]
    assert [(r["details"]["attempt"], r["result"]) for r in attempts] == [
        (1, "failure"),
        (2, "failure"),
    ]
    # escalation is recorded even with GitHub unconfigured
    escalations = [r for r in records if r["details"].get("escalation")]
    assert len(escalations) == 1 and "not sent" in escalations[0]["details"]["escalation"]
    assert validate_repo(gitops.path)[1] == []


def test_attempt_budget_counts_past_fix_commits() -> None:
    patch = Patch(b"diff\n", ("a",), 1)
    past = [
        PastRepair("a" * 40, "f" * 16, "sha256:" + "1" * 64),
        PastRepair("b" * 40, "f" * 16, "sha256:" + "2" * 64),
    ]
    assert check_history("f" * 16, patch, past[:1], max_attempts=2) is None
    refusal = check_history("f" * 16, patch, past, max_attempts=2)
    assert refusal is not None and refusal.guard == "attempt-budget"
    assert check_history("0" * 16, patch, past, max_attempts=2) is None, (
        "other fingerprints do not count"
    )
