"""Overlay renders start as each overlay is written, unless one pinned overlay reads another.

Real parts: files on disk and the kubectl the package installs (`kubectl kustomize`).
"""

from __future__ import annotations

from pathlib import Path

from factory_assets.pins.overlay_entry import (
    OverlayPin,
    OverlayRefused,
    OverlayRequest,
    overlay_reads,
    pin_overlays,
    renders_while_writing,
)

PUBLIC = "ghcr.example/acme"
MIRROR = "mirror.example/acme"
D0 = "sha256:" + "0" * 64
DA = "sha256:" + "a" * 64
DB = "sha256:" + "b" * 64


def _files(root: Path, files: dict[str, str]) -> None:
    for relative, text in files.items():
        (root / relative).parent.mkdir(parents=True, exist_ok=True)
        (root / relative).write_text(text)


BASE = {
    "x/base/kustomization.yaml": "resources:\n  - pod.yaml\n",
    "x/base/pod.yaml": (
        "apiVersion: v1\nkind: Pod\nmetadata: {name: x}\n"
        f"spec:\n  containers:\n    - {{name: x, image: {PUBLIC}/x:latest}}\n"
    ),
}


def _stacked(root: Path) -> tuple[OverlayRequest, OverlayRequest]:
    """`eu` is built on `dev`: dev remaps the base image to the mirror, eu pins the mirror's
    name. Pinning dev away from the mirror leaves eu's entry matching nothing."""
    _files(
        root,
        {
            **BASE,
            "x/dev/kustomization.yaml": (
                f"resources:\n  - ../base\nimages:\n  - name: {PUBLIC}/x\n"
                f"    newName: {MIRROR}/x\n    digest: {D0}\n"
            ),
            "x/eu/kustomization.yaml": (
                f"resources:\n  - ../dev\nimages:\n  - name: {MIRROR}/x\n    digest: {D0}\n"
            ),
        },
    )
    eu = OverlayRequest("eu", "x/eu/kustomization.yaml", f"{MIRROR}/x", f"{MIRROR}/x", DA)
    dev = OverlayRequest("dev", "x/dev/kustomization.yaml", f"{PUBLIC}/x", f"{PUBLIC}/x", DB)
    return eu, dev


def test_independent_overlays_render_as_they_are_written(tmp_path: Path):
    _files(tmp_path, BASE)
    for name in ("dev", "prod"):
        _files(tmp_path, {f"x/{name}/kustomization.yaml": "resources:\n  - ../base\n"})
    assert overlay_reads(tmp_path / "x/dev") == {
        (tmp_path / p).resolve()
        for p in ("x/dev/kustomization.yaml", "x/base/kustomization.yaml", "x/base/pod.yaml")
    }
    assert renders_while_writing(
        tmp_path, ["x/dev/kustomization.yaml", "x/prod/kustomization.yaml"]
    )


def test_an_overlay_built_on_another_pinned_one_renders_after_both_are_written(tmp_path: Path):
    eu, dev = _stacked(tmp_path)
    assert (tmp_path / "x/dev/kustomization.yaml").resolve() in overlay_reads(tmp_path / "x/eu")
    assert not renders_while_writing(tmp_path, [eu.relative, dev.relative])
    # eu is written first: rendered before dev's pin lands, it would seem to pin the mirror.
    results = pin_overlays(tmp_path, [eu, dev])
    assert isinstance(results["dev"], OverlayPin), results["dev"]
    assert isinstance(results["eu"], OverlayRefused)
    assert "matches no image" in results["eu"].problem
    assert f"{PUBLIC}/x@{DB}" in results["eu"].problem  # what eu renders once dev is pinned
    assert f"digest: {D0}" in (tmp_path / "x/eu/kustomization.yaml").read_text()  # put back
