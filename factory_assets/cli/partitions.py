"""`factory partitions sync`: the repo's services as `services` partitions in DAGSTER_HOME."""

from __future__ import annotations

import argparse
import os

from factory_assets.common.errors import InputError
from factory_assets.config import resolve_repo


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    partitions = sub.add_parser(
        "partitions", help="the Dagster instance's `services` partitions, from the repo"
    )
    p_sub = partitions.add_subparsers(dest="partitions_command", metavar="SUBCOMMAND")
    p_sub.required = True
    sync = p_sub.add_parser(
        "sync",
        parents=[common],
        help="add every service of the remote head (pins and queue) to the instance in "
        "DAGSTER_HOME, as release_queue_sensor does; run it before `dagster asset materialize "
        "--partition` on a fresh instance",
    )
    sync.set_defaults(func=_sync)


def _sync(args: argparse.Namespace) -> int:
    repo = resolve_repo(args.repo)
    if not os.environ.get("DAGSTER_HOME"):
        raise InputError("DAGSTER_HOME", "-", "not set: it names the instance to register in")
    # Dagster is imported here only: every other command starts without it.
    import dagster as dg

    from factory_assets.partitions import sync_service_partitions
    from factory_assets.promotion.watch import queue_snapshot

    services = queue_snapshot(repo).services
    with dg.DagsterInstance.get() as instance:
        added = sync_service_partitions(instance, services)
    print(f"services: {len(services)} in the repo; added {', '.join(added) if added else 'none'}")
    return 0
