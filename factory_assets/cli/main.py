"""Entry point of `factory`: builds the parser from each command module and runs it.

Exit codes: 0 success, 1 a check or operation failed (or bad input), 2 usage error.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from factory_assets.common.env_aliases import apply_env_aliases
from factory_assets.common.errors import FactoryError

# Command group -> module exposing register(subparsers, common), which sets `func` on its parsers.
# Only the group named on the command line is imported: start-up stays small for every check.
COMMAND_MODULES = {
    "evidence": "factory_assets.cli.evidence",
    "release": "factory_assets.cli.release",
    "promote": "factory_assets.cli.promote",
    "smoke": "factory_assets.cli.smoke",
    "repair": "factory_assets.cli.repair",
    "site": "factory_assets.cli.site",
    "partitions": "factory_assets.cli.partitions",
    "rollback": "factory_assets.cli.rollback",
    "adopt": "factory_assets.cli.adopt",
}


def requested_group(argv: list[str]) -> str | None:
    """The command group named on the command line, if it is one we know."""
    first = next((arg for arg in argv if not arg.startswith("-")), None)
    return first if first in COMMAND_MODULES else None


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
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
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for group, module in COMMAND_MODULES.items():
        if only is None or group == only:
            importlib.import_module(module).register(sub, common)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = build_parser(requested_group(argv))
    args = parser.parse_args(argv)
    try:
        apply_env_aliases()  # the deploy repository's own variable names (HARBOR_USER, ...)
        return int(args.func(args) or 0)
    except FactoryError as exc:
        print(f"factory: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except OSError as exc:  # a path the user gave that cannot be read or written as asked
        where = exc.filename if exc.filename is not None else "-"
        print(f"factory: error: {where}: -: {exc.strerror or exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
