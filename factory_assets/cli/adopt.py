"""`factory adopt`: bring an existing deploy repository under the factory, on a new branch."""

from __future__ import annotations

import argparse
from pathlib import Path

from factory_assets.adopt.apply import (
    DEFAULT_BRANCH,
    adopt,
    check_branch_free,
    check_branch_name,
    plan_adoption,
)
from factory_assets.adopt.detect import AlreadyAdopted
from factory_assets.adopt.image import FACTORY_IMAGE, check_image
from factory_assets.adopt.runners import RUNTIMES
from factory_assets.common.errors import UsageError
from factory_assets.common.files import atomic_write_text
from factory_assets.config import resolve_repo


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    parser = sub.add_parser(
        "adopt",
        parents=[common],
        help="adopt an existing deploy repository: one commit on a new branch, never pushed "
        "(or --dry-run)",
    )
    parser.add_argument("--dry-run", action="store_true", help="print the plan and change nothing")
    parser.add_argument(
        "--branch",
        default=DEFAULT_BRANCH,
        help=f"the new local branch that gets the commit (default: {DEFAULT_BRANCH})",
    )
    parser.add_argument(
        "--plan-out", metavar="FILE", default=None, help="also write the plan as Markdown"
    )
    parser.add_argument(
        "--factory-image",
        metavar="IMAGE",
        default=None,
        help=f"the factory image the added runners and workflows run (default: {FACTORY_IMAGE})",
    )
    parser.add_argument(
        "--runtime",
        choices=RUNTIMES,
        default="dagster",
        help="what runs the factory on each cluster: the factory's Dagster (a daemon with its "
        "sensors and the UI, one pod per cluster; the default) or CronJobs (`factory promote` "
        "every 5 minutes, `factory smoke` every 15)",
    )
    parser.set_defaults(func=_adopt)


def _adopt(args: argparse.Namespace) -> int:
    repo = resolve_repo(args.repo)
    if not args.branch.strip():
        raise UsageError("--branch: expected a branch name, got an empty string")
    image = check_image(args.factory_image) if args.factory_image is not None else None
    plan_out = Path(args.plan_out) if args.plan_out else None
    if plan_out is not None and plan_out.is_dir():
        raise UsageError(f"--plan-out: {plan_out} is a directory, expected a file")
    try:
        check_branch_name(repo, args.branch)
        if args.dry_run:
            adoption, commit = plan_adoption(repo, args.branch, image, args.runtime), None
            check_branch_free(repo, args.branch)  # the real run would refuse it
        else:
            adoption, commit = adopt(repo, args.branch, image, args.runtime)
    except AlreadyAdopted as exc:
        print(f"already adopted: {exc}")
        return 0
    if plan_out is not None:
        atomic_write_text(plan_out, adoption.plan.as_markdown())
    print(adoption.plan.as_markdown(), end="")
    if commit is None:
        print(f"\ndry run: nothing changed; `factory adopt` would commit this on {args.branch}")
    else:
        print(
            f"\ncommitted {commit[:12]} on the new branch {args.branch} (not pushed; "
            "your checkout is unchanged): review it, then merge it in a pull request"
        )
    return 0
