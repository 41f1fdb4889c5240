"""The built dashboard in headless chromium, served by a plain static server on loopback.

One browser for the module; each test opens pages by URL, which is also how the
filters and the detail view are addressed.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import shutil
from pathlib import Path

import pytest
import rfc8785

from factory_assets.evidence.canonical import content_digest
from factory_assets.evidence.checkpoints import HISTORY_FILE, Checkpoint, history_bytes
from factory_assets.site import build as build_module
from factory_assets.site.build import build_site
from tests.evidence.helpers import rewrite_tail, write_chain
from tests.evidence.test_proofs import CONSISTENCY, LEAF_INPUTS, ROOTS
from tests.site.conftest import LINKS
from tests.site.fixture import (
    COMMIT,
    PUBLISHED,
    PUBLISHED_WITH_EVENTS,
    XSS_NAME,
    XSS_REASON,
    XSS_TAG,
    write_events,
    write_fixture,
)

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("chromium")]

ROWS = "[...document.querySelectorAll('#timeline tbody tr')].map(tr => Number(tr.dataset.seq))"


@pytest.fixture
def page(browser):
    page = browser.new_page()
    yield page
    page.close()


def _cells(page, selector: str) -> list[list[str]]:
    return page.eval(
        f"[...document.querySelectorAll({json.dumps(selector)})]"
        ".map(tr => [...tr.children].map(c => c.textContent))"
    )


def test_first_view_shows_matrix_dora_and_timeline(page, serve, built_site: Path):
    page.open(serve(built_site))
    matrix = {row[0]: row for row in _cells(page, "#matrix tbody tr")}
    assert matrix["api"][1:6] == [
        "sha256:c3c3c3c3c3c3…",
        "1.1.0",
        "2026-03-03 12:01:00Z",
        "r3",
        "passed 2026-03-03 12:35:00Z",
    ]
    assert matrix["api"][6] == "promoted r5 · attempt 1/5" and matrix["api"][7] == "–"
    assert matrix["web"][2] == "2.0.0" and matrix["web"][7] == "hold"
    assert matrix["worker"][1] == "–" and matrix["worker"][6] == "pending r6 · attempt 2/5"
    # the queue's last error, markup and all, is an attribute's text
    assert (
        page.eval(
            "document.querySelector('#matrix tr[data-service=worker] td:nth-of-type(6)').title"
        )
        == XSS_REASON
    )
    tiles = page.eval(
        "Object.fromEntries([...document.querySelectorAll('#dora .tile')].map(t => [t.dataset.metric, t.querySelector('.value').textContent]))"
    )
    assert tiles == {
        "deployment_frequency": "0.2 / week",
        "lead_time": "2.0 min",
        "change_failure_rate": "33.3 %",
        "time_to_restore": "30.0 min",
        "pinned_to_healthy": "6.0 min",
        "request_to_healthy": "10.0 min",
    }
    assert page.eval("document.querySelectorAll('#charts svg.chart').length") == 4
    assert (
        page.eval("document.querySelectorAll('#charts rect.bar:not(.bad)').length") == 3
    )  # one per day with a deployment
    assert page.eval("document.querySelectorAll('#charts rect.bar.bad').length") == 1
    assert page.eval(ROWS) == list(range(PUBLISHED, 0, -1))
    assert page.text("#timeline-status") == f"{PUBLISHED} shown · all records searched"
    timeline = {int(row[0]): row[3:6] for row in _cells(page, "#timeline tbody tr")}
    assert timeline[5] == ["promotion", "pinned 1.1.0", "success"]
    assert timeline[6] == ["smoke", "smoke check of sha256:c3c3c3c3c3c3…", "failed"]
    assert timeline[8] == ["promotion", "refused 2.0.0", "refused"]


def test_timeline_shows_each_event_and_a_verdict_never_an_id(page, serve, tmp_path: Path):
    repo = tmp_path / "repo"
    repo.mkdir()
    write_fixture(repo)
    write_events(repo)
    site = build_site(repo, tmp_path / "out", links=LINKS).out_dir
    page.open(serve(site))
    rows = _cells(page, "#timeline tbody tr")
    assert [int(row[0]) for row in rows] == list(range(PUBLISHED_WITH_EVENTS, 0, -1))
    head = _cells(page, "#timeline thead tr")[0]
    assert head == ["Seq", "Finished", "Service", "Kind", "Event", "Verdict", "Id"]
    # Service, kind, event, verdict of the handoff, the approval, the wait and the skip.
    assert [row[2:6] for row in rows[:4]] == [
        ["api @ prod", "promotion", "skipped: no prod target", "–"],
        ["web @ prod", "promotion", "waiting for replication", "–"],
        ["web @ prod", "promotion", f"approved by {XSS_NAME}", "–"],  # markup as text
        ["web @ prod", "promotion", "handed off to prod", "–"],
    ]
    verdicts = {row[5] for row in rows}
    assert verdicts == {"–", "success", "passed", "failed", "refused", "failure"}
    ids = {row[6] for row in rows} | {"r1", "r2", "r3", "r4", "r7"}
    assert not any(cell in ids for row in rows for cell in row[3:6])
    assert page.eval("window.__xss") is None
    # The fields the events are named by are the records' own: the full check holds.
    state, _, problems = _verify(page, serve(site))
    assert (state, problems) == ("ok", [])


def test_filters_are_kept_in_the_url(page, serve, built_site: Path):
    base = serve(built_site)
    page.open(base)
    choose = "(name, value) => { const s = document.querySelector(`#filters [name=${name}]`); s.value = value; s.dispatchEvent(new Event('change', {bubbles: true})); }"
    page.eval(f"({choose})('service', 'api')")
    page.wait_for(
        "location.search === '?service=api' && document.querySelectorAll('#timeline tbody tr').length === 5"
    )
    assert page.eval(ROWS) == [7, 6, 5, 2, 1]
    page.eval(f"({choose})('kind', 'smoke')")
    page.wait_for("location.search === '?service=api&kind=smoke'")
    page.wait_for(f"JSON.stringify({ROWS}) === '[7,6,2]'")
    page.eval("history.back()")
    page.wait_for(f"location.search === '?service=api' && JSON.stringify({ROWS}) === '[7,6,5,2,1]'")
    assert page.eval("document.querySelector('#filters [name=kind]').value") == ""
    # A shared URL opens the same view, the form showing its filters.
    page.open(base + "?service=web&result=success&from=2026-03-02&to=2026-03-02")
    assert page.eval(ROWS) == [4, 3]
    assert page.eval(
        "['service','result','from','to'].map(n => document.querySelector(`#filters [name=${n}]`).value)"
    ) == [
        "web",
        "success",
        "2026-03-02",
        "2026-03-02",
    ]
    page.eval("document.getElementById('filters-reset').click()")
    page.wait_for(f"location.search === '' && {ROWS}.length === {PUBLISHED}")


def test_detail_view_links_and_checks_the_record(page, serve, built_site: Path):
    page.open(serve(built_site) + "?service=web")
    page.eval("document.querySelector('#timeline tbody tr[data-seq=\"3\"] a').click()")
    page.wait_for(
        "location.search === '?service=web&record=3' && !document.getElementById('detail').hidden"
    )
    page.wait_for(
        "(document.getElementById('detail-digest') || {dataset: {state: 'running'}}).dataset.state !== 'running'"
    )
    assert page.eval("document.getElementById('detail-digest').dataset.state") == "ok"
    links = page.eval(
        "Object.fromEntries([...document.querySelectorAll('#detail .facts a')].map(a => [a.textContent, a.getAttribute('href')]))"
    )
    assert links == {
        COMMIT: f"https://git.example.test/deploy/commit/{COMMIT}",
        "run-web-r2": "https://dagster.example.test/runs/run-web-r2",
    }
    # The record's links.url is a javascript: URL: shown, never linked.
    facts = page.text("#detail .facts")
    assert "Workflow run" + "javascript:window.__xss" in facts
    assert (
        page.eval(
            "[...document.querySelectorAll('a')].some(a => (a.getAttribute('href') || '').startsWith('javascript:'))"
        )
        is False
    )
    assert XSS_TAG in page.text("#detail")
    # Parents resolve to their own detail view.
    page.open(serve(built_site) + "?record=6")
    page.eval("document.querySelector('#detail button.link').click()")
    page.wait_for("location.search === '?record=5'")
    page.wait_for("document.querySelector('#detail h2').textContent === 'Record 5 · promotion'")


def test_xss_payloads_render_inert(page, serve, built_site: Path):
    base = serve(built_site)
    for query in (
        "",
        "?record=3",
        "?record=6",
        "?record=8",
        "?record=9",
        "?service=web&kind=promotion",
    ):
        page.open(base + query)
        page.wait_for(
            "!document.getElementById('detail-digest') || document.getElementById('detail-digest').dataset.state !== 'running'"
        )
        assert page.eval("window.__xss") is None, query
        assert (
            page.eval(
                "document.querySelectorAll('img, script:not([src]), svg[onload], [onerror], [onload]').length"
            )
            == 0
        )
    page.open(base + "?record=6")
    assert XSS_REASON in page.text("#detail")
    assert page.events("Page.javascriptDialogOpening") == []
    # The CSP is in force: inline script is refused and Trusted Types block HTML sinks.
    assert (
        page.eval(
            "(() => { try { document.body.insertAdjacentHTML('beforeend', '<b>x</b>'); return 'allowed'; } catch (e) { return e.name; } })()"
        )
        == "TypeError"
    )
    errors = [e for e in page.events("Runtime.exceptionThrown")]
    assert errors == []


def _tampered(built: Path, tmp_path: Path, *, consistent: bool) -> Path:
    """Copy of the build with record 2's verdict flipped; `consistent` also fixes every digest it can."""
    site = tmp_path / ("consistent" if consistent else "naive")
    shutil.copytree(built, site)
    records_path = site / "data" / "records" / "000000.json"
    records = json.loads(records_path.read_bytes())
    records[1]["details"]["verdict"] = "failed"
    records[1]["result"] = "failure"
    summary = json.loads((site / "data" / "summary.json").read_bytes())
    if consistent:
        records[1]["integrity"]["content_digest"] = content_digest(records[1])
        timeline_path = site / "data" / "timeline" / "000000.json"
        timeline = json.loads(timeline_path.read_bytes())
        timeline["records"][1].update(
            verdict="failed",
            result="failure",
            content_digest=records[1]["integrity"]["content_digest"],
        )
        timeline_path.write_bytes(json.dumps(timeline).encode())
        summary["blocks"][0]["timeline"]["sha256"] = hashlib.sha256(
            timeline_path.read_bytes()
        ).hexdigest()
    records_path.write_bytes(json.dumps(records).encode())
    if consistent:
        summary["blocks"][0]["records"]["sha256"] = hashlib.sha256(
            records_path.read_bytes()
        ).hexdigest()
        (site / "data" / "summary.json").write_bytes(json.dumps(summary).encode())
    return site


