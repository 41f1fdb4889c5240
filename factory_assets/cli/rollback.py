"""`factory rollback SERVICE --env ENV [--to RELEASE_ID|DIGEST]`: request the last good digest.

Queues a request for the last digest that passed smoke in ENV before the current pin (or the
one named), verified again by the next pass like any request, recorded as a `rollback`.
Exit 0 when queued; 1 on bad input or nothing to roll back to (nothing changed); 2 usage.
"""

from __future__ import annotations

import argparse
import getpass

from factory_assets.common.errors import InputError
from factory_assets.config import resolve_repo


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    rollback = sub.add_parser(
        "rollback",
        parents=[common],
        help="request again the last digest that passed smoke in an environment (or the one named)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    rollback.add_argument("service", metavar="SERVICE")
    rollback.add_argument("--env", required=True, metavar="ENV")
    rollback.add_argument("--to", metavar="RELEASE_ID|DIGEST", help="the release to go back to")
    rollback.add_argument("--by", metavar="WHO", help="who asks (default: the current user)")
    rollback.add_argument("--reason", metavar="TEXT", help="why (kept in the record)")
    rollback.add_argument(
        "--force", action="store_true", help="skip the stage's approval gate (recorded)"
    )
    rollback.add_argument("--push", action="store_true", help="commit and push it (race-safe)")
    rollback.set_defaults(func=_rollback)


def _rollback(args: argparse.Namespace) -> int:
    from factory_assets.layout.config import check_env
    from factory_assets.pins.pin_file import check_service_name
    from factory_assets.pipeline.rollback import request_rollback

    check_service_name(args.service)
    try:
        check_env(args.env)
    except ValueError as exc:
        raise InputError("arguments", "--env", str(exc)) from None
    done = request_rollback(
        resolve_repo(args.repo),
        args.service,
        args.env,
        to=args.to,
        by=args.by or getpass.getuser(),
        reason=args.reason,
        force=args.force,
        push=args.push,
    )
    entry = done.entry
    gate = "  awaiting approval" if entry.awaiting_approval else ""
    print(
        f"{entry.id}  {entry.service}  {entry.env}  {entry.digest}  rollback to {done.target.id}{gate}"
    )
    print(done.message or "not committed: commit and push it, or use --push")
    return 0
