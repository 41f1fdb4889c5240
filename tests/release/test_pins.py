"""envs/dev/<service>.yaml round trip, validation of hand edits, kustomize write-through."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from factory_assets.common.errors import InputError
from factory_assets.pins.pin_file import PinChange, PinRequest, pin_of, read_pin
from factory_assets.pins.write import write_pin_file

IMAGE = "127.0.0.1:5000/factory/api"
D1 = "sha256:" + "1" * 64
D2 = "sha256:" + "2" * 64
NOW = datetime(2026, 3, 4, 5, 6, 7, tzinfo=UTC)

USER_ONLY = """\
# api: owned by team payments
track: main   # follow this tag in Harbor
hold: false
smoke:
  argocd_app: api-dev   # the Argo CD app to watch
  url: http://127.0.0.1:8080/healthz
"""


def pin_file(repo: Path, text: str, service: str = "api") -> Path:
    path = repo / "envs" / "dev" / f"{service}.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def pin_api(
    repo: Path, digest: str = D1, tag: str | None = "v1", release_id: str = "r1"
) -> list[PinChange]:
    """Pin api at `digest` through the product's writer, as the write_pin step does."""
    request = PinRequest(
        image=IMAGE, digest=digest, tag=tag, release_id=release_id, promoted_at=NOW
    )
    return write_pin_file(read_pin(repo, "api"), request, repo=repo)


def test_first_pin_keeps_user_settings_comments_and_order(tmp_path: Path) -> None:
    path = pin_file(tmp_path, USER_ONLY)
    doc = read_pin(tmp_path, "api")
    assert (
        doc.pin.track == "main" and doc.pin.image is None and doc.pin.smoke.argocd_app == "api-dev"
    )
    (change,) = pin_api(tmp_path)
    assert (change.path, change.before, change.after) == (
        "envs/dev/api.yaml",
        None,
        f"{IMAGE}@{D1}",
    )
    text = path.read_text()
    assert text.startswith("# api: owned by team payments\n")
    assert USER_ONLY.split("\n", 1)[1] in text  # every user line, comments included, verbatim
    assert text.index("image:") < text.index("track:")  # factory keys first, user keys after
    again = read_pin(tmp_path, "api").pin
    assert (again.service, again.image, again.tag, again.release_id) == (
        "api",
        f"{IMAGE}@{D1}",
        "v1",
        "r1",
    )
    assert again.promoted_at == NOW


def test_the_read_only_reader_sees_the_pin_the_round_trip_reader_sees(tmp_path: Path) -> None:
    pin_file(tmp_path, USER_ONLY.replace("track: main", "track: on"))  # YAML 1.2: a string
    pin_api(tmp_path)
    assert pin_of(tmp_path, "api") == read_pin(tmp_path, "api").pin
    assert pin_of(tmp_path, "api").track == "on" and pin_of(tmp_path, "api").digest == D1
    assert pin_of(tmp_path, "web") == read_pin(tmp_path, "web").pin  # no file: empty


def test_repin_changes_only_factory_keys(tmp_path: Path) -> None:
    path = pin_file(tmp_path, USER_ONLY)
    pin_api(tmp_path)
    before = path.read_text().splitlines()
    (change,) = pin_api(tmp_path, D2, tag=None, release_id="r2")
    assert change.before == f"{IMAGE}@{D1}"
    after = path.read_text().splitlines()
    changed = {line for line in set(before) ^ set(after)}
    assert changed == {
        f"image: {IMAGE}@{D1}",
        f"image: {IMAGE}@{D2}",
        "tag: v1",  # promoted by digest: the tag line goes
        "release_id: r1",
        "release_id: r2",
    }


@pytest.mark.parametrize(
    ("text", "field", "needle"),
    [
        ("- a\n", "-", "expected a mapping"),
        ("hold: yes\n", "hold", "valid boolean"),
        ("hodl: true\n", "hodl", "unknown key"),
        (f"image: {IMAGE}:v1\n", "image", "digest pin"),
        (f"image: {IMAGE}@sha256:abc\n", "image", "sha256"),
        ("service: web\n", "service", "named for 'api'"),
        ("track: 'bad tag'\n", "track", "must match"),
        ("smoke: {}\n", "smoke", "argocd_app and/or url"),
        ("smoke: {url: ftp://x}\n", "smoke.url", "http"),
        ("kustomization: ../../etc\n", "kustomization", "relative path inside"),
        ("release_id: r1\n", "-", "without an image pin"),
        ("a: &x 1\nb: *x\n", "-", "aliases are not allowed"),
    ],
)
@pytest.mark.parametrize("reader", ["read_pin", "pin_of"])
def test_hand_edited_invalid_pin_is_a_clear_error(
    tmp_path: Path, text: str, field: str, needle: str, reader: str
) -> None:
    path = pin_file(tmp_path, text)
    with pytest.raises(InputError) as info:
        {"read_pin": read_pin, "pin_of": pin_of}[reader](tmp_path, "api")
    assert info.value.path == str(path)
    assert info.value.field == field
    assert needle in info.value.problem