def _verify(page, url: str) -> tuple[str, str, list[str]]:
    page.open(url + "?verify=1")
    state = page.wait_for(
        "['ok','fail'].includes(document.getElementById('integrity-status').dataset.state) && document.getElementById('integrity-status').dataset.state"
    )
    problems = page.eval(
        "[...document.querySelectorAll('#integrity-problems li')].map(li => li.textContent)"
    )
    return state, page.text("#integrity-status"), problems


def test_integrity_panel_on_good_and_tampered_data(page, serve, built_site: Path, tmp_path: Path):
    root = json.loads((built_site / "data" / "summary.json").read_bytes())["checkpoint"]["root"]
    state, text, problems = _verify(page, serve(built_site))
    assert (state, problems) == ("ok", []) and root in text and f"{PUBLISHED} records" in text

    state, text, problems = _verify(page, serve(_tampered(built_site, tmp_path, consistent=False)))
    assert state == "fail" and "does NOT hold" in text
    assert any("data/records/000000.json: sha256" in p for p in problems)
    assert any(p.startswith("sequence 2 ") and "content digest is" in p for p in problems)
    assert any(p.startswith("Merkle root is") for p in problems)

    # Fixing the record's digest, its summary and the block hashes does not help: the chain and the root still break.
    state, _, problems = _verify(page, serve(_tampered(built_site, tmp_path, consistent=True)))
    assert state == "fail"
    assert any(p.startswith("sequence 3 ") and "prev_digest" in p for p in problems)
    assert any(p.startswith("Merkle root is") for p in problems)
    assert not any("sha256 is" in p for p in problems)


