"""Where a pin came from: its promotion record, and how later commits relate to the pinning commit."""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

from git import GitCommandError, InvalidGitRepositoryError, NoSuchPathError, Repo

from factory_assets.common.errors import InputError
from factory_assets.common.files import read_bounded
from factory_assets.evidence.layout import INDEX_FILE, records_dir
from factory_assets.evidence.model import EvidenceRecord, RecordBody
from factory_assets.evidence.store import load_record
from factory_assets.layout.config import DEFAULT_ENV
from factory_assets.pins.lane_view import text_pins_image
from factory_assets.release.model import ReleaseEntry, ReleaseQueue
from factory_assets.smoke.argocd_verdict import RevisionCheck, RevisionRelation

SHARD_MAX_BYTES = 64 * 1024 * 1024  # 4096 record summaries; far above what one holds


def find_promotion_record(
    repo: Path, service: str, env: str = DEFAULT_ENV
) -> EvidenceRecord | None:
    """The latest successful promotion of `service` in `env`: another environment's pin is
    never this lane's parent, however recent.

    A record without `env` is the default environment's (dev): the factory wrote promotion
    records without one before lanes had environments, when every pin was dev's. Records not
    yet in `evidence/index.json` are scanned newest first (ULID file names sort by time); the
    index answers for everything before them.
    """
    index = _read_index(repo)
    collected = _collected_ids(repo) if index else set()
    directory = records_dir(repo)
    names = (
        sorted((p.name for p in directory.glob("*.json")), reverse=True)
        if directory.is_dir()
        else []
    )
    for name in names:
        record_id = name[:-5]
        if record_id in collected:
            continue
        try:
            raw = json.loads(read_bounded(directory / name, field="record"))
        except (ValueError, OSError):
            continue  # `factory evidence validate` reports broken records; they pin nothing here
        if isinstance(raw, dict) and _is_promotion_of(_summary(raw), service, env):
            return EvidenceRecord.model_validate(raw)
    record_id = _indexed_promotion(repo, index, service, env) if index else None
    return load_record(repo, record_id) if record_id else None


def _summary(raw: dict) -> dict:
    """What the index keeps of a record, for the fields a lineage lookup compares."""
    details = raw.get("details")
    env = details.get("env") if isinstance(details, dict) else None
    return {k: raw.get(k) for k in ("kind", "result", "service")} | {"env": env}


def _is_promotion_of(summary: dict, service: str, env: str) -> bool:
    """A successful promotion of (service, env), by a record's summary or an index line."""
    return (
        summary.get("kind") == "promotion"
        and summary.get("result") == "success"
        and summary.get("service") == service
        and (summary.get("env") or DEFAULT_ENV) == env
    )


def _indexed_promotion(repo: Path, index: dict, service: str, env: str) -> str | None:
    """The id of the latest promotion of (service, env) the index holds: the service's
    `pinned` line (its latest in any environment) when it is of `env`, else the newest such
    line in the shards."""
    pinned = ((index.get("services") or {}).get(service) or {}).get("pinned")
    if not (isinstance(pinned, dict) and pinned.get("id")):
        return None  # the index holds no promotion of the service, in any environment
    if _is_promotion_of(pinned, service, env):
        return pinned["id"]
    shards = [s for s in index.get("shards") or [] if isinstance(s, dict) and s.get("path")]
    for shard in reversed(shards):
        path = (repo / INDEX_FILE).parent / str(shard["path"])
        try:
            lines = json.loads(read_bounded(path, limit=SHARD_MAX_BYTES, field="shard"))["records"]
        except (OSError, ValueError, InputError, KeyError, TypeError):
            continue  # an unreadable shard answers nothing; `collect` rebuilds it
        for line in reversed(lines if isinstance(lines, list) else []):
            if isinstance(line, dict) and line.get("id") and _is_promotion_of(line, service, env):
                return line["id"]
    return None


def checked_entry(queue: ReleaseQueue, record: EvidenceRecord | RecordBody) -> ReleaseEntry | None:
    """The queue entry of the release a smoke record checked, when it is that record's lane:
    a pin file copied from another environment names that environment's release, whose
    verdict, last smoke record and next stage are not this lane's."""
    details = record.details
    release_id = getattr(details, "release_id", None)
    entry = queue.by_id(release_id) if release_id else None
    env = getattr(details, "env", None) or DEFAULT_ENV
    return entry if entry is not None and entry.lane == (record.service, env) else None


def _read_index(repo: Path) -> dict | None:
    try:
        data = json.loads(read_bounded(repo / INDEX_FILE, field="index"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _collected_ids(repo: Path) -> set[str]:
    try:
        return set((repo / INDEX_FILE).parent.joinpath("index", "ids.txt").read_text().split())
    except OSError:
        return set()


def last_commit_touching(repo: Path, rel_path: str) -> str | None:
    """The commit that last changed `rel_path` (a pin without a promotion record), or None."""
    git_repo = _git_repo(repo)
    if git_repo is None:
        return None
    try:
        sha = git_repo.git.log("-1", "--format=%H", "--", rel_path).strip()
    except GitCommandError:  # no commits yet: no commit to wait for
        return None
    return sha or None


def git_revision_check(repo: Path, pin_commit: str, rel_path: str, image: str) -> RevisionCheck:
    """Relate an Argo CD revision to the pin: the commit itself, a later commit that still pins
    the same image (other services moved HEAD), a later commit that pins another image
    (superseded), or anything else (older, unknown, unrelated).

    In a monorepo every pin moves HEAD, so the strict equality would wait forever
    as soon as another service is promoted after this one.
    """
    git_repo = _git_repo(repo)

    @lru_cache(maxsize=64)
    def relation(revision: str) -> RevisionRelation:
        if revision == pin_commit:
            return "pinned"
        if git_repo is None or not _looks_like_sha(revision):
            return "other"
        if not _has_commit(git_repo, revision):
            _fetch_quietly(git_repo)
            if not _has_commit(git_repo, revision):
                return "other"
        try:
            if not git_repo.is_ancestor(pin_commit, revision):
                return "other"
            text = git_repo.git.show(f"{revision}:{rel_path}")
        except GitCommandError:  # the pin file is gone at that revision
            return "other"
        return "includes" if text_pins_image(text, image) else "superseded"

    return relation


def _looks_like_sha(text: str) -> bool:
    return len(text) in (40, 64) and all(c in "0123456789abcdef" for c in text)


def _has_commit(git_repo: Repo, revision: str) -> bool:
    try:
        git_repo.git.cat_file("-e", f"{revision}^{{commit}}")
        return True
    except GitCommandError:
        return False


def _fetch_quietly(git_repo: Repo) -> None:
    """Argo CD may have seen a commit pushed after this clone: fetch once, ignore failures."""
    if not git_repo.remotes:
        return
    try:
        git_repo.git.fetch("--quiet", git_repo.remotes[0].name, kill_after_timeout=30)
    except GitCommandError:  # offline is fine: the revision stays "other" and we wait
        pass


def _git_repo(repo: Path) -> Repo | None:
    try:
        return Repo(repo)
    except (
        InvalidGitRepositoryError,
        NoSuchPathError,
    ):  # not a checkout: only exact revisions count
        return None
