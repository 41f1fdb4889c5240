"""From a wheel (not the checkout), `factory site build` still finds the dashboard sources."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.site.fixture import write_fixture

ROOT = Path(__file__).resolve().parents[2]
SOURCES = ("pyproject.toml", "README.md", "factory_assets", "resources", "sensors", "site")


def run(*args: str, **kwargs) -> subprocess.CompletedProcess:
    proc = subprocess.run(args, capture_output=True, text=True, **kwargs)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    return proc


@pytest.mark.slow
def test_site_build_from_an_installed_wheel(tmp_path: Path):
    src = tmp_path / "src"  # a copy: the build must not write into the checkout
    src.mkdir()
    for name in SOURCES:
        if (ROOT / name).is_dir():
            shutil.copytree(
                ROOT / name, src / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc")
            )
        else:
            shutil.copy2(ROOT / name, src / name)
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "--no-input"]
    run(
        *pip,
        "wheel",
        "-q",
        "--no-deps",
        "--no-build-isolation",
        "-w",
        str(tmp_path / "dist"),
        str(src),
    )
    (wheel,) = (tmp_path / "dist").glob("factory-*.whl")
    # Its own environment: `pip install --prefix` would first uninstall the dev install.
    venv = tmp_path / "venv"
    run(sys.executable, "-m", "venv", "--without-pip", str(venv))
    python = str(venv / "bin" / "python")
    run(*pip, "--python", python, "install", "-q", "--no-deps", "--no-index", str(wheel))
    (site_packages,) = venv.glob("lib/python*/site-packages")
    # Dependencies (pydantic, orjson, ...) come from the dev environment, after the wheel.
    deps = [p for p in sys.path if p.endswith("site-packages")]
    (site_packages / "dev-deps.pth").write_text("\n".join(deps) + "\n")
    shutil.rmtree(src)  # nothing may be read from a source tree any more

    repo = tmp_path / "repo"
    repo.mkdir()
    write_fixture(repo)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    where = run(
        python, "-c", "import factory_assets; print(factory_assets.__file__)", cwd=tmp_path, env=env
    )
    assert where.stdout.startswith(str(site_packages)), where.stdout  # the wheel, not the checkout
    out = tmp_path / "out"
    run(
        python,
        "-m",
        "factory_assets.cli.main",
        "site",
        "build",
        "--repo",
        str(repo),
        "--out",
        str(out),
        cwd=tmp_path,
        env=env,
    )
    assert (out / "index.html").read_bytes() == (ROOT / "site" / "index.html").read_bytes()
    assert (out / "app.js").is_file() and (out / "data" / "summary.json").is_file()
