"""Waiting entries whose replica has appeared: what `harbor_sensor` turns into promotion runs.

A request waiting for replication is skipped by the queue sensor (re-running its pass would
find nothing); this looks for each waiting digest on its env's registry, at the repository
the env pulls from, and names the lanes that can be promoted now. Plain Python.
"""

from __future__ import annotations

from collections.abc import Collection
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from factory_assets.common.errors import InputError
from factory_assets.pins.target import PinTarget, PinTargets, verified_image
from factory_assets.release.model import ReleaseEntry
from factory_assets.release.queue_file import load_queue
from resources.registry import ManifestNotFound, RegistryClient, RegistryError
from resources.registry.environments import EnvRegistries, registry_for


@dataclass(frozen=True)
class WaitingEntry:
    entry: ReleaseEntry
    target: PinTarget

    @property
    def service(self) -> str:
        return self.entry.service

    @property
    def env(self) -> str:
        return self.entry.env

    @property
    def release_id(self) -> str:
        return self.entry.id

    @property
    def digest(self) -> str:
        return self.entry.digest or ""


def waiting_entries(tree: Path, envs: Collection[str] | None = None) -> list[WaitingEntry]:
    """Pending entries waiting for replication, in the environments this runner promotes."""
    try:
        queue = load_queue(tree).queue
    except InputError:
        return []  # the queue sensor and the pass report a broken queue
    pins = PinTargets.for_tree(tree)
    found = []
    for entry in queue.entries:
        if entry.state != "pending" or entry.waiting_since is None or entry.digest is None:
            continue
        if envs is not None and entry.env not in envs:
            continue
        try:
            target = pins.usable(entry.service, entry.env)
        except InputError:
            target = None
        if target is None:
            continue  # the pass refuses it, with a record
        found.append(WaitingEntry(entry, target))
    return found


def replicated(
    registry: RegistryClient | EnvRegistries,
    waiting: list[WaitingEntry],
    *,
    concurrency: int = 8,
) -> tuple[list[WaitingEntry], list[str]]:
    """The waiting entries whose digest the env's registry now has, and what went wrong."""

    def look(item: WaitingEntry) -> tuple[WaitingEntry, bool, str | None]:
        try:
            client = registry_for(registry, item.env)
            image = verified_image(item.entry, item.target, client.registry_host)
            client.resolve(image, digest=item.digest)
            return item, True, None
        except ManifestNotFound:
            return item, False, None
        except RegistryError as exc:
            return item, False, f"{item.service}@{item.env}: {item.digest}: {exc}"

    present, errors = [], []
    if not waiting:
        return present, errors
    with ThreadPoolExecutor(max_workers=max(1, concurrency)) as pool:
        for item, ok, error in pool.map(look, waiting):
            if ok:
                present.append(item)
            if error:
                errors.append(error)
    return present, errors
