"""Entry point of `factory`: builds the parser from each command module and runs it.

Exit codes: 0 success, 1 a check or operation failed (or bad input), 2 usage error.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from factory_assets.common.errors import FactoryError

PACKAGE = "factory"  # the distribution whose metadata `--version` reads

# Command group -> (module exposing register(subparsers, common), its one-line help).
# Only the group named on the command line is imported: the others are listed from this
# table, so `factory --help` (and every check that starts `factory`) imports none of them.
# Each module registers its group with the same line (tests/test_cli_start.py checks).
COMMANDS = {
    "evidence": (
        "factory_assets.cli.evidence",
        "evidence records: schema, validate, collect the index, verify against "
        "the published site, export as in-toto",
    ),
    "release": (
        "factory_assets.cli.release",
        "release requests: add one, approve or reject one awaiting approval, show "
        "every lane's status",
    ),
    "promote": (
        "factory_assets.cli.promote",
        "one promotion pass: verify by digest, pin, commit and push, record "
        "evidence (--dry-run: its plan)",
    ),
    "smoke": (
        "factory_assets.cli.smoke",
        "post-deploy smoke checks of the pins in this runner's environments "
        "(FACTORY_ENVS), recorded as evidence",
    ),
    "repair": (
        "factory_assets.cli.repair",
        "run repair/recipes.yaml's checks, fix what recipes can in one commit or "
        "escalate; normalize-yaml",
    ),
    "site": (
        "factory_assets.cli.site",
        "the evidence dashboard: build it, publish it to gh-pages with a `pages` evidence record",
    ),
    "partitions": (
        "factory_assets.cli.partitions",
        "sync the repo's lanes into the Dagster instance's `services` x `envs` partitions",
    ),
    "rollback": (
        "factory_assets.cli.rollback",
        "request again the last digest that passed smoke in an environment (or the one named)",
    ),
    "adopt": (
        "factory_assets.cli.adopt",
        "adopt an existing deploy repository: one commit on a new branch, never "
        "pushed (or --dry-run)",
    ),
}


class _Version(argparse.Action):
    """`--version`: the installed package's version, read only when asked for."""

    def __init__(self, option_strings: list[str], dest: str, **kwargs) -> None:
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS, **kwargs)

    def __call__(self, parser, namespace, values, option_string=None) -> None:
        from importlib.metadata import PackageNotFoundError, version

        try:
            found = version(PACKAGE)
        except PackageNotFoundError:
            parser.exit(1, f"factory: error: {PACKAGE}: version: the package is not installed\n")
        print(f"factory {found}")
        parser.exit(0)


def requested_group(argv: list[str]) -> str | None:
    """The command group named on the command line, if it is one we know."""
    first = next((arg for arg in argv if not arg.startswith("-")), None)
    return first if first in COMMANDS else None


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The parser with the group `only` registered in full; every other group is listed by
    name and help alone (its module is not imported)."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--repo",
        metavar="PATH",
        default=None,
        help="the GitOps repository (default: $FACTORY_REPO, else the current directory)",
    )
    parser = argparse.ArgumentParser(
        prog="factory",
        description="Release control plane for a GitOps deploy repository.",
    )
    parser.add_argument(
        "--version", action=_Version, help="print the installed version of factory and exit"
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for group, (module, line) in COMMANDS.items():
        if group == only:
            importlib.import_module(module).register(sub, common)
        else:
            sub.add_parser(group, help=line, add_help=False)
    return parser


def one_line(message: str) -> str:
    """An error message on one line: a multi-line one (git's stderr) joined with `; `."""
    return "; ".join(line.strip() for line in message.splitlines() if line.strip())


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    # The top-level options take no value, so the first word that is not an option is the
    # command argparse picks: that group is loaded, the listed ones are never run.
    args = build_parser(requested_group(argv)).parse_args(argv)
    try:
        from factory_assets.common.env_aliases import apply_env_aliases

        apply_env_aliases()  # the deploy repository's own variable names (HARBOR_USER, ...)
        return int(args.func(args) or 0)
    except FactoryError as exc:
        print(f"factory: error: {one_line(str(exc))}", file=sys.stderr)
        return exc.exit_code
    except OSError as exc:  # a path the user gave that cannot be read or written as asked
        where = exc.filename if exc.filename is not None else "-"
        print(f"factory: error: {where}: -: {one_line(exc.strerror or str(exc))}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
