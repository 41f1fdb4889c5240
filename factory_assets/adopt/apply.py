"""Make the adoption: one commit on a new local branch, built in a scratch worktree.

The user's checkout is never touched: the plan is computed from the commit at HEAD (an
archive of it for a dry run, a detached worktree for the real run), as a list of changes with
their bytes; the real run applies exactly that list (`changes.apply_changes` checks the staged
tree against it) and commits it with the plan as the message. The branch is created only once
the commit exists and the evidence validates, so a failure leaves no branch and no
half-written file. Nothing is pushed.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from factory_assets.adopt.changes import apply_changes
from factory_assets.adopt.clusters import Cluster, find_clusters
from factory_assets.adopt.dagster_runtime import names
from factory_assets.adopt.detect import Findings, detect
from factory_assets.adopt.image import FACTORY_IMAGE
from factory_assets.adopt.layout_file import layout_text
from factory_assets.adopt.legacy_records import LEGACY_DIR, LegacyRecord, read_legacy_records
from factory_assets.adopt.legacy_runtime import legacy_jobs, refuse_live_legacy_promoter
from factory_assets.adopt.plan import Plan
from factory_assets.adopt.review import cluster_section
from factory_assets.adopt.runners import Runtime
from factory_assets.adopt.steps import (
    plan_derived,
    plan_evidence,
    plan_layout,
    plan_runtime,
    plan_schema,
    plan_suspend,
    plan_unread,
    plan_workflows,
)
from factory_assets.adopt.switch import Cutover, rollback_steps, switch_order
from factory_assets.common.errors import InputError, UsageError
from factory_assets.common.files import WRITTEN_DIRS, refuse_symlinked_dirs
from factory_assets.evidence.layout import RECORDS_DIR
from factory_assets.evidence.validate import RECORD_FILE, validate_repo
from resources.gitops import author_identity

DEFAULT_BRANCH = "factory/adopt"
# Every folder adopt writes into: a committed link there would send the writes outside.
WRITTEN = (
    *WRITTEN_DIRS,
    LEGACY_DIR,
    f"{LEGACY_DIR}/schema",
    "evidence/schema",
    "evidence/metrics",
    ".github",
    ".github/workflows",
    "cluster",
    "cluster-prod",
)


@dataclass
class Adoption:
    """What adopt will do (`plan`, its changes with their bytes) and what it found."""

    plan: Plan
    findings: Findings
    clusters: list[Cluster]
    records: list[LegacyRecord]
    image: str = FACTORY_IMAGE  # the factory image the runtime and workflows run
    runtime: Runtime = "dagster"


def _git(repo: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    done = subprocess.run(
        ["git", "-C", str(repo), *args], capture_output=True, text=False, check=False
    )
    if check and done.returncode != 0:
        message = done.stderr.decode("utf-8", "replace").strip().splitlines()
        raise InputError(repo, "git", f"git {args[0]} failed: {message[-1] if message else ''}")
    return done


def head_commit(repo: Path) -> str:
    done = _git(repo, "rev-parse", "--verify", "--quiet", "HEAD^{commit}", check=False)
    if done.returncode != 0:
        if _git(repo, "rev-parse", "--git-dir", check=False).returncode != 0:
            raise InputError(repo, "-", "not a git repository (adopt commits on a new branch)")
        raise InputError(repo, "HEAD", "the repository has no commit to adopt")
    return done.stdout.decode().strip()


def head_blobs(repo: Path, commit: str) -> dict[str, str]:
    """Every file of `commit` with its git blob id."""
    out = _git(repo, "ls-tree", "-r", "-z", commit).stdout.decode("utf-8", "surrogateescape")
    blobs = {}
    for item in filter(None, out.split("\0")):
        meta, path = item.split("\t", 1)
        _, kind, blob = meta.split()
        if kind == "blob":
            blobs[path] = blob
    return blobs


@contextmanager
def snapshot(repo: Path, commit: str) -> Iterator[Path]:
    """The files of `commit` in a scratch directory, through a scratch index: the repository's
    own index, working tree and refs are only read (and no export-ignore drops a file)."""
    with tempfile.TemporaryDirectory(prefix="factory-adopt-") as scratch:
        root = Path(scratch) / "tree"
        env = {**os.environ, "GIT_INDEX_FILE": str(Path(scratch) / "index")}
        for args in (
            ["read-tree", commit],
            ["checkout-index", "--all", f"--prefix={root}/"],
        ):
            done = subprocess.run(
                ["git", "-C", str(repo), *args], capture_output=True, env=env, check=False
            )
            if done.returncode != 0:
                message = done.stderr.decode("utf-8", "replace").strip()
                raise InputError(repo, "git", f"git {args[0]} failed: {message}")
        yield root


def commit_time(repo: Path, commit: str) -> datetime:
    """When `commit` was made: the moment the derived files describe, in the dry run and the
    real run alike."""
    stamp = _git(repo, "show", "-s", "--format=%ct", commit).stdout.decode().strip()
    return datetime.fromtimestamp(int(stamp), tz=UTC)


def build_adoption(
    root: Path,
    blobs: dict[str, str],
    *,
    as_of: datetime,
    branch: str = DEFAULT_BRANCH,
    factory_image: str | None = None,
    runtime: Runtime = "dagster",
) -> Adoption:
    """Everything adopt will do to the snapshot at `root`, as a plan of changes with their bytes;
    writes nothing. `as_of` is the adopted commit's time (the derived files are as of it)."""
    refuse_symlinked_dirs(root, WRITTEN)
    found = detect(root)
    image = factory_image or FACTORY_IMAGE
    plan = Plan(notes=list(found.notes))
    plan_layout(plan, found, layout_text(found))
    jobs = legacy_jobs(root)  # read once: suspended, replaced and ordered from one list
    clusters, cluster_notes = find_clusters(root, found)
    plan.notes += cluster_notes
    suspended = plan_suspend(plan, root, jobs)
    added = plan_runtime(plan, root, clusters, image, runtime)
    records = read_legacy_records(root, blobs)
    plan_evidence(plan, root, records)
    plan_schema(plan, root)
    plan_derived(plan, root, found.queue_path, as_of)
    workflows = plan_workflows(plan, root, image)
    plan_unread(plan, root)
    plan.clusters = cluster_section(clusters, added, runtime, image)
    files = [f for folder in added.values() for f in folder]
    cut = Cutover(
        branch=branch,
        suspended=suspended,
        runners=[f.path for f in files],
        workflows=workflows,
        factory_image=image,
        image_given=factory_image is not None,
        held=bool(found.hand_pins),
        runtime=runtime,
        claims=sorted({names(c)["claim"] for c in clusters}) if runtime == "dagster" else (),
        webservers=[
            f"`kubectl{f' -n {c.namespace}' if c.namespace else ''} port-forward "
            f"svc/{names(c)['service']} 3000:80` on the cluster of {c.label}"
            for c in clusters
        ]
        if runtime == "dagster"
        else [],
    )
    plan.order = switch_order(cut)
    plan.rollback = rollback_steps(cut)
    return Adoption(plan, found, clusters, records, image, runtime)


