"""The steps of an adoption, each returning the changes it makes, with their bytes.

Every step reads the snapshot of the commit being adopted (never the working tree) and adds its
changes to the plan: nothing is written here. `apply.py` then makes exactly these changes, so a
dry run shows what the commit does, file by file.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path, PurePosixPath

from factory_assets.adopt.clusters import Cluster
from factory_assets.adopt.detect import Findings
from factory_assets.adopt.legacy_records import LEGACY_DIR, LEGACY_SCHEMA, LegacyRecord
from factory_assets.adopt.legacy_runtime import DORMANT_DIRS, LegacyJob, suspend_text
from factory_assets.adopt.plan import Plan
from factory_assets.adopt.pods import RuntimeFile
from factory_assets.adopt.runners import Runtime, cluster_runtime, with_resource
from factory_assets.adopt.workflows import (
    gate_with_factory_job,
    gate_workflow,
    nightly_text,
    nightly_workflow,
)
from factory_assets.common.errors import InputError
from factory_assets.evidence.layout import (
    CHAIN_HEAD,
    INDEX_DIR,
    INDEX_FILE,
    RECORDS_DIR,
    SCHEMA_FILE,
)
from factory_assets.evidence.schema_file import schema_text
from factory_assets.evidence.store import ChainHead, chain_head_bytes, record_bytes, seal
from factory_assets.evidence.validate import RECORD_FILE
from factory_assets.layout.config import LAYOUT_FILE
from factory_assets.layout.queue_health import QUEUE_HEALTH_FILE, queue_health_text, read_queue_data

LEGACY_FACTORY_SCHEMA = f"{LEGACY_DIR}/schema/evidence-record.schema.json"
GITIGNORE = ".gitignore"


def _bytes_of(root: Path, path: str) -> bytes:
    return (root / path).read_bytes()


def plan_layout(plan: Plan, found: Findings, layout: str) -> None:
    maps = ", ".join(m.path for m in found.maps)
    plan.add(
        "layout",
        "add",
        LAYOUT_FILE,
        f"declares the four-list queue {found.queue_path}, the service map {maps} and the "
        f"environments the map names ({', '.join(found.envs)}), pinned through overlays",
        content=layout.encode(),
    )
    for pin in found.hand_pins:
        plan.notes.append(
            f"{pin.service} is held in {pin.env}: {pin.overlay} pins it by hand with newTag "
            f"{pin.tag!r}; remove the hold in factory.yaml to let the queue deploy it"
        )


def _chain_is_empty(root: Path) -> bool:
    records = root / RECORDS_DIR
    has_json = records.is_dir() and any(RECORD_FILE.match(p.name) for p in records.iterdir())
    return not has_json and not (root / CHAIN_HEAD).exists()


def plan_evidence(plan: Plan, root: Path, records: list[LegacyRecord]) -> None:
    """Each legacy record sealed onto a new chain (in time order), its file moved aside."""
    if not records:
        return
    if not _chain_is_empty(root):
        raise InputError(
            RECORDS_DIR,
            "-",
            "holds factory records already; imported legacy records must start the chain",
        )
    previous: ChainHead | None = None
    head: ChainHead | None = None
    noted = 0
    for record in records:
        sealed = seal(record.body, head)
        previous, head = (
            head,
            ChainHead(sealed.integrity.sequence, sealed.integrity.content_digest, sealed.id),
        )
        details = record.body.details
        why = "a legacy record, imported in full"
        if details.problems:
            noted += 1
            why += f" (problems noted: {'; '.join(details.problems)})"
        if details.collides_with:
            why += f" (same evidenceId as {', '.join(details.collides_with)}; kept apart)"
        plan.add(
            "evidence",
            "add",
            f"{RECORDS_DIR}/{sealed.id}.json",
            f"{why}: {record.path}",
            content=record_bytes(sealed),
            bulk="imported",
        )
    for record in records:
        plan.add(
            "evidence",
            "move",
            record.path,
            f"kept unchanged beside its imported record {record.body.id} (git blob "
            f"{record.blob[:12]})",
            content=_bytes_of(root, record.path),
            to=record.legacy_path,
            bulk="legacy",
        )
    assert head is not None
    plan.add(
        "evidence",
        "add",
        CHAIN_HEAD,
        f"heads the chain of {len(records)} imported records (in time order)",
        content=chain_head_bytes(head, previous),
    )
    problems = f", {noted} with the problems noted on the record" if noted else ""
    plan.bulk["imported"] = (
        f"add {len(records)} records `{RECORDS_DIR}/<id>.json` of kind `imported`, one per legacy "
        f"YAML record, each holding the file in full, sealed in time order{problems}"
    )
    plan.bulk["legacy"] = (
        f"move the {len(records)} legacy YAML records to `{LEGACY_DIR}/` with `git mv`, "
        "unchanged (history follows them; each imported record names its file and git blob)"
    )


def plan_schema(plan: Plan, root: Path) -> None:
    """The repository's own file at the factory's schema path moves aside; the factory's is written."""
    current = root / SCHEMA_FILE
    exists = current.exists()
    text = schema_text()
    write = not exists or current.read_text(encoding="utf-8", errors="replace") != text
    if write and exists:
        plan.add(
            "schema",
            "move",
            SCHEMA_FILE,
            "the repository's own schema at this path (unused by its validator) is kept",
            content=_bytes_of(root, SCHEMA_FILE),
            to=LEGACY_FACTORY_SCHEMA,
        )
    if write:
        plan.add(
            "schema",
            "add",
            SCHEMA_FILE,
            "the factory's record schema (generated from its model) takes the path"
            if exists
            else "the factory's record schema, generated from its model",
            content=text.encode(),
        )
    if (root / LEGACY_SCHEMA).exists():
        plan.add(
            "schema",
            "keep",
            LEGACY_SCHEMA,
            "describes the legacy YAML records (now under evidence/legacy/); not overwritten",
        )


