"""Loading the definitions loads Dagster and the thin layer only: each run imports what it uses.

Every run, code-server start and `dagster asset materialize` pays for what the definitions
import, so the engine, the site build, repair, GitHub, git and httpx load in the asset and
sensor bodies that need them.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# The project's modules the definitions may load: declarations, no domain work.
THIN = {
    "factory_assets",
    "factory_assets.common",
    "factory_assets.common.env_aliases",
    "factory_assets.common.errors",
    "factory_assets.common.settings",
    "factory_assets.config",
    "factory_assets.dagster_resources",
    "factory_assets.definitions",
    "factory_assets.evidence",
    "factory_assets.evidence.assets",
    "factory_assets.partitions",
    "factory_assets.promotion",
    "factory_assets.promotion.assets",
    "factory_assets.promotion.jobs",
    "factory_assets.site",
    "factory_assets.site.assets",
    "factory_assets.smoke",
    "factory_assets.smoke.assets",
    "sensors",
    "sensors.harbor",
    "sensors.promotion_failures",
    "sensors.release_queue",
    "sensors.smoke_recheck",
}
# Third-party clients only some runs need.
HEAVY = {"httpx", "git", "jsonschema", "ruamel.yaml", "kubernetes"}


def modules_after(statement: str) -> set[str]:
    """sys.modules after `statement` in a fresh interpreter (this one has the tests' imports)."""
    done = subprocess.run(
        [sys.executable, "-c", f"{statement}\nimport sys\nprint('\\n'.join(sys.modules))"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    return set(done.stdout.split())


def test_the_definitions_load_only_the_thin_layer():
    loaded = modules_after("import factory_assets.definitions")
    ours = {m for m in loaded if m.split(".")[0] in ("factory_assets", "resources", "sensors")}
    assert ours - THIN == set()
    assert HEAVY & loaded == set()
