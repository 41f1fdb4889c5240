"""The clusters adopt finds: each runtime folder Argo CD applies, with the environments its legacy
promoter's ENV_ALLOWLIST names, its targets file, its Secret; and what needs a human when the
repository does not say."""

from __future__ import annotations

from pathlib import Path

from factory_assets.adopt.clusters import find_clusters
from factory_assets.adopt.detect import detect
from tests.support.ljwx_legacy import legacy_files

PROD_PROMOTER = "cluster-prod/deploy-promoter-prod-cronjob.yaml"


def _tree(root: Path, **changes: str | None) -> Path:
    files = legacy_files()
    for path, text in changes.items():
        key = path.replace("__", "/")
        if text is None:
            files.pop(key)
        else:
            files[key] = text
    for path, text in files.items():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_text(text)
    return root


def test_each_runtime_folder_is_a_cluster_with_its_own_environments(tmp_path):
    root = _tree(tmp_path)
    clusters, notes = find_clusters(root, detect(root))
    dev, prod = clusters
    assert (dev.folder, dev.suffix, dev.envs, dev.application) == (
        "cluster",
        "",
        ("dev", "demo"),
        "cluster-bootstrap",
    )
    assert (prod.folder, prod.suffix, prod.envs, prod.application) == (
        "cluster-prod",
        "-prod",
        ("prod",),
        "cluster-prod-bootstrap",
    )
    assert dev.targets == "scripts/smoke/targets.local-k3s.json"  # its smoke runner's
    assert prod.targets == "scripts/smoke/targets.prod-planned.json"  # prod's own file
    assert (dev.missing_targets, prod.missing_targets) == ((), ())
    assert dev.secret == prod.secret == "deploy-promoter-secret"
    assert [j.name for j in dev.jobs] == ["deploy-promoter", "smoke-runner"]
    assert notes == []


def test_what_the_repository_does_not_say_is_left_to_a_human(tmp_path):
    files = legacy_files()
    root = _tree(
        tmp_path,
        **{
            # the prod promoter names no environments; nothing applies cluster-prod/
            PROD_PROMOTER.replace("/", "__"): files[PROD_PROMOTER].replace(
                "              value: prod\n", "              value: ''\n"
            ),
            "argocd-apps__cluster-prod-bootstrap.yaml": None,
        },
    )
    clusters, notes = find_clusters(root, detect(root))
    assert clusters[1].envs == ("prod",)  # what no other cluster claims
    assert any(n.startswith("cluster-prod/: no promoter there sets ENV_ALLOWLIST") for n in notes)
    assert any(n.startswith("cluster-prod/: no Argo CD Application") for n in notes)


def test_two_clusters_claiming_one_environment_is_said(tmp_path):
    files = legacy_files()
    root = _tree(
        tmp_path,
        **{
            PROD_PROMOTER.replace("/", "__"): files[PROD_PROMOTER].replace(
                "              value: prod\n", "              value: prod,dev\n"
            )
        },
    )
    clusters, notes = find_clusters(root, detect(root))
    assert clusters[1].envs == ("prod", "dev")
    assert notes == [
        "dev is in the ENV_ALLOWLIST of both cluster/ and cluster-prod/: both clusters' "
        "runtimes will promote and smoke-check it"
    ]