def _ignored(text: str, paths: list[str]) -> str | None:
    """`.gitignore` listing `paths` (once each), keeping what is there (None: nothing to add)."""
    new = [f"/{p}" for p in paths if f"/{p}" not in text.splitlines()]
    if not new:
        return None
    prefix = "" if not text or text.endswith("\n") else "\n"
    lines = "".join(f"{line}\n" for line in new)
    return f"{text}{prefix}# derived by `factory evidence collect` (factory adopt)\n{lines}"


def plan_derived(plan: Plan, root: Path, queue_path: str, as_of: datetime) -> None:
    """queue-health.json rebuilt as of the adopted commit; the legacy array index removed."""
    health = queue_health_text(read_queue_data(root, queue_path), as_of).encode()
    exists = (root / QUEUE_HEALTH_FILE).exists()
    if not exists or _bytes_of(root, QUEUE_HEALTH_FILE) != health:
        plan.add(
            "metrics",
            "rewrite" if exists else "add",
            QUEUE_HEALTH_FILE,
            "rebuilt from the queue by the factory in the repository's own shape (its dashboard "
            f"reads the counts), as of the adopted commit ({as_of.isoformat()})",
            content=health,
        )
    if not (root / INDEX_FILE).exists():
        return
    plan.add(
        "metrics",
        "remove",
        INDEX_FILE,
        "the legacy array index is replaced by the factory's index, which is derived, not "
        "committed: `factory evidence collect --out evidence/index.json` builds it, the "
        "dashboard publishes it",
    )
    ignore = root / GITIGNORE
    text = ignore.read_text(encoding="utf-8") if ignore.exists() else ""
    ignored = _ignored(text, [INDEX_FILE, f"{INDEX_DIR}/"])
    if ignored is not None:
        plan.add(
            "metrics",
            "rewrite" if ignore.exists() else "add",
            GITIGNORE,
            f"ignores {INDEX_FILE} and {INDEX_DIR}/, so a local build never shows as a change",
            content=ignored.encode(),
        )


# Files nobody reads any more: listed, left alone; the owner decides.
UNREAD = {
    "envs": "the frozen snapshot of the first promoter, read by nothing (its README says so)",
    "pages": "the old dashboard; the factory's dashboard replaces it on gh-pages (history kept)",
    "evidence/summary/latest.md": "no longer rebuilt; the factory's dashboard shows the same",
    **{
        folder: "dormant CronJob variants no Application points at: they run nowhere"
        for folder in DORMANT_DIRS
    },
}


