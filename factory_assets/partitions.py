"""The one partitioning of per-service assets: a dynamic partition per service.

The services come from git (pin files and the release queue); the Dagster instance only
mirrors them. `release_queue_sensor` adds new ones on every tick; `factory partitions sync`
does the same once, for a fresh or wiped DAGSTER_HOME driven by `dagster asset materialize`.
"""

from collections.abc import Iterable

import dagster as dg

services_partitions = dg.DynamicPartitionsDefinition(name="services")


def unregistered_services(instance: dg.DagsterInstance, services: Iterable[str]) -> list[str]:
    """The services the instance does not have as `services` partitions yet, in order."""
    known = set(instance.get_dynamic_partitions(services_partitions.name))
    return [s for s in services if s not in known]


def sync_service_partitions(instance: dg.DagsterInstance, services: Iterable[str]) -> list[str]:
    """Add the missing services as partitions; returns those added."""
    new = unregistered_services(instance, services)
    if new:
        instance.add_dynamic_partitions(services_partitions.name, new)
    return new
