"""Make the adoption: one commit on a new local branch, built in a scratch worktree.

The user's checkout is never touched: the plan is computed from the commit at HEAD (an
archive of it for a dry run, a detached worktree for the real run), and the branch is
created only once the commit exists and the evidence validates, so a failure leaves no
branch and no half-written file. Nothing is pushed.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from factory_assets.adopt.detect import Findings, detect
from factory_assets.adopt.image import FACTORY_IMAGE
from factory_assets.adopt.layout_file import layout_text
from factory_assets.adopt.legacy_records import (
    LEGACY_DIR,
    LEGACY_SCHEMA,
    LegacyRecord,
    read_legacy_records,
)
from factory_assets.adopt.plan import Plan
from factory_assets.adopt.runners import runner_for, with_resource
from factory_assets.adopt.switch import Cutover, rollback_steps, switch_order
from factory_assets.adopt.workflows import (
    gate_with_factory_job,
    gate_workflow,
    nightly_text,
    nightly_workflow,
)
from factory_assets.common.clock import utc_now
from factory_assets.common.errors import InputError, UsageError
from factory_assets.common.files import WRITTEN_DIRS, atomic_write_text, refuse_symlinked_dirs
from factory_assets.evidence.layout import (
    CHAIN_HEAD,
    INDEX_DIR,
    INDEX_FILE,
    RECORDS_DIR,
    SCHEMA_FILE,
)
from factory_assets.evidence.schema_file import schema_text
from factory_assets.evidence.store import append_records
from factory_assets.evidence.validate import RECORD_FILE, validate_repo
from factory_assets.layout.config import LAYOUT_FILE
from factory_assets.layout.legacy_runtime import (
    DORMANT_DIRS,
    LegacyJob,
    legacy_jobs,
    refuse_live_legacy_promoter,
    suspend_text,
)
from factory_assets.layout.queue_health import QUEUE_HEALTH_FILE, write_queue_health
from resources.gitops import author_identity

DEFAULT_BRANCH = "factory/adopt"
LEGACY_FACTORY_SCHEMA = f"{LEGACY_DIR}/schema/evidence-record.schema.json"
MOVE_CHUNK = 500  # legacy record paths per `git mv` (well inside the argument limit)
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
    """What adopt will do (`plan`) and the material to do it with."""

    plan: Plan
    findings: Findings
    layout: str
    records: list[LegacyRecord]
    replace_schema: bool  # the repository's own evidence-record.schema.json moves aside
    write_schema: bool
    suspend: dict[str, set[int]]  # manifest path -> the CronJob documents to suspend
    nightly: str | None  # the legacy nightly evidence workflow the factory's replaces
    runners: dict[str, str] = field(default_factory=dict)  # path -> the factory runner's text
    image: str = FACTORY_IMAGE  # the factory image the runners and workflows run


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


def _chain_is_empty(root: Path) -> bool:
    records = root / RECORDS_DIR
    has_json = records.is_dir() and any(RECORD_FILE.match(p.name) for p in records.iterdir())
    return not has_json and not (root / CHAIN_HEAD).exists()


def _plan_layout(plan: Plan, found: Findings) -> None:
    maps = ", ".join(m.path for m in found.maps)
    plan.add(
        "layout",
        "add",
        LAYOUT_FILE,
        f"declares the four-list queue {found.queue_path}, the service map {maps} and the "
        f"environments the map names ({', '.join(found.envs)}), pinned through overlays",
    )
    for pin in found.hand_pins:
        plan.notes.append(
            f"{pin.service} is held in {pin.env}: {pin.overlay} pins it by hand with newTag "
            f"{pin.tag!r}; remove the hold in factory.yaml to let the queue deploy it"
        )


def _plan_evidence(plan: Plan, root: Path, records: list[LegacyRecord]) -> None:
    if records and not _chain_is_empty(root):
        raise InputError(
            RECORDS_DIR,
            "-",
            "holds factory records already; imported legacy records must start the chain",
        )
    for record in records:
        details = record.body.details
        why = "a legacy record, imported in full"
        if details.problems:
            why += f" (problems noted: {'; '.join(details.problems)})"
        if details.collides_with:
            why += f" (same evidenceId as {', '.join(details.collides_with)}; kept apart)"
        plan.add("evidence", "add", f"{RECORDS_DIR}/{record.body.id}.json", f"{why}: {record.path}")
        plan.add(
            "evidence",
            "move",
            record.path,
            f"kept unchanged beside its imported record {record.body.id} (git blob "
            f"{record.blob[:12]})",
            to=record.legacy_path,
        )
    if records:
        plan.add(
            "evidence",
            "add",
            CHAIN_HEAD,
            f"heads the chain of {len(records)} imported records (in time order)",
        )


def _plan_schema(plan: Plan, root: Path) -> tuple[bool, bool]:
    """(replace, write): whether the repository's file at the factory's path moves aside,
    and whether the factory's schema is written."""
    current = root / SCHEMA_FILE
    exists = current.exists()
    write = not exists or current.read_text(encoding="utf-8", errors="replace") != schema_text()
    replace = write and exists
    if replace:
        plan.add(
            "schema",
            "move",
            SCHEMA_FILE,
            "the repository's own schema at this path (unused by its validator) is kept",
            to=LEGACY_FACTORY_SCHEMA,
        )
    if write:
        plan.add(
            "schema",
            "change" if replace else "add",
            SCHEMA_FILE,
            "the factory's record schema (generated from its model) replaces it"
            if replace
            else "the factory's record schema, generated from its model",
        )
    if (root / LEGACY_SCHEMA).exists():
        plan.add(
            "schema",
            "keep",
            LEGACY_SCHEMA,
            "describes the legacy YAML records (now under evidence/legacy/); not overwritten",
        )
    return replace, write


