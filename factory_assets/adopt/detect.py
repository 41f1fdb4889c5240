"""What an existing deploy repository has: the queue, the service maps, envs, hand pins.

Reads a snapshot of the commit being adopted (never the working tree), so the plan
describes exactly what the commit will change.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from factory_assets.adopt.legacy_runtime import legacy_jobs
from factory_assets.common import roundtrip_yaml
from factory_assets.common.errors import FactoryError, InputError
from factory_assets.layout.config import DEFAULT_QUEUE, LAYOUT_FILE, check_env
from factory_assets.layout.four_lists import LISTS
from factory_assets.layout.service_map import ServiceMap, parse_service_map
from factory_assets.pins.kustomize import images_of

DEFAULT_MAP = "release/services.yaml"
MAP_GLOB = "services*.yaml"


class AlreadyAdopted(FactoryError):
    """Nothing to do: the repository already runs with factory (exit 0)."""

    exit_code = 0


class NotRecognised(FactoryError):
    """The repository is not in a layout adopt knows (exit 1)."""


@dataclass(frozen=True)
class HandPin:
    """An overlay entry pinned by tag (by hand): the factory would overwrite it without a hold."""

    service: str
    env: str
    overlay: str
    tag: str


@dataclass(frozen=True)
class Stage:
    """An environment fed by another, as the legacy smoke runner fed prod from dev."""

    env: str
    after: str
    retag: str | None  # the tag prefix put on the upstream registry for replication
    source: str  # the manifest the settings came from


@dataclass
class Findings:
    queue_path: str
    maps: list[ServiceMap]
    envs: list[str]
    hand_pins: list[HandPin] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    stages: list[Stage] = field(default_factory=list)

    @property
    def default_map(self) -> ServiceMap:
        return self.maps[0]

    @property
    def profiles(self) -> list[str]:
        return [m.path for m in self.maps[1:]]


LOOKED_FOR = (
    f"{DEFAULT_QUEUE} with the four lists {', '.join(LISTS)} and a service map "
    f"release/{MAP_GLOB} (services.<service>.envs.<env>)"
)


def _check_not_adopted(root: Path) -> None:
    if (root / LAYOUT_FILE).is_file():
        raise AlreadyAdopted(f"{LAYOUT_FILE} exists: this repository already runs with factory")


def _queue(root: Path) -> str:
    path = root / DEFAULT_QUEUE
    if not path.is_file():
        raise NotRecognised(f"{DEFAULT_QUEUE}: -: not found; looked for {LOOKED_FOR}")
    data = roundtrip_yaml.load_file(path)
    if isinstance(data, dict) and isinstance(data.get("releases"), list):
        raise AlreadyAdopted(
            f"{DEFAULT_QUEUE} has a `releases:` list: this is the factory's own layout already"
        )
    if not isinstance(data, dict):
        raise NotRecognised(f"{DEFAULT_QUEUE}: -: not a mapping; looked for {LOOKED_FOR}")
    for name in LISTS:
        if not isinstance(data.get(name), list):
            found = "missing" if name not in data else roundtrip_yaml.kind_of(data[name])
            raise NotRecognised(
                f"{DEFAULT_QUEUE}: {name}: expected a list, found {found}; looked for {LOOKED_FOR}"
            )
    return DEFAULT_QUEUE


def _maps(root: Path) -> list[ServiceMap]:
    paths = sorted((root / "release").glob(MAP_GLOB)) if (root / "release").is_dir() else []
    relative = [f"release/{p.name}" for p in paths if p.is_file()]
    if not relative:
        raise NotRecognised(f"release/{MAP_GLOB}: -: no service map found; looked for {LOOKED_FOR}")
    # The promoter's default map first: factory.yaml names it, the rest are profiles.
    relative.sort(key=lambda p: (p != DEFAULT_MAP, p))
    return [parse_service_map(roundtrip_yaml.load_file(root / p), p) for p in relative]


def _envs(maps: list[ServiceMap]) -> list[str]:
    envs: list[str] = []
    for service_map in maps:
        for (_, env), target in service_map.targets.items():
            try:
                check_env(env)
            except ValueError as exc:
                raise InputError(service_map.path, target.where, str(exc)) from None
            if env not in envs:
                envs.append(env)
    return envs


def _image_entries(root: Path, overlay: str) -> list[dict] | None:
    path = root / overlay
    if not path.is_file():
        return None
    images = images_of(roundtrip_yaml.load_file(path), Path(overlay))
    return [item for item in images if isinstance(item, dict)]


def _hand_pins(root: Path, maps: list[ServiceMap], notes: list[str]) -> list[HandPin]:
    """Targets whose overlay entry is pinned by tag: held, so adoption overwrites no hand pin."""
    found: dict[tuple[str, str], HandPin] = {}
    missing: set[str] = set()
    for service_map in maps:
        for (service, env), target in sorted(service_map.targets.items()):
            overlay, name = target.get("overlayPath"), target.get("kustomizeImageName")
            if not overlay or not name or (service, env) in found:
                continue
            entries = _image_entries(root, overlay)
            if entries is None:
                if overlay not in missing:
                    missing.add(overlay)
                    notes.append(
                        f"{service_map.path}: {target.where}.overlayPath: {overlay} does not "
                        "exist; requests for it will fail until it does"
                    )
                continue
            entry = next((e for e in entries if e.get("name") == name), None)
            if entry is not None and entry.get("newTag") and not entry.get("digest"):
                found[(service, env)] = HandPin(service, env, overlay, str(entry["newTag"]))
    return list(found.values())


_ON = ("1", "true", "yes")


def _stages(root: Path, envs: list[str], notes: list[str]) -> list[Stage]:
    """The smoke runner's prod handoff as a pipeline stage: `after` the env it smoke-checks."""
    for job in legacy_jobs(root):
        if job.is_promoter or job.suspended:
            continue
        if (job.setting("AUTO_ENQUEUE_PROD") or "").strip().lower() not in _ON:
            continue
        target = (job.setting("PROD_ENV") or "prod").strip()
        upstream = [env for env in envs if env != target]
        if target not in envs or not upstream:
            notes.append(
                f"{job.path}: {job.name} hands off to {target!r}, which the map does not pair "
                "with another environment; no stage declared"
            )
            return []
        after = "dev" if "dev" in upstream else upstream[0]
        retag = None
        if (job.setting("AUTO_TAG_LOCAL_HARBOR") or "").strip().lower() in _ON:
            retag = (job.setting("LOCAL_HARBOR_PROD_TAG_PREFIX") or "prod-").strip()
        return [Stage(target, after, retag, job.path)]
    return []


def detect(root: Path) -> Findings:
    """The layout of the snapshot at `root`; AlreadyAdopted or NotRecognised when not adoptable."""
    _check_not_adopted(root)
    queue = _queue(root)
    maps = _maps(root)
    envs = _envs(maps)
    if not envs:
        raise NotRecognised(
            f"{maps[0].path}: services: names no environment; looked for {LOOKED_FOR}"
        )
    notes: list[str] = []
    pins = _hand_pins(root, maps, notes)
    return Findings(queue, maps, envs, pins, notes, _stages(root, envs, notes))
