"""`factory site build|publish`: the evidence dashboard on gh-pages."""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from factory_assets.config import resolve_repo

# The builder and the publisher (GitPython) are imported by the handlers; these are
# factory_assets.site.publish's DEFAULT_BRANCH and EVIDENCE_BRANCH (tests/test_cli_start.py).
DEFAULT_BRANCH = "gh-pages"
EVIDENCE_BRANCH = "main"


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    site = sub.add_parser(
        "site",
        help=(
            "the evidence dashboard: build it, publish it to gh-pages with a `pages` evidence "
            "record"
        ),
    )
    site_sub = site.add_subparsers(dest="site_command", metavar="SUBCOMMAND")
    site_sub.required = True

    build = site_sub.add_parser(
        "build", parents=[common], help="build the static dashboard into a directory"
    )
    build.add_argument(
        "--out", metavar="DIR", required=True, help="output directory (replaced as a whole)"
    )
    build.set_defaults(func=_build)

    publish = site_sub.add_parser(
        "publish",
        parents=[common],
        help="build and commit the dashboard to the root of the gh-pages branch",
    )
    publish.add_argument(
        "--remote", metavar="URL", default=None, help="git remote URL (default: the repo's origin)"
    )
    publish.add_argument(
        "--branch", default=DEFAULT_BRANCH, help=f"branch to publish to (default: {DEFAULT_BRANCH})"
    )
    publish.add_argument(
        "--build-dir",
        metavar="DIR",
        default=None,
        help="publish this existing build instead of building",
    )
    publish.add_argument(
        "--evidence-branch",
        default=EVIDENCE_BRANCH,
        help=f"branch whose evidence chain gets the `pages` record (default: {EVIDENCE_BRANCH})",
    )
    publish.add_argument(
        "--no-record", action="store_true", help="do not write a `pages` evidence record"
    )
    publish.set_defaults(func=_publish)


def _build(args: argparse.Namespace) -> int:
    from factory_assets.site.build import build_site

    result = build_site(resolve_repo(args.repo), Path(args.out))
    print(
        f"{result.out_dir}: {result.tree_size} record(s) in {result.blocks} block(s), merkle root {result.root}, "
        f"{result.files} files, {result.bytes} bytes"
    )
    return 0


def _publish(args: argparse.Namespace) -> int:
    from factory_assets.site.build import build_site
    from factory_assets.site.publish import publish_site

    repo = resolve_repo(args.repo)
    with tempfile.TemporaryDirectory(prefix="factory-site-") as tmp:
        build_dir = (
            Path(args.build_dir) if args.build_dir else build_site(repo, Path(tmp) / "site").out_dir
        )
        result = publish_site(
            repo,
            build_dir,
            remote=args.remote,
            branch=args.branch,
            evidence_branch=None if args.no_record else args.evidence_branch,
        )
    state = "pushed" if result.pushed else "unchanged, nothing pushed"
    print(
        f"{result.branch}: {result.site_commit} ({state}; {result.tree_size} records, root {result.merkle_root}; "
        f"attempt {result.attempts})"
    )
    if result.record_id:
        print(f"evidence: pages record {result.record_id} on {args.evidence_branch}")
    if result.record_error:
        print(
            f"factory: error: the site was published but not recorded: {result.record_error}",
            file=sys.stderr,
        )
        return 1
    return 0
