"""`factory adopt` on a repository in the ljwx-deploy layout: plan, dry run, the one commit."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest
import yaml

from factory_assets.adopt.apply import plan_adoption
from factory_assets.adopt.changes import expected_after
from factory_assets.adopt.image import FACTORY_IMAGE
from factory_assets.adopt.runners import RUNTIMES
from factory_assets.cli.main import main
from factory_assets.evidence.validate import validate_repo
from factory_assets.layout.config import load_layout
from tests.support.ljwx_legacy import DIGEST_A, RECORDS, legacy_record, make_legacy_repo


def git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(repo), *args], capture_output=True, text=True, check=True
    ).stdout


def state(repo: Path) -> tuple[str, str, str, str]:
    """What a dry run must leave alone: HEAD, the branch, the status (ignored files too), refs."""
    return (
        git(repo, "rev-parse", "HEAD"),
        git(repo, "rev-parse", "--symbolic-full-name", "HEAD"),
        git(repo, "status", "--porcelain", "--ignored", "--untracked-files=all"),
        git(repo, "for-each-ref"),
    )


def run(capsys: pytest.CaptureFixture, *args: str) -> tuple[int, str, str]:
    code = main(["adopt", *args])
    out = capsys.readouterr()
    return code, out.out, out.err


def checkout(repo: Path, ref: str, where: Path) -> Path:
    git(repo, "worktree", "add", "--detach", str(where), ref)
    return where


@pytest.fixture
def legacy(tmp_path: Path) -> Path:
    return make_legacy_repo(tmp_path / "ljwx").clone


def test_dry_run_prints_the_plan_and_changes_nothing(legacy, tmp_path, capsys):
    before = state(legacy)
    plan_md = tmp_path / "plan.md"
    code, out, _ = run(capsys, "--repo", str(legacy), "--dry-run", "--plan-out", str(plan_md))
    assert code == 0
    assert state(legacy) == before
    assert "add factory.yaml" in out
    for path in RECORDS:
        assert f"move {path} -> evidence/legacy/{Path(path).name}" in out
    assert "keep evidence/schema/evidence.schema.json" in out
    assert "move evidence/schema/evidence-record.schema.json -> evidence/legacy/schema/" in out
    markdown = plan_md.read_text()
    assert markdown.startswith("# adopt: run this repository with factory\n")
    assert out.startswith(markdown)  # what is printed is what the pull request gets
    assert "### Evidence records" in markdown


def _sections(plan: str) -> list[str]:
    return [line[3:] for line in plan.splitlines() if line.startswith("## ")]


def _unfolded(plan: str) -> list[str]:
    """The plan's lines outside the folded `<details>` file lists."""
    out, folded = [], False
    for line in plan.splitlines():
        folded = folded or "<details>" in line
        if not folded:
            out.append(line)
        folded = folded and "</details>" not in line
    return out


def test_the_plan_reads_as_a_review_decisions_first_bulk_changes_folded(tmp_path, capsys):
    # The same repository with 4 legacy records and with 40: the plan a reviewer reads (outside
    # the folded file lists) has the same lines; only the folded lists grow.
    many = {
        f"evidence__records__202603{day:02d}-api-sha-{n:07x}.yaml": legacy_record(
            f"202603{day:02d}-api-sha-{n:07x}", "dev", DIGEST_A, f"2026-03-{day:02d}T10:00:00Z"
        )
        for n, day in enumerate(range(1, 29))
    } | {
        f"evidence__records__202602{day:02d}-web-sha-{n:07x}.yaml": legacy_record(
            f"202602{day:02d}-web-sha-{n:07x}", "dev", DIGEST_A, f"2026-02-{day:02d}T10:00:00Z"
        )
        for n, day in enumerate(range(1, 13), start=100)
    }
    plans = []
    for name, extra in (("few", {}), ("many", many)):
        clone = make_legacy_repo(tmp_path / name, **extra).clone
        code, out, _ = run(capsys, "--repo", str(clone), "--dry-run")
        assert code == 0
        plans.append(out)
    few, lots = plans
    assert _sections(few)[:4] == [
        "Needs a human",
        "Runtime per cluster",
        "Order of the switch",
        "Rolling back",
    ]
    assert _sections(few)[-1] == "What the commit changes"
    assert len(_unfolded(lots)) == len(_unfolded(few))
    assert lots.count("\n") > few.count("\n") + 2 * 36  # every file is still listed, folded
    for plan in (few, lots):
        # no legacy record path outside a folded list: one summary line per bulk change
        assert not [line for line in _unfolded(plan) if "evidence/records/2026" in line]
    assert "- add 4 records `evidence/records/<id>.json` of kind `imported`" in few
    assert "- add 44 records `evidence/records/<id>.json` of kind `imported`" in lots


