"""A promoter in its own process, for race and crash tests: `python -m tests.promotion.racer ARGS`.

Waits for a go-file (so racers start together), optionally adds a release (pushed), runs one
pass and prints the PassResult as JSON. Crash tests set FACTORY_CRASH_AT in its environment.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

from factory_assets.promotion import run_pass
from factory_assets.release.add import add_release
from resources.registry import RegistryClient


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("clone")
    parser.add_argument("--registry", required=True)
    parser.add_argument("--go", help="wait until this file exists")
    parser.add_argument("--add", nargs=3, metavar=("SERVICE", "IMAGE", "TAG"))
    args = parser.parse_args()
    if args.go:
        Path(f"{args.go}.ready.{os.getpid()}").touch()  # imports done: ready to start together
        deadline = time.monotonic() + 30
        while not Path(args.go).exists() and time.monotonic() < deadline:
            time.sleep(0.005)
    if args.add:
        service, image, tag = args.add
        add_release(
            Path(args.clone),
            service=service,
            tag=tag,
            image=image,
            push=True,
            harbor_url=args.registry,
        )
    with RegistryClient(args.registry) as client:
        result = run_pass(Path(args.clone), registry=client)
    json.dump(result.to_dict(), sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
