"""Publish a site build to the root of a branch (gh-pages) and record the publication.

Works in a throwaway bare repository (shallow, blob-less fetches), so the
user's checkout, index and refs are never touched. A push is a compare-and-swap:
when another writer moved the branch first, re-fetch, rebuild the commit on the
new tip and try again, a bounded number of times. History is kept (no force).

After a new site commit lands, a `pages` evidence record is appended to the
evidence chain on the remote's main branch the same way (sealed on the freshly
fetched chain head, retried on rejection). The build leaves trailing `pages`
records out of the published checkpoint, so this record never causes the next
publication by itself.
"""

from __future__ import annotations

import json
import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import git

from factory_assets.common import settings
from factory_assets.common.clock import rfc3339, utc_now
from factory_assets.common.errors import FactoryError, InputError
from factory_assets.evidence.checkpoints import (
    HISTORY_FILE,
    Checkpoint,
    CurrentTree,
    appended,
    first_inconsistency,
    history_bytes,
)
from factory_assets.evidence.layout import CHAIN_HEAD, RECORDS_DIR
from factory_assets.evidence.store import (
    ChainHead,
    chain_head_bytes,
    chain_head_of,
    new_body,
    record_bytes,
    seal,
)
from factory_assets.site.build import SUMMARY_FILE
from factory_assets.site.pages_ref import PAGES_BRANCH, published_digests, published_history
from resources.gitops import GitError, author_identity, compare_and_swap, redact

DEFAULT_BRANCH = PAGES_BRANCH
EVIDENCE_BRANCH = "main"
MAX_ATTEMPTS = 5
GIT_TIMEOUT_S = 600


class PublishError(FactoryError):
    """The site could not be published (message free of credentials)."""


@dataclass(frozen=True)
class PublishResult:
    branch: str
    site_commit: str | None  # the branch tip that holds this build
    pushed: bool  # a new commit was pushed (False: the branch already had this tree)
    attempts: int
    tree_size: int
    merkle_root: str
    record_id: str | None = None  # the `pages` evidence record, when one was written
    record_error: str | None = None  # why no record was written although the site was pushed


def _remote_of(repo: Path) -> str:
    try:
        return git.Repo(repo).git.remote("get-url", "origin")
    except (git.InvalidGitRepositoryError, git.NoSuchPathError, git.GitCommandError):
        raise InputError(
            repo, "remote", "has no `origin` remote; pass the remote URL explicitly"
        ) from None


def _absolute_local(url: str, base: Path) -> str:
    """A relative local-path remote made absolute against `base`; URLs and scp-style
    `host:path` remotes are returned as they are."""
    if "://" in url or re.match(r"^[^/]+:", url) or Path(url).is_absolute():
        return url
    return str((base / url).resolve())


def _forwarded_auth(repo: Path) -> list[tuple[str, str]]:
    """`http.*.extraheader` entries of the checkout (how actions/checkout stores its token)."""
    try:
        out = git.Repo(repo).git.config("--get-regexp", r"^http\..*extraheader$")
    except (git.InvalidGitRepositoryError, git.NoSuchPathError, git.GitCommandError):
        return []
    pairs = []
    for line in out.splitlines():
        key, _, value = line.partition(" ")
        pairs.append((key, value))
    return pairs


def _identity(repo: Path | None = None) -> dict[str, str]:
    """The factory's commit identity, as the GitOps writer resolves it (`author_identity`),
    with `repo`'s git config as the fallback when given."""

    def configured(key: str) -> str:
        if repo is None:
            return ""
        try:
            with git.Repo(repo) as checkout:
                return checkout.git.config("--get", key)
        except (git.InvalidGitRepositoryError, git.NoSuchPathError, git.GitCommandError):
            return ""

    name, email = author_identity(configured)
    return {
        "GIT_AUTHOR_NAME": name,
        "GIT_AUTHOR_EMAIL": email,
        "GIT_COMMITTER_NAME": name,
        "GIT_COMMITTER_EMAIL": email,
    }


