"""Entry point of `factory`: builds the parser from each command module and runs it.

Exit codes: 0 success, 1 a check or operation failed (or bad input), 2 usage error.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from factory_assets.common.errors import FactoryError

# Each module exposes register(subparsers, common) and sets `func` on its parsers.
COMMAND_MODULES = [
    "factory_assets.cli.evidence",
    "factory_assets.cli.release",
    "factory_assets.cli.promote",
    "factory_assets.cli.smoke",
    "factory_assets.cli.repair",
    "factory_assets.cli.site",
]


def build_parser() -> argparse.ArgumentParser:
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
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub, common)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except FactoryError as exc:
        print(f"factory: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
