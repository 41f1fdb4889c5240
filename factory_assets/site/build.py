"""Build the static dashboard: copy `site/` and write the data files for one evidence state.

The same records, pins, queue and link settings always give byte-identical
output, so publishing an unchanged build makes no commit.
"""

from __future__ import annotations

import importlib.metadata
import json
import shutil
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from factory_assets.common import settings
from factory_assets.common.clock import parse_rfc3339, utc_now
from factory_assets.common.errors import FactoryError, InputError
from factory_assets.evidence.canonical import body_of, fast_canonical_bytes, sha256_digest
from factory_assets.evidence.checkpoints import HISTORY_FILE, history_bytes
from factory_assets.evidence.collect import collect_index
from factory_assets.evidence.layout import INDEX_FILE, RECORDS_DIR, record_path
from factory_assets.layout.queue_health import layout_queue_health
from factory_assets.site.data import (
    BLOCK_SIZE,
    SITE_FORMAT,
    SUMMARY_FILE,
    block_meta,
    block_path,
    checkpoint_of,
    counts_of,
    dump_json,
    published_size,
    records_bytes,
    timeline_bytes,
)
from factory_assets.site.lanes import lane_table, without_root
from factory_assets.site.legacy import legacy_deployment
from factory_assets.site.metrics import compute_metrics
from factory_assets.site.pipeline import pipeline_rows

# The checkout's `site/` (a source tree or an editable install).
CHECKOUT_SITE_SRC = Path(__file__).resolve().parents[2] / "site"
INSTALLED_SITE_SRC = "share/factory/site"  # where a wheel puts them, under the install prefix
# Record details the timeline names an event by ("approved by NAME", `site/app.js`); plain
# details fields, so the in-browser check verifies them against the records like the rest.
TIMELINE_DETAILS = ("event", "requested_by")


class SiteBuildError(FactoryError):
    """The evidence cannot be published as it is (a record no longer matches the index)."""


@dataclass(frozen=True)
class SiteLinks:
    """Where the detail view links to: `{commit}` in the commit template, runs under Dagster's URL."""

    commit_url_template: str | None = None
    dagster_url: str | None = None

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> SiteLinks:
        commit_setting, dagster_setting = (
            settings.FACTORY_COMMIT_URL_TEMPLATE,
            settings.FACTORY_DAGSTER_URL,
        )
        commit = commit_setting.get(env)
        dagster = (dagster_setting.get(env) or "").rstrip("/") or None
        for name, value in ((commit_setting.name, commit), (dagster_setting.name, dagster)):
            if value and urlsplit(value).scheme not in ("http", "https"):
                raise InputError(name, "-", "must be an http:// or https:// URL")
        if commit and "{commit}" not in commit:
            raise InputError(commit_setting.name, "-", "must contain the placeholder {commit}")
        return cls(commit, dagster)


@dataclass(frozen=True)
class BuildResult:
    out_dir: Path
    tree_size: int  # records the published checkpoint covers
    root: str  # hex RFC 6962 root of that checkpoint
    record_count: int  # records in the chain, including trailing pages records not published
    blocks: int
    files: int
    bytes: int


def collected_lines(repo: Path) -> list[dict]:
    """Record summaries in sequence order, from an index brought up to date in a scratch copy.

    The committed index is copied first so collection is incremental when it is
    current; the repository itself is never written.
    """
    if not (repo / RECORDS_DIR).is_dir():
        return []  # no evidence yet: an empty dashboard
    with tempfile.TemporaryDirectory(prefix="factory-site-index-") as tmp:
        scratch = Path(tmp) / "index.json"
        committed = repo / INDEX_FILE
        if committed.is_file():
            shutil.copyfile(committed, scratch)
            shards = committed.parent / committed.stem
            if shards.is_dir():
                shutil.copytree(shards, scratch.parent / scratch.stem)
        collect_index(repo, out=scratch)
        index = json.loads(scratch.read_bytes())
        lines: list[dict] = []
        for shard in index.get("shards", []):
            lines.extend(json.loads((scratch.parent / shard["path"]).read_bytes())["records"])
    lines.sort(key=lambda line: line["seq"])
    return lines