@pytest.mark.parametrize(
    ("runtime", "runners"),
    [
        ("dagster", ["cluster/factory-dagster.yaml", "cluster-prod/factory-dagster-prod.yaml"]),
        (
            "cronjob",
            [
                "cluster/factory-runner-cronjob.yaml",
                "cluster/factory-smoke-cronjob.yaml",
                "cluster-prod/factory-runner-prod-cronjob.yaml",
                "cluster-prod/factory-smoke-prod-cronjob.yaml",
            ],
        ),
    ],
)
def test_the_plan_orders_the_switch_legacy_stops_where_the_factory_starts(
    legacy, capsys, runtime, runners
):
    code, out, _ = run(capsys, "--repo", str(legacy), "--dry-run", "--runtime", runtime)
    assert code == 0
    order = out.split("## Order of the switch\n\n", 1)[1].split("\n\n", 1)[0].splitlines()
    assert [line.split(".", 1)[0] for line in order] == [str(n) for n in range(1, len(order) + 1)]
    steps = "\n".join(order)
    # what must happen before the merge comes before it, and the merge names both sides
    assert steps.index("Before merging") < steps.index("Push factory/adopt") < steps.index("Merge.")
    merge = next(line for line in order if ". Merge." in line)
    for legacy_job in ("deploy-promoter", "deploy-promoter-prod", "smoke-runner"):
        assert legacy_job in merge
    for runner in runners:
        assert runner in merge
    assert "refuses to start while the repository still schedules" in merge
    assert "Lift the holds" in order[-1]  # api is held in dev by its hand pin
    assert FACTORY_IMAGE in order[0] and "--factory-image" in order[0]
    assert "both clusters and GitHub Actions" in order[0]
    assert ("StorageClass" in order[0]) == (runtime == "dagster")  # the PVC needs one
    rollback = out.split("## Rolling back\n\n", 1)[1].split("\n\n", 1)[0]
    assert "git revert -m 1" in rollback
    assert ("Dagster (Deployment, Service, ConfigMap and the PVC" in rollback) == (
        runtime == "dagster"
    )


def test_adopt_commits_the_plan_on_a_new_branch_and_leaves_the_checkout(legacy, tmp_path, capsys):
    _, dry, _ = run(capsys, "--repo", str(legacy), "--dry-run")
    head, branch, status, _ = state(legacy)
    code, out, _ = run(capsys, "--repo", str(legacy))
    assert code == 0
    assert state(legacy)[:3] == (head, branch, status)  # same commit, branch and files
    assert git(legacy, "rev-parse", "factory/adopt^") == head
    # The commit message is the plan, exactly as the dry run showed it (its title the subject).
    plan = dry.split("\ndry run:")[0]
    message = git(legacy, "log", "-1", "--format=%B", "factory/adopt")
    assert message.strip() == plan.removeprefix("# ").strip()
    assert "\n## Needs a human\n" in message  # Markdown headings are not stripped as comments
    assert out.startswith(plan)
    # Never pushed: the remote knows only main.
    assert git(legacy, "ls-remote", "--heads", "origin").count("refs/heads/") == 1

    adopted = checkout(legacy, "factory/adopt", tmp_path / "adopted")
    layout = load_layout(adopted)
    assert layout.queue_format == "four-lists"
    assert layout.service_map == "release/services.yaml"
    assert list(layout.environments) == ["dev", "prod"]
    assert layout.held("api", "dev") and not layout.held("api", "prod")
    # The smoke runner's handoff (AUTO_ENQUEUE_PROD, prod- tags) becomes the prod stage.
    prod = layout.environment("prod")
    assert (prod.after, prod.retag, prod.approval) == ("dev", "prod-", False)
    assert layout.environment("dev").after is None
    # The queue and the profiles are untouched.
    assert git(legacy, "diff", "--stat", "HEAD", "factory/adopt", "--", "release", "apps") == ""


