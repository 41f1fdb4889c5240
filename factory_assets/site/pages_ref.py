"""Read what a pages branch published: its checkpoint history and the digests it shows.

A reader is any `read(path) -> bytes | None` over one commit of the branch: a
local ref of the checkout, or the remote branch fetched into a scratch repository
(shallow and blob-less, so only the files read are downloaded).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from factory_assets.common.errors import FactoryError, InputError
from factory_assets.evidence.checkpoints import HISTORY_FILE, Checkpoint, parse_history
from factory_assets.site.data import SUMMARY_FILE

Reader = Callable[[str], bytes | None]
PAGES_BRANCH = "gh-pages"


@dataclass(frozen=True)
class PublishedPages:
    """One commit of the pages branch: where it is, its history, and the digests it shows."""

    where: str
    history: list[Checkpoint]
    digests: Callable[[], list[str] | None]  # read only when a checkpoint fails


def published_history(read: Reader, where: str) -> list[Checkpoint]:
    """The checkpoint history; a dashboard published before histories existed counts as one entry."""
    data = read(HISTORY_FILE)
    if data is not None:
        return parse_history(data, f"{where}:{HISTORY_FILE}")
    summary = read(SUMMARY_FILE)
    if summary is None:
        return []
    try:
        return [Checkpoint.from_summary(json.loads(summary)["checkpoint"], None)]
    except (ValueError, KeyError, TypeError, AttributeError):
        raise InputError(
            f"{where}:{SUMMARY_FILE}", "checkpoint", "expected a site checkpoint"
        ) from None


def published_digests(read: Reader) -> list[str] | None:
    """The content digests the published timeline shows, in sequence order; None when unreadable."""
    try:
        summary = json.loads(read(SUMMARY_FILE) or b"null")
        digests: list[str] = []
        for block in summary["blocks"]:
            timeline = json.loads(read(block["timeline"]["path"]) or b"null")
            digests.extend(line["content_digest"] for line in timeline["records"])
        return digests
    except (ValueError, KeyError, TypeError, FactoryError):
        return None


def local_ref_reader(repo: Path, ref: str) -> tuple[Reader, str]:
    """A reader over `ref` of the checkout at `repo`; raises InputError when it is not a commit.

    Plain git processes: verify should not pay for importing a git library.
    """

    def git(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            ["git", "-C", str(repo), *args], capture_output=True, env={**os.environ, "LC_ALL": "C"}
        )

    if not (Path(repo) / ".git").exists() and git("rev-parse", "--git-dir").returncode:
        raise InputError(repo, "-", "not a git repository")
    found = git("rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}")
    if found.returncode:
        raise InputError("--against", ref, "expected a commit or branch of the repository")
    commit = found.stdout.decode().strip()

    def read(path: str) -> bytes | None:
        blob = git("cat-file", "blob", f"{commit}:{path}")
        return None if blob.returncode else blob.stdout

    return read, f"{ref}@{commit[:12]}"


def read_local(repo: Path, ref: str) -> PublishedPages:
    read, where = local_ref_reader(repo, ref)
    return PublishedPages(where, published_history(read, where), lambda: published_digests(read))


@contextmanager
def read_remote(repo: Path, branch: str, remote: str | None = None) -> Iterator[PublishedPages]:
    """The pages branch of the remote (default: the checkout's origin), fetched into a scratch dir
    that lives as long as the context, so records are downloaded only if they are read."""
    # publish's scratch repository is the one place that fetches without touching the checkout.
    from factory_assets.site.publish import _absolute_local, _forwarded_auth, _remote_of, _Scratch

    repo = Path(repo).resolve()
    url = _absolute_local(remote, Path.cwd()) if remote else _absolute_local(_remote_of(repo), repo)
    tmp = Path(tempfile.mkdtemp(prefix="factory-verify-"))
    try:
        scratch = _Scratch(tmp, url, _forwarded_auth(repo))
        tip = scratch.fetch_tip(branch)
        if tip is None:
            yield PublishedPages(f"{branch} (not on the remote)", [], lambda: None)
            return
        where = f"{branch}@{tip[:12]}"

        def read(path: str) -> bytes | None:
            return scratch.read_file(tip, path)

        yield PublishedPages(where, published_history(read, where), lambda: published_digests(read))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
