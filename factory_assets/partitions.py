"""The one partitioning of per-lane assets: service x environment, two dynamic dimensions.

A lane is a (service, env) pair: supersede, claims, retry and hold are per lane, and so are
the `digest_preview`, `lane_pin` and `smoke_result` partitions. Both dimensions show in the UI
and can be filtered on. Keys read `<env>|<service>` (Dagster orders dimensions by name).

The lanes come from git (pin files and the release queue); the Dagster instance only
mirrors them. `release_queue_sensor` adds new ones on every tick; for a fresh or wiped
DAGSTER_HOME driven by `dagster asset materialize`, `register_repo_lanes` does the same once:
`-a defs_with_lanes` runs it as the definitions load (`factory partitions sync` runs it alone).
"""

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import dagster as dg

from factory_assets.common import settings
from factory_assets.common.errors import InputError

services_partitions = dg.DynamicPartitionsDefinition(name="services")
envs_partitions = dg.DynamicPartitionsDefinition(name="envs")
lanes_partitions = dg.MultiPartitionsDefinition(
    {"service": services_partitions, "env": envs_partitions}
)

Lane = tuple[str, str]


def lane_key(service: str, env: str) -> dg.MultiPartitionKey:
    """The partition key of a lane (its string form is `<env>|<service>`)."""
    return dg.MultiPartitionKey({"service": service, "env": env})


def lane_of(partition_key: str | dg.MultiPartitionKey) -> Lane:
    """(service, env) of a partition key, as the context or a run tag gives it."""
    if isinstance(partition_key, dg.MultiPartitionKey):
        keys = partition_key.keys_by_dimension
        return keys["service"], keys["env"]
    env, sep, service = str(partition_key).partition("|")
    if not sep:
        raise ValueError(f"{partition_key!r} is not a lane key (`<env>|<service>`)")
    return service, env


def unregistered_lanes(
    instance: dg.DagsterInstance, lanes: Iterable[Lane]
) -> tuple[list[str], list[str]]:
    """The services and envs the instance does not have as partitions yet, in order."""
    known_services = set(instance.get_dynamic_partitions(services_partitions.name))
    known_envs = set(instance.get_dynamic_partitions(envs_partitions.name))
    services: list[str] = []
    envs: list[str] = []
    for service, env in lanes:
        if service not in known_services and service not in services:
            services.append(service)
        if env not in known_envs and env not in envs:
            envs.append(env)
    return services, envs


def add_requests(services: list[str], envs: list[str]) -> list:
    """The sensor's `dynamic_partitions_requests` for what is new."""
    requests = []
    if services:
        requests.append(services_partitions.build_add_request(services))
    if envs:
        requests.append(envs_partitions.build_add_request(envs))
    return requests


def sync_lane_partitions(
    instance: dg.DagsterInstance, lanes: Iterable[Lane]
) -> tuple[list[str], list[str]]:
    """Add the missing services and envs as partitions; returns those added."""
    services, envs = unregistered_lanes(instance, list(lanes))
    if services:
        instance.add_dynamic_partitions(services_partitions.name, services)
    if envs:
        instance.add_dynamic_partitions(envs_partitions.name, envs)
    return services, envs


@dataclass(frozen=True)
class RegisteredLanes:
    """The repo's lanes at the remote head, and the services and envs that were new."""

    lanes: tuple[Lane, ...]
    added_services: list[str]
    added_envs: list[str]


def register_repo_lanes(repo: Path) -> RegisteredLanes:
    """Add the lanes at `repo`'s remote head to the instance in DAGSTER_HOME, as the sensor does.

    `dagster asset materialize --partition` checks the key against the instance before the run
    starts, and no Dagster command adds a dynamic partition: this is what a fresh instance needs.
    """
    if not settings.DAGSTER_HOME.get():
        raise InputError("DAGSTER_HOME", "-", "not set: it names the instance to register in")
    # Imported here: the definitions load this module, and only this call needs the planner.
    from factory_assets.promotion.watch import queue_snapshot

    snapshot = queue_snapshot(repo)
    with dg.DagsterInstance.get() as instance:
        services, envs = sync_lane_partitions(instance, snapshot.lanes)
    return RegisteredLanes(snapshot.lanes, services, envs)