def test_legacy_records_become_one_imported_record_each_in_time_order(legacy, tmp_path, capsys):
    assert run(capsys, "--repo", str(legacy))[0] == 0
    adopted = checkout(legacy, "factory/adopt", tmp_path / "adopted")
    count, problems = validate_repo(adopted)
    assert problems == []
    assert count == len(RECORDS)  # count before == after
    assert main(["evidence", "validate", "--repo", str(adopted)]) == 0

    records = [json.loads(p.read_text()) for p in (adopted / "evidence/records").glob("*.json")]
    records.sort(key=lambda r: r["integrity"]["sequence"])
    assert [r["integrity"]["sequence"] for r in records] == [1, 2, 3, 4]
    assert all(r["kind"] == "imported" for r in records)
    starts = [r["started_at"] for r in records]
    assert starts == sorted(starts)
    order = [r["details"]["original_path"] for r in records]
    assert order == [
        "evidence/records/20260331-api-sha-0c0ffee.yaml",
        "evidence/records/20260401-api-sha-4417092.yaml",
        "evidence/records/20260401-api-sha-4417092-copy.yaml",
        "evidence/records/20260402-worker-sha-5e6f7a8.yaml",
    ]
    for record in records:
        details = record["details"]
        legacy_path = details["legacy_path"]
        assert not (adopted / details["original_path"]).exists()
        original = RECORDS[details["original_path"]]
        assert (adopted / legacy_path).read_text() == original
        assert details["git_blob"] == git(adopted, "rev-parse", f"HEAD:{legacy_path}").strip()
        # `git mv`: the history follows the file.
        assert details["original_path"] in git(
            adopted, "log", "--follow", "--name-only", "--format=", "--", legacy_path
        )

    clean, _, copy, broken = records
    assert clean["result"] == "success" and clean["details"]["problems"] == []
    assert clean["details"]["content"] == yaml.safe_load(RECORDS[order[0]])
    assert clean["details"]["content"]["source"]["commit"] == "0c0ffee"
    assert clean["service"] == "api"
    assert clean["started_at"] == "2026-03-31T10:00:00.000000Z"
    assert clean["subject"][0]["digest"]["sha256"].startswith("b964bd3b")
    # The same evidenceId twice stays two records, each naming the other.
    assert copy["details"]["collides_with"] == [order[1]]
    assert records[1]["details"]["collides_with"] == [order[2]]
    assert any("file is named" in p for p in copy["details"]["problems"])
    # A broken file is imported with its text and the problem.
    assert broken["result"] == "failure"
    assert broken["details"]["content"] is None
    assert broken["details"]["content_text"] == RECORDS[order[3]]
    assert "does not parse as YAML" in broken["details"]["problems"][0]


def test_the_repository_schema_in_use_is_kept_and_the_unused_one_moved_aside(
    legacy, tmp_path, capsys
):
    assert run(capsys, "--repo", str(legacy))[0] == 0
    adopted = checkout(legacy, "factory/adopt", tmp_path / "adopted")
    assert (
        git(legacy, "diff", "HEAD", "factory/adopt", "--", "evidence/schema/evidence.schema.json")
        == ""
    )
    old = git(legacy, "show", "HEAD:evidence/schema/evidence-record.schema.json")
    assert (adopted / "evidence/legacy/schema/evidence-record.schema.json").read_text() == old
    assert main(["evidence", "schema", "--check", "--repo", str(adopted)]) == 0


