"""Files nobody reads any more (the frozen envs/, the old pages/, dormant CronJob variants)
are listed in the plan and left alone: the owner decides."""

from __future__ import annotations

import subprocess

from factory_assets.adopt.legacy_runtime import legacy_jobs, refuse_live_legacy_promoter
from factory_assets.cli.main import main
from tests.support.ljwx_legacy import CRONJOB, make_legacy_repo

DORMANT = CRONJOB.format(name="deploy-promoter", schedule="*/10 * * * *")


def test_unread_files_are_listed_and_left_alone(tmp_path, capsys):
    remote = make_legacy_repo(
        tmp_path / "ljwx",
        **{
            "envs__dev__api.yaml": '{"service": "api", "environment": "dev", "image": "x:1"}\n',
            "pages__index.html": "<html>old dashboard</html>\n",
            "evidence__summary__latest.md": "# Latest Evidence Summary\n",
            "infra__factory__deploy-promoter-cronjob.yaml": DORMANT,
        },
    )
    clone = remote.clone
    assert main(["adopt", "--repo", str(clone)]) == 0
    out = capsys.readouterr().out
    section = out.split("### Files nobody reads any more")[1]
    for path in ("envs", "pages", "evidence/summary/latest.md", "infra/factory"):
        assert f"keep {path}:" in section
    diff = subprocess.run(
        [
            "git",
            "-C",
            str(clone),
            "diff",
            "--stat",
            "HEAD",
            "factory/adopt",
            "--",
            "envs",
            "pages",
            "evidence/summary",
            "infra",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert diff == ""  # left exactly as they were
    adopted = tmp_path / "adopted"
    subprocess.run(
        ["git", "clone", "-q", "-b", "factory/adopt", str(clone), str(adopted)], check=True
    )
    assert [j.path for j in legacy_jobs(adopted) if not j.suspended] == []
    refuse_live_legacy_promoter(adopted)  # a dormant variant runs nowhere: passes may start