class _Scratch:
    """A bare, shallow, blob-less repository with one remote: where commits are made and pushed."""

    def __init__(
        self,
        root: Path,
        url: str,
        auth: list[tuple[str, str]],
        identity: dict[str, str] | None = None,
    ) -> None:
        self.root = root
        self.repo = git.Repo.init(root / "scratch.git", bare=True)
        self.env = {"GIT_TERMINAL_PROMPT": "0", "LC_ALL": "C", **(identity or _identity())}
        self.env["GIT_CONFIG_COUNT"] = str(len(auth))
        for number, (key, value) in enumerate(auth):
            self.env[f"GIT_CONFIG_KEY_{number}"] = key
            self.env[f"GIT_CONFIG_VALUE_{number}"] = value
        with self.repo.config_writer() as config:
            config.set_value("core", "repositoryformatversion", "1")
            config.set_value("extensions", "partialClone", "origin")
            config.set_value('remote "origin"', "url", url)
            config.set_value('remote "origin"', "promisor", "true")
            config.set_value('remote "origin"', "partialclonefilter", "blob:none")

    def git(self, *args: str, index: str | None = None, **kwargs) -> str:
        """Run git in the scratch repository; `index` names a private index file for this call."""
        env = {**self.env, "GIT_INDEX_FILE": str(self.root / index)} if index else self.env
        try:
            return self.repo.git.execute(
                ["git", *args], env=env, kill_after_timeout=GIT_TIMEOUT_S, **kwargs
            )
        except git.GitCommandError as exc:
            raise PublishError(
                f"git {args[0]} failed: {redact(str(exc.stderr or exc).strip())}"
            ) from None

    def fetch_tip(self, branch: str) -> str | None:
        """The remote branch's tip, fetched one commit deep without blobs; None when it does not exist."""
        if not self.git("ls-remote", "--heads", "origin", f"refs/heads/{branch}").strip():
            return None
        ref = f"refs/remotes/origin/{branch}"
        self.git(
            "fetch",
            "--quiet",
            "--depth=1",
            "--filter=blob:none",
            "origin",
            f"+refs/heads/{branch}:{ref}",
        )
        return self.git("rev-parse", ref).strip()

    def tree_of(self, commit: str) -> str:
        return self.git("rev-parse", f"{commit}^{{tree}}").strip()

    def tree_of_dir(self, directory: Path) -> str:
        """The tree of a directory's files, through a private index (ignore rules do not apply)."""
        self.git(f"--work-tree={directory}", "add", "--all", "--force", ".", index="site.index")
        return self.git("write-tree", index="site.index").strip()

    def tree_with_files(self, base: str, files: dict[str, bytes]) -> str:
        """`base`'s tree with `files` added or replaced (blobs of other paths are never fetched)."""
        self.git("read-tree", base, index="evidence.index")
        for path, data in files.items():
            blob_file = self.root / "blob"
            blob_file.write_bytes(data)
            blob = self.git("hash-object", "-w", "--no-filters", str(blob_file)).strip()
            cacheinfo = f"100644,{blob},{path}"
            self.git("update-index", "--add", "--cacheinfo", cacheinfo, index="evidence.index")
        return self.git("write-tree", index="evidence.index").strip()

    def has_path(self, commit: str, path: str) -> bool:
        """Whether `path` is in `commit`'s tree (trees are local: no blob is fetched)."""
        return bool(self.git("ls-tree", "--name-only", commit, "--", path).strip())

    def read_file(self, commit: str, path: str) -> bytes | None:
        """The file's bytes, None when the tree has no such path; a failed (lazy) fetch raises."""
        if not self.has_path(commit, path):
            return None
        return self.git(
            "cat-file",
            "blob",
            f"{commit}:{path}",
            stdout_as_string=False,
            strip_newline_in_stdout=False,
        )

    def commit(self, tree: str, parent: str | None, message: str) -> str:
        parents = ["-p", parent] if parent else []
        return self.git("commit-tree", tree, *parents, "-m", message).strip()

    def push(self, commit: str, branch: str) -> tuple[bool, str]:
        """(True, "") when the branch moved to `commit`; (False, why) when the remote refused."""
        status, out, err = self.repo.git.execute(
            ["git", "push", "--porcelain", "origin", f"{commit}:refs/heads/{branch}"],
            env=self.env,
            with_extended_output=True,
            with_exceptions=False,
            kill_after_timeout=GIT_TIMEOUT_S,
        )
        return status == 0, redact(f"{out}\n{err}".strip())


def _commit_with_retry(
    scratch: _Scratch, branch: str, make_tree, message: str, max_attempts: int
) -> tuple[str | None, bool, int]:
    """Commit `make_tree(tip)` on the branch tip and push; (tip, pushed, attempts).

    `make_tree` returns None when the tip already holds what we want (no commit). The
    retry rule and back-off are the GitOps writer's (`compare_and_swap`).
    """

    def attempt(_number: int) -> tuple[bool, tuple[str | None, bool], str]:
        tip = scratch.fetch_tip(branch)
        tree = make_tree(tip)
        if tree is None:
            return True, (tip, False), ""
        commit = scratch.commit(tree, tip, message)
        ok, why = scratch.push(commit, branch)
        return ok, (commit, True), why

    try:
        (tip, pushed), attempts = compare_and_swap(
            attempt, max_attempts=max_attempts, target=branch
        )
    except GitError as exc:
        error = PublishError(str(exc))
        error.retryable = exc.retryable
        raise error from None
    return tip, pushed, attempts