def plan_unread(plan: Plan, root: Path) -> None:
    for path, why in UNREAD.items():
        if (root / path).exists():
            plan.add("unread", "keep", path, f"{why}; left alone, yours to remove")


def plan_suspend(plan: Plan, root: Path, jobs: list[LegacyJob]) -> list[str]:
    """Every live legacy CronJob suspended in place (one line each); their names."""
    by_file: dict[str, list[LegacyJob]] = {}
    for job in jobs:
        if job.suspended:
            plan.add("runtime", "keep", job.path, f"CronJob {job.name} is suspended already")
            continue
        by_file.setdefault(job.path, []).append(job)
    for path, mine in by_file.items():
        text = (root / path).read_text(encoding="utf-8")
        suspended = suspend_text(text, {job.document for job in mine}, path)
        roles = "; ".join(
            f"{job.name} {'promotes the queue' if job.is_promoter else 'smoke-checks and hands off to prod'}"
            for job in mine
        )
        plan.add(
            "runtime",
            "suspend",
            path,
            f"suspends CronJob {', '.join(j.name for j in mine)} (`spec.suspend: true`, one "
            f"line): {roles}, which the factory now does; Argo CD applies the change, reverting "
            "the line rolls it back",
            content=suspended.encode(),
        )
    if by_file:
        plan.notes.append(
            "the runtime manifests are protected paths: the pull request needs the "
            "`platform-admin` label"
        )
    return [job.name for mine in by_file.values() for job in mine]


def plan_runtime(
    plan: Plan, root: Path, clusters: list[Cluster], image: str, runtime: Runtime
) -> dict[str, list[RuntimeFile]]:
    """The chosen runtime's manifests in each cluster's folder, listed in its kustomization."""
    added: dict[str, list[RuntimeFile]] = {}
    for cluster in clusters:
        files = cluster_runtime(cluster, image, runtime)
        added[cluster.folder] = files
        kustomization = f"{cluster.folder}/kustomization.yaml"
        listing = (
            (root / kustomization).read_text(encoding="utf-8")
            if (root / kustomization).is_file()
            else None
        )
        listed: list[str] = []
        for file in files:
            if (root / file.path).exists():
                raise InputError(
                    file.path, "-", "exists already: adopt adds the factory's runtime there"
                )
            left_out = f"; left out: {', '.join(cluster.left_out)}" if cluster.left_out else ""
            plan.add(
                "runtime",
                "add",
                file.path,
                f"{file.what}, for {', '.join(cluster.envs)} on this cluster, image {image}, "
                f"with the legacy Secret's keys through the variable aliases{left_out}",
                content=file.text.encode(),
            )
            if listing is not None and file.after is not None:
                extended = with_resource(listing, file.after, PurePosixPath(file.path).name)
                if extended is not None:
                    listing = extended
                    listed.append(file.path)
        if listed and listing is not None:
            plan.add(
                "runtime",
                "rewrite",
                kustomization,
                f"lists {', '.join(listed)} beside the legacy runners",
                content=listing.encode(),
            )
    return added


def plan_workflows(plan: Plan, root: Path, image: str) -> bool:
    """The nightly replaced, the gate extended; whether any workflow runs the factory image."""
    nightly = nightly_workflow(root)
    if nightly is not None:
        plan.add(
            "workflows",
            "rewrite",
            nightly.path,
            "replaced by the factory's nightly: validate the chain, publish the factory's "
            "dashboard to gh-pages (the legacy job reads the YAML records, now moved, and "
            f"would publish an empty feed), in the factory image {image}",
            content=nightly_text(image).encode(),
        )
    gate = gate_workflow(root)
    if gate is None:
        return nightly is not None
    text = (root / gate.path).read_text(encoding="utf-8")
    extended = gate_with_factory_job(text, gate.path, image)
    if extended is not None and extended != text:
        plan.add(
            "workflows",
            "rewrite",
            gate.path,
            "the PR gate keeps every check it has (the factory keeps the queue valid for "
            "its validator) and gains one job: `factory evidence validate` and "
            "`factory promote --dry-run` (queue, map, factory.yaml as a pass reads them), "
            f"in the factory image {image}",
            content=extended.encode(),
        )
    elif extended is None:
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
    return True
