"""The deploy repository's own runners (legacy CronJobs) and how the factory takes over from them.

The legacy promoter and smoke runner are CronJobs that Argo CD applies from `cluster/` and
`cluster-prod/` (with selfHeal, so only a change in git stops them). Two promoters on one
queue would race each other's pushes and overwrite each other's overlays, so the factory
suspends them in place (`spec.suspend: true`, a one-line change a reviewer can revert) and a
pass refuses to start while a legacy promoter is still live in the repository.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import yaml

from factory_assets.common import roundtrip_yaml
from factory_assets.common.errors import InputError

# Where Argo CD applies the repository's runtime manifests from. The dormant variants no
# Application points at (DORMANT_DIRS) run nowhere: adopt lists them and leaves them alone.
RUNTIME_DIRS = ("cluster", "cluster-prod")
DORMANT_DIRS = ("infra/factory", "k8s/promoter")
PROMOTER_PREFIX = "deploy-promoter"
SMOKE_PREFIX = "smoke-runner"
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when present: ~10x faster
_DOC_SEPARATOR = re.compile(r"^---[ \t]*(#.*)?$")


# The plain values read from a legacy runner (reference section 9): the smoke runner's prod
# handoff switches, and what says which environments, map profile and targets file a cluster's
# runner works with.
PLAIN_SETTINGS = (
    "AUTO_ENQUEUE_PROD",
    "PROD_ENV",
    "AUTO_TAG_LOCAL_HARBOR",
    "LOCAL_HARBOR_PROD_TAG_PREFIX",
    "ENV_ALLOWLIST",
    "SERVICE_MAP_PATH",
    "SMOKE_SERVICE_MAP_PATH",
    "SMOKE_TARGETS",
)


@dataclass(frozen=True)
class LegacyJob:
    path: str  # repository-relative manifest path
    name: str  # metadata.name
    document: int  # index of the YAML document in the file
    suspended: bool
    settings: tuple[tuple[str, str], ...] = ()  # PLAIN_SETTINGS set with a plain value

    @property
    def is_promoter(self) -> bool:
        return self.name.startswith(PROMOTER_PREFIX)

    @property
    def folder(self) -> str:
        """The runtime folder the job is in (`cluster`, `cluster-prod`): its cluster."""
        return self.path.split("/", 1)[0]

    def setting(self, name: str) -> str | None:
        return dict(self.settings).get(name)


def _plain_settings(doc: dict) -> tuple[tuple[str, str], ...]:
    """The PLAIN_SETTINGS the CronJob's containers set by value (never a Secret's)."""
    try:
        pod = doc["spec"]["jobTemplate"]["spec"]["template"]["spec"]
        containers = list(pod.get("containers") or [])
    except (KeyError, TypeError, AttributeError):
        return ()
    found: dict[str, str] = {}
    for container in containers:
        if not isinstance(container, dict):
            continue  # not a container spec: the repository's own gate judges the manifest
        for item in container.get("env") or []:
            if isinstance(item, dict) and item.get("name") in PLAIN_SETTINGS:
                if isinstance(item.get("value"), str | int | bool):
                    found[item["name"]] = str(item["value"])
    return tuple(sorted(found.items()))


def _documents(text: str) -> list[str]:
    """The file split at `---` lines, each part keeping its own bytes (separators included)."""
    parts: list[list[str]] = [[]]
    for line in text.splitlines(keepends=True):
        if _DOC_SEPARATOR.match(line) and any(p.strip() for p in parts[-1]):
            parts.append([])
        parts[-1].append(line)
    return ["".join(p) for p in parts]


def _is_legacy(doc: object) -> str | None:
    if not isinstance(doc, dict) or doc.get("kind") != "CronJob":
        return None
    name = (
        (doc.get("metadata") or {}).get("name") if isinstance(doc.get("metadata"), dict) else None
    )
    if isinstance(name, str) and name.startswith((PROMOTER_PREFIX, SMOKE_PREFIX)):
        return name
    return None


def _manifests(root: Path) -> list[Path]:
    found: list[Path] = []
    for folder in RUNTIME_DIRS:
        base = root / folder
        if base.is_dir() and not base.is_symlink():
            found += [p for p in base.rglob("*") if p.suffix in (".yaml", ".yml") and p.is_file()]
    return sorted(found)


def legacy_jobs(root: Path) -> list[LegacyJob]:
    """Every legacy promoter and smoke-runner CronJob in the repository's runtime folders."""
    jobs: list[LegacyJob] = []
    for path in _manifests(root):
        text = path.read_text(encoding="utf-8", errors="replace")
        if "CronJob" not in text:
            continue
        rel = path.relative_to(root).as_posix()
        for index, part in enumerate(_documents(text)):
            if "CronJob" not in part:
                continue  # most manifests: no parse needed (this runs before every pass)
            try:
                doc = yaml.load(part, Loader=_LOADER)  # noqa: S506 - a safe loader
            except yaml.YAMLError:
                continue  # not ours to judge: the repository's own gate checks manifests
            name = _is_legacy(doc)
            if name:
                spec = doc.get("spec") if isinstance(doc.get("spec"), dict) else {}
                suspended = spec.get("suspend") is True
                jobs.append(LegacyJob(rel, name, index, suspended, _plain_settings(doc)))
    return jobs


