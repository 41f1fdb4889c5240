"""The repository's GitHub workflows: the nightly evidence job is replaced, the PR gate kept
and given the factory's validators.

The legacy `nightly-evidence` validates the YAML records (none are left after adoption) and
rebuilds gh-pages from them, so it would publish an empty feed; the factory's nightly
validates the chain and publishes the factory's dashboard instead. The PR gate's checks
(queue validator, protected paths, secret scan) stay as they are (the factory keeps the
queue valid for that validator), and one job is added: the factory validates the evidence
chain and reads the queue and the layout as every pass will.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml

WORKFLOWS_DIR = ".github/workflows"
NIGHTLY = "nightly-evidence"
GATE = "deploy-repo-gate"


# The jobs run inside the factory image the runners run (deploy/Dockerfile: `factory` and
# git), so the workflows and the clusters run one release and nothing is installed per run.
# As root: the image's user cannot write the workspace GitHub mounts for actions/checkout.
# `--repo "$GITHUB_WORKSPACE"`: the image sets FACTORY_REPO for the clusters' clone, and
# `${{ github.workspace }}` names the host's path, not the container's.
def _container(image: str) -> str:
    return f"""\
    container:
      image: {image}
      options: --user root
"""


def nightly_text(image: str) -> str:
    """The factory's nightly, in place of the repository's nightly-evidence workflow."""
    return (
        """\
# Written by `factory adopt` in place of the repository's nightly-evidence workflow: validate
# the evidence chain and publish the factory's dashboard to gh-pages (history kept, no force
# push; a `pages` record lands on the deploy branch). One publisher at a time, never cancelled.
name: nightly-evidence

on:
  schedule:
    - cron: "17 17 * * *"
  workflow_dispatch: {}

permissions:
  contents: write

concurrency:
  group: evidence-pages
  cancel-in-progress: false

jobs:
  publish:
    runs-on: ubuntu-latest
    timeout-minutes: 30
"""
        + _container(image)
        + """\
    env:
      FACTORY_COMMIT_URL_TEMPLATE: ${{ github.server_url }}/${{ github.repository }}/commit/{commit}
      FACTORY_RUN_URL: ${{ github.server_url }}/${{ github.repository }}/actions/runs/${{ github.run_id }}
      FACTORY_GIT_AUTHOR_NAME: github-actions[bot]
      FACTORY_GIT_AUTHOR_EMAIL: 41898282+github-actions[bot]@users.noreply.github.com
    steps:
      - uses: actions/checkout@v4
        with:
          fetch-depth: 1
      - name: Validate every evidence record
        run: factory evidence validate --repo "$GITHUB_WORKSPACE"
      - name: Publish the dashboard
        run: factory site publish --repo "$GITHUB_WORKSPACE"
"""
    )


def gate_job_text(image: str) -> str:
    """The job the PR gate gains: the factory's validators, on every pull request."""
    return (
        """\
  # Added by `factory adopt`: the factory's validators, on every pull request.
  factory-validate:
    runs-on: ubuntu-latest
    timeout-minutes: 15
"""
        + _container(image)
        + """\
    steps:
      - uses: actions/checkout@v4
      - name: Every evidence record and the chain validate
        run: factory evidence validate --repo "$GITHUB_WORKSPACE"
      - name: The queue, the service map and factory.yaml read as a pass reads them
        run: factory promote --dry-run --repo "$GITHUB_WORKSPACE"
"""
    )


def gate_with_factory_job(text: str, path: str, image: str) -> str | None:
    """The gate workflow with the factory's job appended to `jobs:` (None: it cannot be done
    safely by appending, e.g. `jobs:` is not the last top-level key; the plan says so)."""
    try:
        before = yaml.safe_load(text)
    except yaml.YAMLError:
        return None
    if not isinstance(before, dict) or not isinstance(before.get("jobs"), dict):
        return None
    if "factory-validate" in before["jobs"]:
        return text
    joined = text if text.endswith("\n") else text + "\n"
    after_text = joined + gate_job_text(image)
    try:
        after = yaml.safe_load(after_text)
    except yaml.YAMLError:
        return None
    kept = {k: v for k, v in after.get("jobs", {}).items() if k != "factory-validate"}
    if kept != before["jobs"] or "factory-validate" not in after.get("jobs", {}):
        return None  # appending did not land under `jobs:`
    return after_text


@dataclass(frozen=True)
class Workflow:
    path: str
    name: str


def _name_of(path: Path) -> str:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8", errors="replace"))
    except yaml.YAMLError:
        data = None
    name = data.get("name") if isinstance(data, dict) else None
    return name if isinstance(name, str) else path.stem


def find_workflows(root: Path) -> list[Workflow]:
    folder = root / WORKFLOWS_DIR
    if not folder.is_dir():
        return []
    return [
        Workflow(f"{WORKFLOWS_DIR}/{p.name}", _name_of(p))
        for p in sorted(folder.iterdir())
        if p.suffix in (".yml", ".yaml") and p.is_file()
    ]


def nightly_workflow(root: Path) -> Workflow | None:
    """The legacy nightly evidence workflow, by its name or its file name."""
    return next((w for w in find_workflows(root) if NIGHTLY in (w.name, Path(w.path).stem)), None)


def gate_workflow(root: Path) -> Workflow | None:
    return next((w for w in find_workflows(root) if GATE in (w.name, Path(w.path).stem)), None)