def pin_with_kustomization(repo: Path, relative: str) -> Path:
    """A pin file that names the overlay `relative` and pins nothing yet."""
    return pin_file(repo, f"kustomization: {relative}\n")


def test_kustomize_entry_gets_digest_and_loses_tag(tmp_path: Path) -> None:
    overlay = tmp_path / "deploy" / "overlays" / "dev"
    overlay.mkdir(parents=True)
    (overlay / "kustomization.yaml").write_text(
        "# dev overlay\nresources:\n  - ../../base\nimages:\n  - name: other\n    newTag: '3'\n"
        f"  - name: {IMAGE}   # api\n    newTag: v1\n"
    )
    pin_with_kustomization(tmp_path, "deploy/overlays/dev")
    pin_change, change = pin_api(tmp_path)
    assert (pin_change.path, pin_change.after) == ("envs/dev/api.yaml", f"{IMAGE}@{D1}")
    assert (change.path, change.before, change.after) == (
        "deploy/overlays/dev/kustomization.yaml",
        f"{IMAGE}:v1",
        f"{IMAGE}@{D1}",
    )
    text = (overlay / "kustomization.yaml").read_text()
    assert "# dev overlay" in text and f"- name: {IMAGE}   # api" in text
    assert f"digest: {D1}" in text and "newTag: v1" not in text and "newTag: '3'" in text


def test_kustomize_missing_entry_is_added_and_bad_paths_refused(tmp_path: Path) -> None:
    (tmp_path / "k").mkdir()
    (tmp_path / "k" / "kustomization.yaml").write_text("resources: []\n")
    pin_with_kustomization(tmp_path, "k/kustomization.yaml")
    pin_api(tmp_path)
    assert (
        f"- name: {IMAGE}\n    digest: {D1}" in (tmp_path / "k" / "kustomization.yaml").read_text()
    )
    (tmp_path / "empty").mkdir()
    for relative, problem in (("nope", "does not exist"), ("empty", "has no kustomization.yaml")):
        pin = pin_with_kustomization(tmp_path, relative)
        with pytest.raises(InputError, match=problem):
            pin_api(tmp_path)
        assert pin.read_text() == f"kustomization: {relative}\n"  # neither file is written


def test_kustomize_entry_remapped_elsewhere_is_pointed_at_the_pinned_image(
    tmp_path: Path,
) -> None:
    # Matched by `name`, the entry's own newName would carry the digest to another repository.
    (tmp_path / "k").mkdir()
    (tmp_path / "k" / "kustomization.yaml").write_text(
        f"images:\n  - name: {IMAGE}\n    newName: mirror.example/api\n    digest: {D2}\n"
    )
    pin_with_kustomization(tmp_path, "k")
    pin_api(tmp_path)
    assert (tmp_path / "k" / "kustomization.yaml").read_text() == (
        f"images:\n  - name: {IMAGE}\n    newName: {IMAGE}\n    digest: {D1}\n"
    )


def test_kustomize_two_entries_for_the_image_are_refused_by_name(tmp_path: Path) -> None:
    (tmp_path / "k").mkdir()
    overlay = (
        f"images:\n  - name: harbor.example/api\n    newName: {IMAGE}\n    digest: {D2}\n"
        f"  - name: {IMAGE}\n    digest: {D2}\n"
    )
    (tmp_path / "k" / "kustomization.yaml").write_text(overlay)
    pin = pin_with_kustomization(tmp_path, "k")
    with pytest.raises(InputError) as info:
        pin_api(tmp_path)
    assert info.value.field == "images"
    assert "images[0] (name 'harbor.example/api') and images[1]" in info.value.problem
    assert (tmp_path / "k" / "kustomization.yaml").read_text() == overlay
    assert pin.read_text() == "kustomization: k\n"