def job_document(root: Path, job: LegacyJob) -> dict:
    """The CronJob's own YAML document, parsed ({} if it no longer parses)."""
    parts = _documents((root / job.path).read_text(encoding="utf-8", errors="replace"))
    try:
        doc = yaml.load(parts[job.document], Loader=_LOADER)  # noqa: S506 - a safe loader
    except (yaml.YAMLError, IndexError):
        return {}
    return doc if isinstance(doc, dict) else {}


def _suspend_document(text: str, where: str) -> str:
    """`spec.suspend: true` in one CronJob document, changing that one line and nothing else."""
    lines = text.splitlines(keepends=True)
    spec_at = next((i for i, line in enumerate(lines) if re.match(r"^spec:\s*(#.*)?$", line)), None)
    if spec_at is None:
        raise InputError(where, "spec", "expected a block mapping `spec:` to suspend the CronJob")
    child = next(
        (
            line
            for line in lines[spec_at + 1 :]
            if line.strip() and not line.lstrip().startswith("#")
        ),
        "  x",
    )
    indent = child[: len(child) - len(child.lstrip())] or "  "
    end = next(
        (
            i
            for i in range(spec_at + 1, len(lines))
            if lines[i].strip() and not lines[i].startswith((" ", "\t", "#"))
        ),
        len(lines),
    )
    for i in range(spec_at + 1, end):
        if re.match(rf"^{indent}suspend:", lines[i]):
            lines[i] = re.sub(r"suspend:.*?(\s*#.*)?$", r"suspend: true\1", lines[i].rstrip("\n"))
            lines[i] += "\n"
            break
    else:
        lines.insert(spec_at + 1, f"{indent}suspend: true\n")
    return "".join(lines)


def suspend_text(text: str, documents: set[int], where: str) -> str:
    """The manifest with the given CronJob documents suspended, proven by parsing it again:
    the result must equal the original with only `spec.suspend` set."""
    parts = _documents(text)
    out = []
    for index, part in enumerate(parts):
        if index not in documents:
            out.append(part)
            continue
        changed = _suspend_document(part, where)
        before = roundtrip_yaml.plain(roundtrip_yaml.loads(part, where))
        after = roundtrip_yaml.plain(roundtrip_yaml.loads(changed, where))
        before["spec"]["suspend"] = True  # type: ignore[index]
        if after != before:
            raise InputError(where, "spec.suspend", "could not be set without changing more")
        out.append(changed)
    return "".join(out)


def refuse_live_legacy_promoter(root: Path) -> None:
    """InputError naming the manifest while a legacy promoter CronJob is not suspended."""
    live = [job for job in legacy_jobs(root) if job.is_promoter and not job.suspended]
    if live:
        names = ", ".join(f"{job.path} ({job.name})" for job in live)
        raise InputError(
            live[0].path,
            "spec.suspend",
            f"the legacy promoter CronJob is live in the repository ({names}); two promoters "
            "would race on the queue and overlays: run `factory adopt` or set `suspend: true`",
        )