def test_first_view_fetches_only_the_summary_and_the_newest_block(
    page, serve, tmp_path: Path, monkeypatch
):
    monkeypatch.setattr(build_module, "BLOCK_SIZE", 4)
    (tmp_path / "repo").mkdir()
    write_fixture(tmp_path / "repo")
    site = build_site(tmp_path / "repo", tmp_path / "out", links=LINKS).out_dir
    page.open(serve(site))
    fetched = page.eval(
        "performance.getEntriesByType('resource').map(e => new URL(e.name).pathname).filter(p => p.includes('/data/')).sort()"
    )
    # 50 rows wanted, 9 exist: the scan reads all three timeline blocks, never a records block.
    assert fetched == [
        "/data/checkpoints.json",
        "/data/metrics.json",
        "/data/summary.json",
        "/data/timeline/000000.json",
        "/data/timeline/000001.json",
        "/data/timeline/000002.json",
    ]
    page.open(
        serve(site) + "?service=worker"
    )  # blocks without worker are skipped from their summary
    fetched = page.eval(
        "performance.getEntriesByType('resource').map(e => new URL(e.name).pathname).filter(p => p.includes('/timeline/')).sort()"
    )
    assert fetched == ["/data/timeline/000001.json"]


def _corpus() -> list:
    rng = random.Random(8785)
    alphabet = [
        "a",
        "é",
        "€",
        "\U0001f600",
        "\n",
        "\t",
        "\x00",
        "\x1f",
        '"',
        "\\",
        "/",
        "\u2028",
        "\ufeff",
        "<",
        "&",
    ]
    values: list = [
        0,
        -0.0,
        1,
        -1,
        2**53 - 1,
        -(2**53 - 1),
        1.5,
        0.1,
        1e21,
        1e-7,
        5e-324,
        1.7976931348623157e308,
        123456789.125,
        "",
        "plain",
        True,
        False,
        None,
        [],
        {},
        {"b": 1, "a": 2, "A": 3, "é": 4, "\U0001f600": 5, "\u20ac": 6, "10": 7, "9": 8},
    ]
    for _ in range(150):
        values.append("".join(rng.choice(alphabet) for _ in range(rng.randint(0, 12))))
        values.append(rng.randint(-(2**53) + 1, 2**53 - 1))
        values.append(rng.uniform(-1e12, 1e12) * 10 ** rng.randint(-20, 20))
    values.append({"nested": [values[:30], {"x": values[30:60]}]})
    return values


