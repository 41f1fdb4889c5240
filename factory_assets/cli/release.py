"""`factory release add|approve|reject|status`: request a release, decide one awaiting
approval, see every lane's pin and queue state."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from factory_assets.common.clock import utc_now
from factory_assets.common.errors import FactoryError
from factory_assets.config import resolve_repo
from factory_assets.layout.config import DEFAULT_ENV, load_layout

# Each handler imports the rest of what it runs (GitPython only to push or fetch): the parser
# is built on every `factory release` call.


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    release = sub.add_parser(
        "release",
        help="release requests: add one, approve or reject one awaiting approval, show every "
        "lane's status",
    )
    rel_sub = release.add_subparsers(dest="release_command", metavar="SUBCOMMAND")
    rel_sub.required = True

    add = rel_sub.add_parser(
        "add",
        parents=[common],
        help="validate a release request and append it to the queue as pending (--push: "
        "commit and push it)",
        description="Exit 0 when added; 1 on bad input (nothing changed); 2 on a usage error.",
    )
    add.add_argument("service", metavar="SERVICE", help="service name (lowercase DNS label)")
    ref = add.add_mutually_exclusive_group(required=True)
    ref.add_argument("--tag", metavar="T", help="a tag to resolve once and pin by digest")
    ref.add_argument("--digest", metavar="D", help="an exact sha256:<64 hex> digest to pin")
    add.add_argument(
        "--image",
        metavar="HOST/REPO",
        help="image repository on HARBOR_URL's host (default: the one the service's pin names)",
    )
    add.add_argument(
        "--env", default=DEFAULT_ENV, metavar="ENV", help="the environment (default: dev)"
    )
    add.add_argument(
        "--source-tag",
        metavar="T",
        help="four-list layout: the build's tag, a label for a --digest request (source.tag)",
    )
    add.add_argument("--by", metavar="WHO", help="who requests it (default: the current user)")
    add.add_argument(
        "--id", metavar="ID", dest="release_id", help="release id (default: a new ULID)"
    )
    add.add_argument(
        "--push",
        action="store_true",
        help="commit and push the entry (race-safe) with a `requested` evidence record",
    )
    add.set_defaults(func=_add)

    for verb in ("approve", "reject"):
        decide = rel_sub.add_parser(
            verb,
            parents=[common],
            help=f"{verb} a stage request awaiting approval (recorded with who and when)",
            description="Exit 0 when recorded; 1 on bad input (nothing changed); 2 usage.",
        )
        decide.add_argument("release_id", metavar="ID")
        decide.add_argument("--by", required=True, metavar="WHO")
        if verb == "approve":
            decide.add_argument(
                "--digest", metavar="D", help="refuse unless the request is exactly this digest"
            )
        else:
            decide.add_argument("--reason", required=True, metavar="TEXT")
        decide.add_argument("--push", action="store_true", help="commit and push (race-safe)")
        decide.set_defaults(func=_decide, approve=verb == "approve")

    status = rel_sub.add_parser(
        "status",
        parents=[common],
        help="one row per lane (a service in an environment): pinned digest, tag, queue state, "
        "attempts, next retry, smoke verdict, hold",
    )
    status.add_argument("--json", action="store_true", help="print JSON instead of a table")
    status.add_argument(
        "--fetch", action="store_true", help="read the fresh remote head instead of the checkout"
    )
    status.set_defaults(func=_status)


def _add(args: argparse.Namespace) -> int:
    from factory_assets.release.add import add_release

    repo = resolve_repo(args.repo)
    try:
        result = add_release(
            repo,
            service=args.service,
            tag=args.tag if args.tag is not None else args.source_tag,
            digest=args.digest,
            image=args.image,
            requested_by=args.by,
            release_id=args.release_id,
            push=args.push,
            env=args.env,
        )
    except FactoryError as exc:
        if not _is_git_error(exc):
            raise
        print(f"factory: error: release not pushed: {exc}", file=sys.stderr)
        return 1
    entry = result.entry
    print(f"{entry.id}  {entry.service}  {entry.env}  {entry.reference}  pending")
    if args.push:
        print(result.message)
    else:
        print(f"{result.message}: commit and push it, or use --push")
    return 0


def _is_git_error(exc: Exception) -> bool:
    """Whether `exc` is a git failure (GitPython is imported only once one happened)."""
    from resources.gitops import GitError

    return isinstance(exc, GitError)


def _decide(args: argparse.Namespace) -> int:
    from factory_assets.pipeline.approval import decide_release

    done = decide_release(
        resolve_repo(args.repo),
        args.release_id,
        by=args.by,
        approve=args.approve,
        reason=getattr(args, "reason", None),
        digest=getattr(args, "digest", None),
        push=args.push,
    )
    verb = "approved" if args.approve else "rejected"
    print(
        f"{done.entry.id}  {done.entry.service}  {done.entry.env}  {verb} by {args.by}  evidence {done.record_id}"
    )
    print(done.message or "not committed: commit and push it, or use --push")
    return 0


def _state_cell(row: dict) -> str:
    if row.get("window") and row["state"] == "pending":
        return f"{row['window']} ({row['release']})"
    if not row["state"] or row["state"] in ("promoted", "failed", "superseded"):
        if row.get("soak"):  # the stage's next request waits for its upstream pin to soak
            return row["soak"]
    if not row["state"]:
        return "-"
    if row.get("auto_rollback") and row["state"] in ("pending", "promoting"):
        return f"{row['state']}: {row['auto_rollback']} ({row['release']})"
    if row.get("waiting_since"):
        return f"waiting for replication since {row['waiting_since']} ({row['release']})"
    if row.get("awaiting_approval"):
        return f"awaiting approval ({row['release']})"
    return f"{row['state']} ({row['release']})"


def _print_table(rows: list[dict]) -> None:
    header = ("SERVICE", "PINNED", "TAG", "STATE", "ATTEMPTS", "NEXT RETRY", "SMOKE", "HOLD")
    table = [header] + [
        (
            r["service"],
            r["pinned"] or "-",
            r["tag"] or "-",
            _state_cell(r),
            r["attempts"] or "-",
            r["next_retry"] or "-",
            r["smoke"] or "-",
            "hold" if r["hold"] else "-",
        )
        for r in rows
    ]
    widths = [max(len(str(row[i])) for row in table) for i in range(len(header))]
    for row in table:
        print(
            "  ".join(
                str(cell).ljust(width) for cell, width in zip(row, widths, strict=True)
            ).rstrip()
        )


def _status_and_health(tree: Path) -> tuple[list[dict], list[str], dict | None]:
    """The status rows and, for a four-list queue, its queue-health figures (one snapshot)."""
    from factory_assets.layout.queue_health import layout_queue_health
    from factory_assets.pins.lane_view import lane_status_rows

    rows, problems = lane_status_rows(tree)
    _policy_notes(tree, rows)
    return rows, problems, layout_queue_health(tree, utc_now())


def _policy_notes(tree: Path, rows: list[dict]) -> None:
    """Soaks and window waits, where `factory.yaml` declares them (nothing read otherwise)."""
    layout = load_layout(tree)
    envs = layout.environments or {}
    if not any(env.soak or env.windows or env.auto_rollback for env in envs.values()):
        return
    from factory_assets.pipeline.lane_policy import annotate_rows
    from factory_assets.release.queue_file import load_queue

    annotate_rows(tree, layout, load_queue(tree).queue, rows, utc_now())


def _status(args: argparse.Namespace) -> int:
    repo = resolve_repo(args.repo)
    if args.fetch:
        from resources.gitops import GitopsWriter

        rows, problems, health = GitopsWriter(repo).snapshot(_status_and_health)
    else:
        rows, problems, health = _status_and_health(repo)
    if args.json:
        out = {"services": rows, "problems": problems}
        if health is not None:  # the four-list queue: the figures its dashboard shows
            out["queue_health"] = health
        print(json.dumps(out, indent=2))
    else:
        envs = sorted({r["env"] for r in rows})
        if envs in ([], [DEFAULT_ENV]) and not load_layout(repo).declared:
            _print_table(rows)
        else:
            for index, env in enumerate(envs):
                print(("\n" if index else "") + f"what runs in {env}")
                _print_table([r for r in rows if r["env"] == env])
    for problem in problems:
        print(problem, file=sys.stderr)
    return 1 if problems else 0