def _plan_derived(plan: Plan, root: Path) -> None:
    plan.add(
        "metrics",
        "change" if (root / QUEUE_HEALTH_FILE).exists() else "add",
        QUEUE_HEALTH_FILE,
        "rebuilt from the queue by the factory, in the repository's own shape "
        "(its dashboard reads the counts), now that the legacy jobs no longer write it",
    )
    if (root / INDEX_FILE).exists():
        plan.add(
            "metrics",
            "remove",
            INDEX_FILE,
            "the legacy array index is replaced by the factory's index, which is derived, not "
            "committed: `factory evidence collect --out evidence/index.json` builds it, the "
            "dashboard publishes it; the path is git-ignored so a local build never shows as a "
            "change",
        )


# Files nobody reads any more: listed, left alone; the owner decides (issue 13, item 6).
UNREAD = {
    "envs": "the frozen snapshot of the first promoter, read by nothing (its README says so)",
    "pages": "the old dashboard; the factory's dashboard replaces it on gh-pages (history kept)",
    "evidence/summary/latest.md": "no longer rebuilt; the factory's dashboard shows the same",
    **{
        folder: "dormant CronJob variants no Application points at: they run nowhere"
        for folder in DORMANT_DIRS
    },
}


def _plan_unread(plan: Plan, root: Path) -> None:
    for path, why in UNREAD.items():
        if (root / path).exists():
            plan.add("unread", "keep", path, f"{why}; left alone, yours to remove")


def _plan_runners(plan: Plan, root: Path, jobs: list[LegacyJob], image: str) -> dict[str, str]:
    """The factory's runners beside the legacy promoters: path -> text (kustomizations too)."""
    files: dict[str, str] = {}
    for job in jobs:
        if not (root / job.path).is_file():
            continue
        runner = runner_for(root, job, image)
        if (root / runner.path).exists():
            continue
        files[runner.path] = runner.text
        dropped = f"; left out: {', '.join(runner.dropped)}" if runner.dropped else ""
        plan.add(
            "runtime",
            "add",
            runner.path,
            f"the factory's runner in place of {runner.replaces}: same namespace, the legacy "
            f"container's environment and Secret keys (through the variable aliases), image "
            f"{image}{dropped}",
        )
        kustomization = Path(job.path).parent / "kustomization.yaml"
        if (root / kustomization).is_file():
            listed = with_resource(
                (root / kustomization).read_text(encoding="utf-8"),
                Path(job.path).name,
                Path(runner.path).name,
            )
            if listed is not None:
                files[str(kustomization)] = listed
                plan.add("runtime", "change", str(kustomization), f"lists {runner.path}")
    return files