def test_javascript_jcs_and_sha256_match_python(page, serve, built_site: Path):
    """site/jcs.js against the rfc8785 package; the pure-JS SHA-256 fallback against hashlib and WebCrypto."""
    page.open(serve(built_site))
    corpus = _corpus()
    got = page.eval(
        f"import('./jcs.js').then(m => {json.dumps(corpus)}.map(v => m.canonicalize(v)))"
    )
    assert got == [rfc8785.dumps(v).decode() for v in corpus]
    blobs = [os.urandom(n) for n in (0, 1, 55, 56, 63, 64, 65, 119, 120, 1000, 70_000)]
    hexes = page.eval(
        "Promise.all([import('./hash.js')]).then(async ([h]) => Promise.all("
        f"{json.dumps([b.hex() for b in blobs])}.map(async x => [h.toHex(h.sha256Sync(h.fromHex(x))), h.toHex(await h.sha256(h.fromHex(x)))])))"
    )
    assert hexes == [[hashlib.sha256(b).hexdigest()] * 2 for b in blobs]


def _published(site: Path, *builds: Path) -> Path:
    """`site` as publish would leave it: its history names the checkpoints of `builds`."""
    history = [
        Checkpoint.from_summary(
            json.loads((b / "data" / "summary.json").read_bytes())["checkpoint"],
            f"2026-03-0{n}T00:00:00Z",
        )
        for n, b in enumerate(builds, 1)
    ]
    (site / HISTORY_FILE).write_bytes(history_bytes(history))
    return site


