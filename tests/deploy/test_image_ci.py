"""The image test's place in CI: out of `make test`, its own step in .ci/run, never skipped there."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.deploy.conftest import ROOT

MISSING = "localhost/factory-image-test:never-built"


def _pytest(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if k not in ("CI", "PYTEST_XDIST_WORKER")}
    clean.pop("FACTORY_TEST_IMAGE", None)
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-n", "0", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**clean, **env},
        timeout=300,
    )


def test_ci_runs_the_image_test_as_its_own_step_after_the_suite():
    steps = [line.strip() for line in (ROOT / ".ci" / "run").read_text().splitlines()]
    assert steps.index("make image-test") > steps.index("make test")
    makefile = (ROOT / "Makefile").read_text()
    assert "\nimage-test: image\n" in makefile  # builds (or reuses) the image first
    assert "FACTORY_TEST_IMAGE=$(IMAGE) $(BIN)/pytest tests/image" in makefile


def test_make_test_does_not_collect_the_image_tests():
    alone = _pytest({}, "--collect-only", "-q", "tests/image")
    assert "no tests collected" in alone.stdout, alone.stdout + alone.stderr
    asked = _pytest({"FACTORY_TEST_IMAGE": MISSING}, "--collect-only", "-q", "tests/image")
    assert "test_the_image_is_the_one_the_manifests_run" in asked.stdout, asked.stdout


@pytest.mark.parametrize("ci", ["true", None])
def test_an_image_that_is_not_there_fails_in_ci_and_skips_elsewhere(ci: str | None):
    env = {"FACTORY_TEST_IMAGE": MISSING, **({"CI": ci} if ci else {})}
    done = _pytest(env, "-q", "-rs", "tests/image", "-k", "manifests")
    out = done.stdout + done.stderr
    if ci:
        assert done.returncode == 1, out
        assert "CI=true, and the factory image cannot be tested" in out, out
    else:
        assert done.returncode == 0 and "1 skipped" in out, out