def _plan_runtime(plan: Plan, jobs: list[LegacyJob]) -> dict[str, set[int]]:
    """The legacy CronJobs to suspend: manifest path -> the documents in it."""
    suspend: dict[str, set[int]] = {}
    for job in jobs:
        if job.suspended:
            plan.add("runtime", "keep", job.path, f"CronJob {job.name} is suspended already")
            continue
        suspend.setdefault(job.path, set()).add(job.document)
        role = "promotes the queue" if job.is_promoter else "smoke-checks and hands off to prod"
        plan.add(
            "runtime",
            "change",
            job.path,
            f"suspends CronJob {job.name} (`spec.suspend: true`, one line): it {role}, which "
            "factory now does; Argo CD applies the change, reverting the line rolls it back",
        )
    if suspend:
        plan.notes.append(
            "the runtime manifests are protected paths: the pull request needs the "
            "`platform-admin` label"
        )
    return suspend


def _plan_workflows(plan: Plan, root: Path, image: str) -> str | None:
    """The legacy nightly workflow the factory's replaces, if the repository has one."""
    nightly = nightly_workflow(root)
    if nightly is not None:
        plan.add(
            "workflows",
            "change",
            nightly.path,
            "replaced by the factory's nightly: validate the chain, publish the factory's "
            "dashboard to gh-pages (the legacy job reads the YAML records, now moved, and "
            f"would publish an empty feed), in the factory image {image}",
        )
    gate = gate_workflow(root)
    if gate is not None:
        extended = gate_with_factory_job(
            (root / gate.path).read_text(encoding="utf-8"), gate.path, image
        )
        if extended is not None:
            plan.add(
                "workflows",
                "change",
                gate.path,
                "the PR gate keeps every check it has (the factory keeps the queue valid for "
                "its validator) and gains one job: `factory evidence validate` and "
                "`factory promote --dry-run` (queue, map, factory.yaml as a pass reads them), "
                f"in the factory image {image}",
            )
        else:
            plan.add(
                "workflows",
                "keep",
                gate.path,
                "the PR gate's checks stay; its `jobs:` could not be extended safely",
            )
            plan.notes.append(
                f"{gate.path}: add the factory's validators by hand "
                "(`factory evidence validate`, `factory promote --dry-run`)"
            )
    return nightly.path if nightly else None


def _plan_switch(
    root: Path, jobs: list[LegacyJob], adoption: Adoption, branch: str, image: str | None
) -> None:
    """The order of the switch and the way back, from what this adoption suspends and adds."""
    cut = Cutover(
        branch=branch,
        suspended=[job.name for job in jobs if job.document in adoption.suspend.get(job.path, ())],
        runners=[p for p in sorted(adoption.runners) if p.endswith("-cronjob.yaml")],
        workflows=bool(adoption.nightly) or gate_workflow(root) is not None,
        factory_image=image or FACTORY_IMAGE,
        image_given=image is not None,
        held=bool(adoption.findings.hand_pins),
    )
    adoption.plan.order = switch_order(cut)
    adoption.plan.rollback = rollback_steps(cut)


def build_adoption(
    root: Path,
    blobs: dict[str, str],
    *,
    branch: str = DEFAULT_BRANCH,
    factory_image: str | None = None,
) -> Adoption:
    """Everything adopt will do to the snapshot at `root`, as a plan; changes nothing."""
    refuse_symlinked_dirs(root, WRITTEN)
    found = detect(root)
    plan = Plan(notes=list(found.notes))
    layout = layout_text(found)
    _plan_layout(plan, found)
    records = read_legacy_records(root, blobs)
    _plan_evidence(plan, root, records)
    replace_schema, write_schema = _plan_schema(plan, root)
    _plan_derived(plan, root)
    jobs = legacy_jobs(root)  # read once: suspended, replaced and ordered from one list
    suspend = _plan_runtime(plan, jobs)
    image = factory_image or FACTORY_IMAGE
    runners = _plan_runners(plan, root, jobs, image)
    nightly = _plan_workflows(plan, root, image)
    _plan_unread(plan, root)
    adoption = Adoption(
        plan, found, layout, records, replace_schema, write_schema, suspend, nightly, runners, image
    )
    _plan_switch(root, jobs, adoption, branch, factory_image)
    return adoption