def _stored_record(repo: Path, line: dict) -> tuple[bytes, dict]:
    """The stored bytes of the record behind a summary, checked against it, and the record."""
    path = record_path(repo, line["id"])
    rel = f"evidence/records/{path.name}"
    try:
        raw = path.read_bytes().strip()
        record = json.loads(raw)
        sequence = record["integrity"]["sequence"]
        digest = record["integrity"]["content_digest"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise SiteBuildError(f"{rel}: -: cannot be read as a record ({exc})") from None
    if sequence != line["seq"] or digest != line["content_digest"]:
        raise SiteBuildError(
            f"{rel}: integrity: differs from the evidence index; run `factory evidence validate`"
        )
    if sha256_digest(fast_canonical_bytes(body_of(record))) != digest:
        raise SiteBuildError(
            f"{rel}: integrity.content_digest: does not match the content; run `factory evidence validate`"
        )
    return raw, record


def _read_block(repo: Path, chunk: list[dict], legacy: dict[int, dict]) -> list[bytes]:
    """The stored records behind `chunk`, checked; each line gains the details its timeline
    row names the event by, and each imported legacy deployment lands in `legacy` by sequence."""
    raws = []
    for line in chunk:
        raw, record = _stored_record(repo, line)
        raws.append(raw)
        details = record.get("details") or {}
        for key in TIMELINE_DETAILS:
            if details.get(key) is not None:
                line[key] = details[key]
        if line["kind"] == "imported" and (past := legacy_deployment(record)) is not None:
            legacy[line["seq"]] = past
    return raws


def _prepare_out_dir(out_dir: Path) -> Path:
    """A fresh staging directory beside `out_dir`; refuses to replace a directory that is not a build."""
    if out_dir.exists() and any(out_dir.iterdir()) and not (out_dir / SUMMARY_FILE).is_file():
        raise InputError(
            out_dir, "-", "exists and is not a site build; choose an empty or new directory"
        )
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    stage = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", dir=out_dir.parent))
    stage.chmod(0o755)  # mkdtemp makes 0700; a static server may run as another user
    return stage


def site_sources() -> Path:
    """The dashboard's static sources: the checkout's `site/`, else the wheel's installed copy."""
    if (CHECKOUT_SITE_SRC / "index.html").is_file():
        return CHECKOUT_SITE_SRC
    try:
        files = importlib.metadata.distribution("factory").files or []
    except importlib.metadata.PackageNotFoundError:
        files = []
    for entry in files:  # RECORD names data files relative to site-packages, prefix and all
        if entry.as_posix().endswith(f"{INSTALLED_SITE_SRC}/index.html"):
            return Path(entry.locate()).resolve().parent
    return Path(sys.prefix) / INSTALLED_SITE_SRC


def _copy_static(src: Path, dest: Path) -> None:
    if not (src / "index.html").is_file():
        raise InputError(src, "index.html", "the dashboard sources are missing")
    for path in sorted(src.rglob("*")):
        rel = path.relative_to(src)
        if path.is_file() and not any(part.startswith(".") for part in rel.parts):
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, dest / rel)


def _write(root: Path, rel: str, data: bytes) -> None:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def _queue_health(repo: Path, lines: list[dict], warnings: list[str]) -> dict | None:
    """The four-list queue's health figures, as of the newest record (a build is deterministic)."""
    as_of = parse_rfc3339(lines[-1]["finished_at"]) if lines else utc_now()
    try:
        return layout_queue_health(repo, as_of)
    except InputError as exc:
        warnings.append(without_root(f"queue health: {exc}", repo))
        return None


def build_site(
    repo: Path, out_dir: Path, *, links: SiteLinks | None = None, site_src: Path | None = None
) -> BuildResult:
    """Write the dashboard for `repo`'s evidence into `out_dir` (replaced as a whole)."""
    repo, out_dir = Path(repo), Path(out_dir)
    links = links or SiteLinks.from_env()
    all_lines = collected_lines(repo)
    lines = all_lines[: published_size(all_lines)]
    warnings: list[str] = []
    legacy: dict[int, dict] = {}  # sequence -> the deployment an imported record describes
    stage = _prepare_out_dir(out_dir)
    try:
        _copy_static(site_src or site_sources(), stage)
        _write(stage, ".nojekyll", b"")
        blocks = []
        for start in range(0, len(lines), BLOCK_SIZE):
            number = start // BLOCK_SIZE
            chunk = lines[start : start + BLOCK_SIZE]
            records = records_bytes(_read_block(repo, chunk, legacy))
            timeline = timeline_bytes(number, chunk)
            _write(stage, block_path("timeline", number), timeline)
            _write(stage, block_path("records", number), records)
            blocks.append(block_meta(number, chunk, timeline, records))
        checkpoint = checkpoint_of(lines)
        summary = {
            "format": SITE_FORMAT,
            "block_size": BLOCK_SIZE,
            "checkpoint": checkpoint,
            "counts": counts_of(lines),
            "filters": {
                "services": sorted({line["service"] for line in lines if line.get("service")}),
                "kinds": sorted({line["kind"] for line in lines}),
                "results": sorted({line["result"] for line in lines}),
            },
            "range": {"first": lines[0]["finished_at"], "last": lines[-1]["finished_at"]}
            if lines
            else None,
            "services": lane_table(repo, lines, legacy, warnings),
            "pipeline": pipeline_rows(repo, lines, warnings),
            "queue_health": _queue_health(repo, lines, warnings),
            "blocks": blocks,
            "links": {"commit": links.commit_url_template, "dagster": links.dagster_url},
            "warnings": warnings,
        }
        _write(stage, "data/metrics.json", dump_json(compute_metrics(lines, legacy)))
        _write(stage, SUMMARY_FILE, dump_json(summary))
        # Publishing replaces this with the branch's history plus this checkpoint; a build
        # served as it is has been published nowhere yet.
        _write(stage, HISTORY_FILE, history_bytes([]))
        files = [p for p in stage.rglob("*") if p.is_file()]
        size = sum(p.stat().st_size for p in files)
        if out_dir.exists():
            shutil.rmtree(out_dir)
        stage.rename(out_dir)
    except BaseException:
        shutil.rmtree(stage, ignore_errors=True)
        raise
    return BuildResult(
        out_dir,
        checkpoint["tree_size"],
        checkpoint["root"],
        len(all_lines),
        len(blocks),
        len(files),
        size,
    )
