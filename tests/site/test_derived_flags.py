"""The index derives two flags from a record's details (`drift` from a smoke record's
`error`, `rollback` from a promotion's `rollback_of` or `event`); the page's check of every
record recomputes them the same way, so records carrying them verify."""

from __future__ import annotations

from pathlib import Path

import pytest

from factory_assets.evidence.store import append_record, new_body
from factory_assets.site.build import build_site
from tests.evidence.helpers import write_chain

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("chromium")]
DIGEST = "sha256:" + "cd" * 32


def test_drift_and_rollback_records_verify_in_the_page(tmp_path: Path, browser, serve):
    repo = tmp_path / "repo"
    repo.mkdir()
    write_chain(repo, 2)
    drift = {"method": "argocd", "verdict": "failed", "verdict_kind": "drift", "error": "drift"}
    append_record(repo, new_body(kind="smoke", service="api", result="failure", details=drift))
    rollback = {"release_id": "r9", "env": "dev", "event": "rollback", "requested_digest": DIGEST}
    append_record(
        repo, new_body(kind="promotion", service="api", result="skipped", details=rollback)
    )
    site = build_site(repo, tmp_path / "out").out_dir
    page = browser.new_page()
    try:
        page.open(serve(site) + "?verify=1")
        state = page.wait_for(
            "['ok','fail'].includes(document.getElementById('integrity-status').dataset.state)"
            " && document.getElementById('integrity-status').dataset.state"
        )
        problems = page.eval(
            "[...document.querySelectorAll('#integrity-problems li')].map(li => li.textContent)"
        )
    finally:
        page.close()
    assert (state, problems) == ("ok", [])
