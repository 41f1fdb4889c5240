"""`factory partitions sync`: the repo's lanes as `services` x `envs` partitions in DAGSTER_HOME."""

from __future__ import annotations

import argparse

from factory_assets.common import settings
from factory_assets.common.errors import InputError
from factory_assets.config import resolve_repo


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    partitions = sub.add_parser(
        "partitions",
        help="sync the repo's lanes into the Dagster instance's `services` x `envs` partitions",
    )
    p_sub = partitions.add_subparsers(dest="partitions_command", metavar="SUBCOMMAND")
    p_sub.required = True
    sync = p_sub.add_parser(
        "sync",
        parents=[common],
        help="add every lane of the remote head (pins and queue) to the instance in "
        "DAGSTER_HOME as `services` x `envs` partitions, as release_queue_sensor does "
        "(the README's CI recipe, `-a defs_with_lanes`, does it within the materialize)",
    )
    sync.set_defaults(func=_sync)


def _sync(args: argparse.Namespace) -> int:
    repo = resolve_repo(args.repo)
    if not settings.DAGSTER_HOME.get():
        raise InputError("DAGSTER_HOME", "-", "not set: it names the instance to register in")
    # Dagster is imported here only: every other command starts without it.
    from factory_assets.partitions import register_repo_lanes

    registered = register_repo_lanes(repo)
    services, envs = registered.added_services, registered.added_envs
    print(
        f"services: {len({s for s, _ in registered.lanes})} in the repo; added "
        f"{', '.join(services) if services else 'none'}"
    )
    all_envs = sorted({env for _, env in registered.lanes})
    print(f"envs: {', '.join(all_envs) or 'none'}; added {', '.join(envs) if envs else 'none'}")
    return 0
