"""`factory repair [--max-attempts N] [--dry-run] [--base REF]` and `factory repair normalize-yaml`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from factory_assets.common import settings
from factory_assets.config import resolve_repo

# The repair loop, GitPython and httpx are imported by the handlers, not here: every `factory`
# invocation (each check that repair runs, too) builds this parser.
LABEL = "factory-repair"

if TYPE_CHECKING:
    from factory_assets.repair.loop import RepairOptions, RepairOutcome


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    repair = sub.add_parser(
        "repair",
        parents=[common],
        help=(
            "run repair/recipes.yaml's checks, fix what recipes can in one commit "
            "or escalate; normalize-yaml"
        ),
        description="Exit 0: every check passes (after a fix commit if one was needed). "
        "1: a check still fails (escalated) or a loop guard refused. 2: usage error.",
    )
    repair.add_argument(
        "--max-attempts",
        type=_positive,
        default=None,
        metavar="N",
        help="repair attempts before escalating (default: $FACTORY_REPAIR_MAX_ATTEMPTS or 3)",
    )
    repair.add_argument(
        "--dry-run",
        action="store_true",
        help="report what would change and what would be escalated; write nothing",
    )
    repair.add_argument(
        "--base",
        metavar="REF",
        default=None,
        help="check only files changed since the merge base with REF (where a check allows it)",
    )
    repair.add_argument(
        "--recipes",
        metavar="PATH",
        type=Path,
        default=None,
        help="recipes file (default: repair/recipes.yaml in the repository)",
    )
    repair.add_argument(
        "--patch-out",
        metavar="PATH",
        type=Path,
        default=None,
        help="also write the guarded patch here (for fork PRs: a suggestion, never a push)",
    )
    repair.add_argument(
        "--no-escalate",
        action="store_true",
        help="record failures as evidence but open or update no GitHub issue",
    )
    repair.add_argument(
        "--close-after",
        type=_positive,
        default=None,
        metavar="K",
        help="close an escalation issue after K consecutive green runs (default: $FACTORY_REPAIR_CLOSE_AFTER or 3)",
    )
    repair.add_argument(
        "--label",
        action="append",
        default=[],
        metavar="NAME",
        help=f"extra label for new issues (they always get {LABEL!r}); repeatable",
    )
    repair.set_defaults(func=_repair)

    repair_sub = repair.add_subparsers(dest="repair_command", metavar="SUBCOMMAND")
    norm = repair_sub.add_parser(
        "normalize-yaml",
        help="round-trip normalise GitOps YAML (default: envs/ and release/); --check only reports",
    )
    norm.add_argument(
        "--repo",
        metavar="PATH",
        default=argparse.SUPPRESS,  # keeps a --repo given before the subcommand
        help="the GitOps repository (default: $FACTORY_REPO, else the current directory)",
    )
    norm.add_argument(
        "--check", action="store_true", help="exit 1 when a file would change; write nothing"
    )
    norm.add_argument("paths", nargs="*", metavar="FILE", help="files relative to the repository")
    norm.set_defaults(func=_normalize_yaml)


def _repair(args: argparse.Namespace) -> int:
    from factory_assets.repair.loop import RepairOptions, run_repair
    from resources.github import client_from_env

    repo = resolve_repo(args.repo)
    options = RepairOptions(
        max_attempts=args.max_attempts or settings.FACTORY_REPAIR_MAX_ATTEMPTS.get(),
        dry_run=args.dry_run,
        base=args.base,
        recipes_path=args.recipes,
        patch_out=args.patch_out,
        escalate=not args.no_escalate,
        close_after=args.close_after or settings.FACTORY_REPAIR_CLOSE_AFTER.get(),
        labels=tuple(args.label),
        identity_name=settings.FACTORY_REPAIR_NAME.get(),
        identity_email=settings.FACTORY_REPAIR_EMAIL.get(),
    )
    client = None if (args.dry_run or args.no_escalate) else client_from_env()
    try:
        outcome = run_repair(repo, options, client=client, say=print)
    finally:
        if client:
            client.close()
    _report(outcome, options)
    return outcome.exit_code


def _report(outcome: RepairOutcome, options: RepairOptions) -> None:
    """Summary after the live progress: notes, the patch, what would be escalated, the verdict."""
    for note in outcome.notes:
        print(f"note: {note}")
    if outcome.patch and not outcome.patch.empty:
        print(
            f"patch: {len(outcome.patch.paths)} file(s), {outcome.patch.lines} line(s), {outcome.patch.digest}"
        )
        for path in outcome.patch.paths:
            print(f"  {path}")
        if options.dry_run:
            sys.stdout.write(outcome.patch.text.decode("utf-8", errors="replace"))
    for name in outcome.would_escalate:
        print(f"would escalate: {name}")
    if outcome.record_ids:
        print(f"evidence: {len(outcome.record_ids)} attempt record(s)")
    verdict = {
        "clean": "all checks pass",
        "repaired": f"repaired in {outcome.commit}",
        "would-repair": "dry run: the patch above would make every check pass",
        "failed": "checks still fail",
        "refused": f"refused ({outcome.refusal})",
    }[outcome.status]
    print(f"factory repair: {verdict}", file=sys.stdout if outcome.exit_code == 0 else sys.stderr)


def _normalize_yaml(args: argparse.Namespace) -> int:
    from factory_assets.repair.yamlnorm import normalize_files

    repo = resolve_repo(args.repo)
    result = normalize_files(repo, args.paths or None, check=args.check)
    verb = "would normalize" if args.check else "normalized"
    for path in result.changed:
        print(f"{verb}: {path}")
    if args.check and result.changed:
        print(
            f"{len(result.changed)} of {result.checked} file(s) not in normal form; run `factory repair normalize-yaml`",
            file=sys.stderr,
        )
        return 1
    print(
        f"{result.checked} file(s) checked, {len(result.changed)} {'to change' if args.check else 'changed'}"
    )
    return 0