def plan_adoption(
    repo: Path, branch: str = DEFAULT_BRANCH, factory_image: str | None = None
) -> Adoption:
    """The adoption of HEAD, computed on a scratch copy of it: the repository is only read."""
    commit = head_commit(repo)
    with snapshot(repo, commit) as root:
        return build_adoption(
            root, head_blobs(repo, commit), branch=branch, factory_image=factory_image
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


def _apply(work: Path, adoption: Adoption) -> None:
    """Make the planned changes in the scratch worktree `work`."""
    atomic_write_text(work / LAYOUT_FILE, adoption.layout)
    if adoption.records:
        (work / LEGACY_DIR).mkdir(parents=True, exist_ok=True)
    # One `git mv` per chunk and one chain append for all: a legacy history may hold
    # thousands of records (each keeps its name under evidence/legacy/).
    for start in range(0, len(adoption.records), MOVE_CHUNK):
        chunk = adoption.records[start : start + MOVE_CHUNK]
        _git(work, "mv", "--", *(record.path for record in chunk), LEGACY_DIR)
    append_records(work, [record.body for record in adoption.records])
    if adoption.replace_schema:
        (work / LEGACY_FACTORY_SCHEMA).parent.mkdir(parents=True, exist_ok=True)
        _git(work, "mv", "--", SCHEMA_FILE, LEGACY_FACTORY_SCHEMA)
    if adoption.write_schema:
        atomic_write_text(work / SCHEMA_FILE, schema_text())
    write_queue_health(work, adoption.findings.queue_path, utc_now())
    if (work / INDEX_FILE).exists():
        _git(work, "rm", "-q", "--", INDEX_FILE)
        _ignore(work, [INDEX_FILE, f"{INDEX_DIR}/"])
    for path, documents in sorted(adoption.suspend.items()):
        text = (work / path).read_text(encoding="utf-8")
        atomic_write_text(work / path, suspend_text(text, documents, path))
    for path, text in sorted(adoption.runners.items()):
        atomic_write_text(work / path, text)
    if adoption.nightly:
        atomic_write_text(work / adoption.nightly, nightly_text(adoption.image))
    gate = gate_workflow(work)
    if gate is not None:
        extended = gate_with_factory_job(
            (work / gate.path).read_text(encoding="utf-8"), gate.path, adoption.image
        )
        if extended is not None:
            atomic_write_text(work / gate.path, extended)
    refuse_live_legacy_promoter(work)  # the adopted repository must let the pass start


def _ignore(work: Path, paths: list[str]) -> None:
    """List `paths` in the repository's .gitignore (once each), keeping what is there."""
    ignore = work / ".gitignore"
    text = ignore.read_text(encoding="utf-8") if ignore.exists() else ""
    new = [f"/{p}" for p in paths if f"/{p}" not in text.splitlines()]
    if not new:
        return
    prefix = "" if not text or text.endswith("\n") else "\n"
    lines = "".join(f"{line}\n" for line in new)
    atomic_write_text(
        ignore, f"{text}{prefix}# derived by `factory evidence collect` (factory adopt)\n{lines}"
    )


def adopt(
    repo: Path, branch: str = DEFAULT_BRANCH, factory_image: str | None = None
) -> tuple[Adoption, str]:
    """Commit the adoption of HEAD on the new branch `branch`; returns it and the commit id."""
    commit = head_commit(repo)
    check_branch_name(repo, branch)
    scratch = Path(tempfile.mkdtemp(prefix="factory-adopt-"))
    work = scratch / "worktree"
    _git(repo, "worktree", "add", "--detach", "--quiet", str(work), commit)
    try:
        adoption = build_adoption(
            work, head_blobs(repo, commit), branch=branch, factory_image=factory_image
        )
        check_branch_free(repo, branch)
        _apply(work, adoption)
        _, problems = validate_repo(work)
        if problems:
            raise InputError(
                RECORDS_DIR, "-", f"the imported chain does not validate: {problems[0]}"
            )
        written = len([p for p in (work / RECORDS_DIR).iterdir() if RECORD_FILE.match(p.name)])
        if written != len(adoption.records):
            raise InputError(
                RECORDS_DIR, "-", f"{len(adoption.records)} legacy records but {written} imported"
            )
        _git(work, "add", "--all")
        message = adoption.plan.as_text().encode()
        done = subprocess.run(
            [
                "git",
                "-C",
                str(work),
                *_identity(repo),
                "commit",
                "--quiet",
                "--no-verify",
                "-F",
                "-",
            ],
            input=message,
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