# How many of the newest records to read when looking for a publication's pages record.
RECORDED_LOOKBACK = 20


def _publication_recorded(scratch: _Scratch, evidence_branch: str, site_commit: str) -> bool:
    """Whether one of the newest records on `evidence_branch` is the pages record of
    `site_commit` (blobs are fetched one by one, so only a few are read)."""
    tip = scratch.fetch_tip(evidence_branch)
    if tip is None:
        return True  # nowhere to record: the record step would only fail
    listing = scratch.git("ls-tree", "--name-only", tip, "--", f"{RECORDS_DIR}/")
    paths = sorted((p for p in listing.split() if p.endswith(".json")), reverse=True)
    for path in paths[:RECORDED_LOOKBACK]:
        try:
            record = json.loads(scratch.read_file(tip, path) or b"{}")
        except ValueError:
            continue
        details = record.get("details") or {}
        if record.get("kind") == "pages" and details.get("site_commit") == site_commit:
            return True
    return False


def _published_size(scratch: _Scratch, tip: str) -> int | None:
    """The tree size of the dashboard at `tip`, when it is one of ours."""
    data = scratch.read_file(tip, SUMMARY_FILE)
    try:
        size = json.loads(data)["checkpoint"]["tree_size"] if data else None
    except (ValueError, KeyError, TypeError):
        return None
    return size if isinstance(size, int) else None


def _checkpoint(build_dir: Path) -> dict:
    try:
        summary = json.loads((build_dir / SUMMARY_FILE).read_bytes())
        return summary["checkpoint"]
    except (OSError, ValueError, KeyError, TypeError):
        raise InputError(
            build_dir, SUMMARY_FILE, "missing or unreadable: not a site build"
        ) from None


def _build_tree(build_dir: Path, checkpoint: dict) -> CurrentTree:
    """The tree of the records a build shows, checked against the checkpoint it claims."""

    def read(path: str) -> bytes | None:
        file = build_dir / path
        return file.read_bytes() if file.is_file() else None

    digests = published_digests(read)
    if digests is None:
        raise InputError(build_dir, "data/timeline", "missing or unreadable: not a site build")
    tree = CurrentTree(digests)
    if (tree.size, tree.root_hex()) != (checkpoint["tree_size"], checkpoint["root"]):
        raise InputError(
            build_dir, f"{SUMMARY_FILE}: checkpoint", "does not match the build's timeline records"
        )
    return tree


def _chain_head_at(scratch: _Scratch, commit: str) -> ChainHead | None:
    """The chain head committed at `commit`, with the store's crash fallback to `previous`."""
    data = scratch.read_file(commit, CHAIN_HEAD)
    if data is None:
        return None
    try:
        return chain_head_of(
            data, lambda record_id: scratch.has_path(commit, f"{RECORDS_DIR}/{record_id}.json")
        )
    except ValueError as exc:
        raise PublishError(
            f"{CHAIN_HEAD}: -: not a valid chain head on the evidence branch ({exc})"
        ) from None


def _pages_body(
    branch: str,
    checkpoint: dict,
    site_commit: str,
    started_at: str,
    run_id: str | None,
    parent: dict | None,
):
    run_url = settings.FACTORY_RUN_URL.get()
    links = {"commit": site_commit, "asset_key": "pages_site"}
    if run_url and run_url.startswith(("https://", "http://")):
        links["url"] = redact(run_url)
    if run_id:
        links["dagster_run_id"] = run_id
    return new_body(
        kind="pages",
        service=None,
        result="success",
        details={
            "branch": branch,
            "merkle_root": checkpoint["root"],
            "tree_size": checkpoint["tree_size"],
            "site_commit": site_commit,
            "pushed": True,
        },
        subject=[{"name": f"refs/heads/{branch}", "digest": {"gitCommit": site_commit}}],
        started_at=started_at,
        finished_at=rfc3339(utc_now()),
        links=links,
        parents=[parent] if parent else [],
    )