def test_consistency_with_published_checkpoints_in_the_browser(page, serve, tmp_path: Path):
    repo = tmp_path / "repo"
    repo.mkdir()
    write_fixture(repo)
    first = build_site(repo, tmp_path / "first", links=LINKS).out_dir
    write_chain(repo, 2)  # an honest append
    second = _published(
        build_site(repo, tmp_path / "second", links=LINKS).out_dir, first, tmp_path / "second"
    )
    page.open(serve(second))
    assert page.text("#checkpoint").count("Published checkpoints") == 1
    assert "2 · last: " in page.text("#checkpoint")
    state, text, problems = _verify(page, serve(second))
    assert (state, problems) == ("ok", [])
    assert "consistent with 2 published checkpoint(s)" in text

    # A tail rewritten consistently: every digest, link and the head recomputed.
    rewrite_tail(repo, keep=PUBLISHED - 3, count=5)
    third = build_site(repo, tmp_path / "third", links=LINKS).out_dir
    _published(third, first, second)
    state, text, problems = _verify(page, serve(third))
    assert state == "fail" and "does NOT hold" in text
    assert len(problems) == 1, problems  # the chain, digests and root of the new records all hold
    assert problems[0].startswith(f"checkpoint #1 (size {PUBLISHED}, root ")
    assert "no longer holds: the consistency proof" in problems[0]
    assert page.eval("document.getElementById('integrity-status').dataset.consistent") == "0"


def test_javascript_consistency_proofs_match_the_reference(page, serve, built_site: Path):
    page.open(serve(built_site))
    got = page.eval(
        "Promise.all([import('./consistency.js'), import('./hash.js')]).then(async ([c, h]) => {"
        f"  const leaves = await Promise.all({json.dumps(LEAF_INPUTS)}.map(x => {{"
        "    const d = h.fromHex(x); const b = new Uint8Array(d.length + 1); b.set(d, 1); return h.sha256(b); }));"
        "  const tree = await c.MerkleLevels.build(leaves);"
        "  const roots = []; for (let n = 0; n <= 8; n++) roots.push(h.toHex(await tree.root(n)));"
        f"  const proofs = []; for (const [m, n] of {json.dumps([[m, n] for m, n, _ in CONSISTENCY])}) {{"
        "    const proof = await tree.consistencyProof(m, n);"
        "    const ok = await c.verifyConsistency(m, n, await tree.root(m), await tree.root(n), proof);"
        "    const bad = proof.length ? await c.verifyConsistency(m, n, await tree.root(m), await tree.root(n), proof.slice(1)) : false;"
        "    proofs.push([proof.map(h.toHex), ok, bad]); }"
        "  return [roots, proofs]; })"
    )
    roots, proofs = got
    assert roots == [ROOTS[n] for n in range(9)]
    assert proofs == [[proof, True, False] for _, _, proof in CONSISTENCY]
