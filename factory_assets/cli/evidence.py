"""`factory evidence schema|validate|collect|verify|export`."""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from factory_assets.config import resolve_repo

# Each handler imports what it runs: the parser is built on every `factory evidence` call.


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    evidence = sub.add_parser(
        "evidence",
        help="evidence records: schema, validate, collect the index, verify against the "
        "published site, export as in-toto",
    )
    ev_sub = evidence.add_subparsers(dest="evidence_command", metavar="SUBCOMMAND")
    ev_sub.required = True

    schema = ev_sub.add_parser(
        "schema", parents=[common], help="write (or --check) the record JSON Schema"
    )
    schema.add_argument(
        "--check",
        action="store_true",
        help="exit 1 when the committed schema differs from the model",
    )
    schema.set_defaults(func=_schema)

    validate = ev_sub.add_parser(
        "validate",
        parents=[common],
        help="check schema, content digests, the chain and parents of every record",
    )
    validate.set_defaults(func=_validate)

    collect = ev_sub.add_parser(
        "collect", parents=[common], help="build evidence/index.json (incremental, deterministic)"
    )
    collect.add_argument(
        "--out", metavar="PATH", default=None, help="index path (default: evidence/index.json)"
    )
    collect.add_argument(
        "--full",
        action="store_true",
        help="ignore the previous index and rebuild from every record",
    )
    collect.add_argument(
        "--check",
        action="store_true",
        help="exit 1 when the committed index differs from a fresh collect; write nothing",
    )
    collect.set_defaults(func=_collect)

    verify = ev_sub.add_parser(
        "verify",
        parents=[common],
        help="prove the records extend every checkpoint published to the pages branch",
    )
    verify.add_argument(
        "--against",
        metavar="REF",
        default=None,
        help="a commit or branch of the repository holding the published site "
        "(default: the pages branch of the remote)",
    )
    verify.add_argument(
        "--branch",
        default=None,
        help="the pages branch on the remote, when --against is not given (default: gh-pages)",
    )
    verify.add_argument(
        "--remote", metavar="URL", default=None, help="git remote URL (default: the repo's origin)"
    )
    verify.set_defaults(func=_verify)

    export = ev_sub.add_parser(
        "export",
        parents=[common],
        help="write a promotion or smoke record as an in-toto Statement about the pinned image",
    )
    export.add_argument("id", metavar="ID", help="the record id")
    export.add_argument(
        "--format",
        choices=("in-toto", "predicate"),
        default="in-toto",
        help="in-toto: a Statement v1 (default); predicate: its predicate alone, "
        "for `cosign attest --type custom --predicate`",
    )
    export.add_argument(
        "--out", metavar="PATH", default=None, help="write here (atomically) instead of stdout"
    )
    export.set_defaults(func=_export)


def _schema(args: argparse.Namespace) -> int:
    from factory_assets.evidence.schema_file import check_schema_file, write_schema_file

    repo = resolve_repo(args.repo)
    if args.check:
        problem = check_schema_file(repo)
        if problem:
            print(problem, file=sys.stderr)
            return 1
        print("evidence schema is up to date")
        return 0
    path = write_schema_file(repo)
    print(f"wrote {path}")
    return 0


def _validate(args: argparse.Namespace) -> int:
    from factory_assets.evidence.validate import validate_repo

    repo = resolve_repo(args.repo)
    count, problems = validate_repo(repo)
    for problem in problems:
        print(problem, file=sys.stderr)
    if problems:
        print(f"{len(problems)} problem(s) in {count} record(s)", file=sys.stderr)
        return 1
    print(f"{count} record(s) valid")
    return 0


def _collect(args: argparse.Namespace) -> int:
    from factory_assets.evidence.collect import collect_index

    repo = resolve_repo(args.repo)
    if args.check:
        return _collect_check(repo, args.out)
    result = collect_index(repo, out=args.out, full=args.full)
    print(
        f"{result.path}: {result.record_count} record(s), merkle root {result.root} "
        f"(size {result.tree_size}; {result.new_records} new, {'incremental' if result.incremental else 'full'})"
    )
    return 0


def _index_files(index: Path) -> dict[str, bytes]:
    """index.json plus its shard directory, keyed by path relative to the index's folder."""
    files = {index.name: index.read_bytes()} if index.is_file() else {}
    shard_dir = index.parent / index.stem
    if shard_dir.is_dir():
        for path in sorted(shard_dir.iterdir()):
            if path.is_file() and not path.name.startswith("."):
                files[f"{index.stem}/{path.name}"] = path.read_bytes()
    return files


def _collect_check(repo: Path, out: str | None) -> int:
    """Collect into a temp dir and compare bytes: the same records always give the same files."""
    from factory_assets.evidence.collect import collect_index
    from factory_assets.evidence.layout import INDEX_FILE

    index = Path(out) if out else repo / INDEX_FILE
    if not index.exists():  # a repository that does not keep an index has none to go stale
        print(f"{index}: not present; nothing to check")
        return 0
    with tempfile.TemporaryDirectory(prefix="factory-collect-") as tmp:
        fresh = Path(tmp) / index.name
        collect_index(repo, out=fresh, full=True)
        expected, actual = _index_files(fresh), _index_files(index)
    stale = sorted(
        name for name in expected.keys() | actual.keys() if expected.get(name) != actual.get(name)
    )
    if stale:
        print(
            f"{index}: -: stale ({', '.join(stale[:10])} differ); run `factory evidence collect` to rebuild it",
            file=sys.stderr,
        )
        return 1
    print(f"{index} is up to date")
    return 0


def _verify(args: argparse.Namespace) -> int:
    from factory_assets.evidence.verify import current_tree, verify_tree
    from factory_assets.site.pages_ref import PAGES_BRANCH, read_local, read_remote

    repo = resolve_repo(args.repo)
    tree = current_tree(repo)
    if args.against:
        pages = read_local(repo, args.against)
        result = verify_tree(tree, pages.history, pages.digests)
    else:
        with read_remote(repo, args.branch or PAGES_BRANCH, args.remote) as pages:
            result = verify_tree(tree, pages.history, pages.digests)
    if result.failure:
        print(f"{pages.where}: {result.failure}", file=sys.stderr)
        print(
            f"the {result.tree_size} record(s) (root {result.root}) are not an append-only "
            "extension of what was published",
            file=sys.stderr,
        )
        return 1
    print(
        f"consistent with {result.checkpoints} published checkpoint(s) on {pages.where}: "
        f"{result.tree_size} record(s), merkle root {result.root}"
    )
    return 0


def _export(args: argparse.Namespace) -> int:
    from factory_assets.common.files import atomic_write_bytes
    from factory_assets.evidence.intoto import export_bytes

    data = export_bytes(resolve_repo(args.repo), args.id, args.format)
    if args.out:
        atomic_write_bytes(Path(args.out), data)
        print(f"wrote {args.out}")
    else:
        sys.stdout.buffer.write(data)
    return 0