def test_an_adopted_repository_says_so(legacy, tmp_path, capsys):
    assert run(capsys, "--repo", str(legacy))[0] == 0
    adopted = checkout(legacy, "factory/adopt", tmp_path / "adopted")
    before = state(adopted)
    code, out, err = run(capsys, "--repo", str(adopted))
    assert code == 0, err
    assert out.startswith("already adopted: factory.yaml exists")
    assert state(adopted) == before


def test_the_factory_own_layout_is_already_adopted(tmp_path, capsys):
    from tests.support.gitrepo import make_gitops_remote

    clone = make_gitops_remote(tmp_path / "own").clone
    code, out, _ = run(capsys, "--repo", str(clone))
    assert code == 0 and "already adopted" in out and "releases" in out


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({"release__queue.yaml": None}, "release/queue.yaml: -: not found; looked for"),
        (
            {"release__queue.yaml": "pending: []\npromoted: []\nfailed: []\n"},
            "release/queue.yaml: superseded: expected a list, found missing",
        ),
        (
            {
                "release__services.yaml": None,
                "release__services.local-k3s.yaml": None,
                "release__services.orbstack-k3s-cn.yaml": None,
            },
            "release/services*.yaml: -: no service map found",
        ),
    ],
)
def test_an_unrecognised_layout_exits_1_naming_what_it_looked_for(
    tmp_path, capsys, overrides, expected
):
    clone = make_legacy_repo(tmp_path / "odd", **overrides).clone
    for key, text in overrides.items():
        if text is None:  # the seed would put a file there: remove it in a commit
            path = key.replace("__", "/")
            if (clone / path).exists():
                git(clone, "rm", "--quiet", path)
                git(clone, "commit", "--quiet", "-m", f"drop {path}")
    before = state(clone)
    code, _, err = run(capsys, "--repo", str(clone))
    assert code == 1
    assert expected in err
    assert state(clone) == before


def test_a_bad_environment_in_a_profile_names_the_file_and_field(tmp_path, capsys):
    bad = "services:\n  api:\n    envs:\n      Prod_EU:\n        overlayPath: x\n"
    clone = make_legacy_repo(tmp_path / "bad", **{"release__services.local-k3s.yaml": bad}).clone
    code, _, err = run(capsys, "--repo", str(clone), "--dry-run")
    assert code == 1
    assert "release/services.local-k3s.yaml: services.api.envs.Prod_EU: 'Prod_EU'" in err


def test_without_a_live_smoke_handoff_no_stage_is_declared(tmp_path, capsys):
    from tests.support.ljwx_legacy import SMOKE_CRONJOB

    quiet = SMOKE_CRONJOB.replace(
        "AUTO_ENQUEUE_PROD\n              value: '1'", "AUTO_ENQUEUE_PROD\n              value: '0'"
    )
    clone = make_legacy_repo(tmp_path / "q", **{"cluster__smoke-runner-cronjob.yaml": quiet}).clone
    assert run(capsys, "--repo", str(clone))[0] == 0
    adopted = checkout(clone, "factory/adopt", tmp_path / "adopted")
    assert load_layout(adopted).environment("prod").after is None


def test_usage_errors_exit_2(legacy, capsys):
    assert run(capsys, "--repo", str(legacy), "--branch", "bad..name")[0] == 2
    with pytest.raises(SystemExit) as exc:
        main(["adopt", "--repo", str(legacy), "--no-such-option"])
    assert exc.value.code == 2
    assert "factory/adopt" not in git(legacy, "branch", "--list")


def test_an_existing_branch_is_refused_and_nothing_is_written(legacy, capsys):
    git(legacy, "branch", "factory/adopt")
    before = state(legacy)
    code, _, err = run(capsys, "--repo", str(legacy))
    assert code == 1 and "refs/heads/factory/adopt: --branch: exists already" in err
    assert state(legacy) == before
    code, _, _ = run(capsys, "--repo", str(legacy), "--branch", "adopt/other")
    assert code == 0
    assert git(legacy, "worktree", "list").count("\n") == 1  # the scratch worktree is gone