def _record_publication(scratch: _Scratch, evidence_branch: str, body_of, max_attempts: int) -> str:
    """Append the pages record to the chain on `evidence_branch`; returns its id."""
    sealed: dict[str, str] = {}

    def make_tree(tip: str | None) -> str:
        if tip is None:
            raise PublishError(f"evidence branch {evidence_branch} does not exist on the remote")
        head = _chain_head_at(scratch, tip)
        record = seal(body_of(lambda path: scratch.has_path(tip, path)), head)
        new_head = ChainHead(record.integrity.sequence, record.integrity.content_digest, record.id)
        sealed["id"] = record.id
        files = {
            f"{RECORDS_DIR}/{record.id}.json": record_bytes(record),
            CHAIN_HEAD: chain_head_bytes(new_head, head),
        }
        return scratch.tree_with_files(tip, files)

    message = "evidence: record the gh-pages publication"
    _, _, _ = _commit_with_retry(scratch, evidence_branch, make_tree, message, max_attempts)
    return sealed["id"]


def publish_site(
    repo: Path,
    build_dir: Path,
    remote: str | None = None,
    branch: str = DEFAULT_BRANCH,
    *,
    evidence_branch: str | None = EVIDENCE_BRANCH,
    max_attempts: int = MAX_ATTEMPTS,
    run_id: str | None = None,
) -> PublishResult:
    """Commit `build_dir` as the whole tree of `branch` on the remote (default: the repo's origin).

    No commit when the branch already holds the same tree. With `evidence_branch`
    (default main), a new site commit is recorded as a `pages` evidence record there.
    """
    # The scratch repository runs git in its own directory: relative paths must not reach it.
    repo, build_dir = Path(repo).resolve(), Path(build_dir).resolve()
    checkpoint = _checkpoint(build_dir)
    url = _absolute_local(remote, Path.cwd()) if remote else _absolute_local(_remote_of(repo), repo)
    started_at = rfc3339(utc_now())
    tmp = Path(tempfile.mkdtemp(prefix="factory-pages-"))
    try:
        scratch = _Scratch(tmp, url, _forwarded_auth(repo), _identity(repo))
        tree = scratch.tree_of_dir(build_dir)
        records = _build_tree(build_dir, checkpoint)
        entry = Checkpoint.from_summary(checkpoint, started_at)
        message = f"Publish evidence dashboard: {checkpoint['tree_size']} records, root {checkpoint['root'][:16]}"

        def make_tree(tip: str | None) -> str | None:
            published = _published_size(scratch, tip) if tip else None
            if published is not None and published > checkpoint["tree_size"]:
                # A stale checkout or a slower racing publisher must not roll the dashboard
                # (and what its pages record attests) back to fewer records.
                raise PublishError(
                    f"{branch} already shows {published} records and this build "
                    f"{checkpoint['tree_size']}: not replacing a newer dashboard; "
                    "build from the current main"
                )

            def read(path: str) -> bytes | None:
                return scratch.read_file(tip, path) if tip else None

            # Every checkpoint ever published must still be a prefix of what goes out now:
            # a rewritten history is refused here, before anything is pushed.
            history = published_history(read, branch)
            failure = first_inconsistency(records, history, lambda: published_digests(read))
            if failure:
                raise PublishError(
                    f"{branch}: {failure}; refusing to publish records that are not an "
                    "append-only extension of what was published (see `factory evidence verify`)"
                )
            files = {HISTORY_FILE: history_bytes(appended(history, entry))}
            full = scratch.tree_with_files(tree, files)
            return None if tip and scratch.tree_of(tip) == full else full

        tip, pushed, attempts = _commit_with_retry(
            scratch, branch, make_tree, message, max_attempts
        )
        result = PublishResult(
            branch, tip, pushed, attempts, checkpoint["tree_size"], checkpoint["root"]
        )
        if not evidence_branch:
            return result
        if not pushed and (tip is None or _publication_recorded(scratch, evidence_branch, tip)):
            return result
        # Pushed now, or pushed by a run that died (or was refused) before recording it.
        head = checkpoint.get("head")

        def body_of(on_branch) -> object:
            # Name the checkpoint's head as parent only when the evidence branch has it.
            parent = None
            if head and on_branch(f"{RECORDS_DIR}/{head['id']}.json"):
                parent = {"id": head["id"], "content_digest": head["content_digest"]}
            return _pages_body(branch, checkpoint, tip, started_at, run_id, parent)

        try:
            record_id = _record_publication(scratch, evidence_branch, body_of, max_attempts)
        except PublishError as exc:
            return PublishResult(**{**result.__dict__, "record_error": str(exc)})
        return PublishResult(**{**result.__dict__, "record_id": record_id})
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