def plan_adoption(
    repo: Path,
    branch: str = DEFAULT_BRANCH,
    factory_image: str | None = None,
    runtime: Runtime = "dagster",
) -> Adoption:
    """The adoption of HEAD, computed on a scratch copy of it: the repository is only read."""
    commit = head_commit(repo)
    with snapshot(repo, commit) as root:
        return build_adoption(
            root,
            head_blobs(repo, commit),
            as_of=commit_time(repo, commit),
            branch=branch,
            factory_image=factory_image,
            runtime=runtime,
        )


def check_branch_name(repo: Path, branch: str) -> None:
    """A usage error (exit 2) unless `branch` is a valid new branch name."""
    done = _git(repo, "check-ref-format", "--branch", branch, check=False)
    if done.returncode != 0 or branch.startswith("-"):
        raise UsageError(f"--branch: {branch!r} is not a valid branch name")


def check_branch_free(repo: Path, branch: str) -> None:
    """The commit goes on a new branch only: an existing one is never moved or reused."""
    ref = f"refs/heads/{branch}"
    if _git(repo, "rev-parse", "--verify", "--quiet", ref, check=False).returncode == 0:
        raise InputError(ref, "--branch", "exists already; delete it or name another branch")


def _identity(repo: Path) -> list[str]:
    """Who commits: the factory's one identity rule (FACTORY_GIT_AUTHOR_*, else the user)."""

    def configured(key: str) -> str:
        return _git(repo, "config", "--get", key, check=False).stdout.decode()

    name, email = author_identity(configured)
    return ["-c", f"user.name={name}", "-c", f"user.email={email}"]


def _check_result(work: Path, adoption: Adoption) -> None:
    """The adopted tree must validate and let a pass start, or there is no branch."""
    _, problems = validate_repo(work)
    if problems:
        raise InputError(RECORDS_DIR, "-", f"the imported chain does not validate: {problems[0]}")
    written = (
        len([p for p in (work / RECORDS_DIR).iterdir() if RECORD_FILE.match(p.name)])
        if (work / RECORDS_DIR).is_dir()
        else 0
    )
    if written != len(adoption.records):
        raise InputError(
            RECORDS_DIR, "-", f"{len(adoption.records)} legacy records but {written} imported"
        )
    refuse_live_legacy_promoter(work)  # the adopted repository must let the pass start


def adopt(
    repo: Path,
    branch: str = DEFAULT_BRANCH,
    factory_image: str | None = None,
    runtime: Runtime = "dagster",
) -> tuple[Adoption, str]:
    """Commit the adoption of HEAD on the new branch `branch`; returns it and the commit id."""
    commit = head_commit(repo)
    check_branch_name(repo, branch)
    scratch = Path(tempfile.mkdtemp(prefix="factory-adopt-"))
    work = scratch / "worktree"
    _git(repo, "worktree", "add", "--detach", "--quiet", str(work), commit)
    try:
        adoption = build_adoption(
            work,
            head_blobs(repo, commit),
            as_of=commit_time(repo, commit),
            branch=branch,
            factory_image=factory_image,
            runtime=runtime,
        )
        check_branch_free(repo, branch)
        apply_changes(work, adoption.plan.changes)  # exactly the plan, checked
        _check_result(work, adoption)
        done = subprocess.run(
            [
                "git",
                "-C",
                str(work),
                *_identity(repo),
                "commit",
                "--quiet",
                "--no-verify",
                "--cleanup=whitespace",  # the plan's Markdown headings are not comments
                "-F",
                "-",
            ],
            input=adoption.plan.commit_message().encode(),
            capture_output=True,
            check=False,
        )
        if done.returncode != 0:
            raise InputError(work, "git", f"commit failed: {done.stderr.decode(errors='replace')}")
        made = _git(work, "rev-parse", "HEAD").stdout.decode().strip()
        _git(repo, "branch", branch, made)  # the branch appears only with the whole commit
        return adoption, made
    finally:
        _git(repo, "worktree", "remove", "--force", str(work), check=False)
        shutil.rmtree(scratch, ignore_errors=True)
        _git(repo, "worktree", "prune", check=False)