def test_a_failed_adoption_leaves_no_branch(tmp_path, capsys):
    # A repository whose chain already holds a factory record: the import cannot start it.
    record = "evidence/records/01KN1NBX80CZ7FHESEG9TFZ6AG.json"
    clone = make_legacy_repo(tmp_path / "mixed", **{record.replace("/", "__"): "{}\n"}).clone
    before = state(clone)
    code, _, err = run(capsys, "--repo", str(clone))
    assert code == 1
    assert "evidence/records: -: holds factory records already" in err
    assert state(clone) == before
    assert git(clone, "worktree", "list").count("\n") == 1


def test_a_linked_legacy_record_is_refused_naming_it(tmp_path, capsys):
    remote = make_legacy_repo(tmp_path / "linked")
    clone = remote.clone
    (clone / "evidence/records/20260403-api-sha-1.yaml").symlink_to("/etc/hostname")
    git(clone, "add", "evidence/records/20260403-api-sha-1.yaml")
    git(clone, "commit", "--quiet", "-m", "a link")
    before = state(clone)
    code, _, err = run(capsys, "--repo", str(clone))
    assert code == 1
    assert "evidence/records/20260403-api-sha-1.yaml: -: is not a regular file" in err
    assert state(clone) == before


def test_the_imported_chain_collects_and_builds_the_dashboard(legacy, tmp_path, capsys):
    assert run(capsys, "--repo", str(legacy))[0] == 0
    adopted = checkout(legacy, "factory/adopt", tmp_path / "adopted")
    index = tmp_path / "index.json"
    assert main(["evidence", "collect", "--repo", str(adopted), "--out", str(index)]) == 0
    collected = json.loads(index.read_text())
    assert collected["record_count"] == len(RECORDS)
    assert collected["kinds"] == {"imported": len(RECORDS)}
    assert main(["site", "build", "--repo", str(adopted), "--out", str(tmp_path / "site")]) == 0


def _tree(repo: Path, ref: str) -> dict[str, bytes]:
    """Every file of `ref` with its bytes."""
    listing = subprocess.run(
        ["git", "-C", str(repo), "ls-tree", "-r", "-z", "--name-only", ref],
        capture_output=True,
        check=True,
    ).stdout.decode()
    return {
        path: subprocess.run(
            ["git", "-C", str(repo), "show", f"{ref}:{path}"], capture_output=True, check=True
        ).stdout
        for path in filter(None, listing.split("\0"))
    }


LISTED = re.compile(r"^\s*- (add|rewrite|suspend|move|remove|keep) (\S+?)(?: -> (\S+?))?: ")


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_the_dry_run_change_list_is_the_commit_file_by_file(legacy, capsys, runtime):
    # What the dry run computes (the CLI prints exactly this plan) ...
    dry = plan_adoption(legacy, runtime=runtime)
    code, out, _ = run(capsys, "--repo", str(legacy), "--dry-run", "--runtime", runtime)
    assert code == 0 and out.startswith(dry.plan.as_markdown())
    printed = {m.groups() for m in map(LISTED.match, out.splitlines()) if m}
    assert printed == {(c.action, c.path, c.to) for c in dry.plan.changes}
    # ... is what the commit does: every file of the commit is HEAD's, or the planned bytes.
    assert run(capsys, "--repo", str(legacy), "--runtime", runtime)[0] == 0
    expected = _tree(legacy, "HEAD")
    for path, content in expected_after(dry.plan.changes).items():
        if content is None:
            expected.pop(path)
        else:
            expected[path] = content
    committed = _tree(legacy, "factory/adopt")
    assert sorted(committed) == sorted(expected)
    for path, content in committed.items():
        assert content == expected[path], path
    kept = [c.path for c in dry.plan.changes if c.action == "keep"]
    head = _tree(legacy, "HEAD")
    assert all(committed.get(p) == head.get(p) for p in kept if p in head)  # files kept as is
