"""The one partitioning of per-service assets: a dynamic partition per service."""

import dagster as dg

services_partitions = dg.DynamicPartitionsDefinition(name="services")
