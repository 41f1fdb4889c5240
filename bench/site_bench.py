"""Benchmark the evidence dashboard at 1k, 10k and 100k records.

    .venv/bin/python bench/site_bench.py [--sizes 1000,10000,100000] [--verify-max 100000]

Per size: site build time (with the committed index current, as after the
`evidence_index` asset; and a no-change rebuild), first-view bytes and render
time in headless chromium (cold cache, plain loopback static server), and the
in-browser integrity check over every record. The baseline is an empty
dashboard measured in the same run: what the page costs with no data at all.
Each build is served with a published checkpoint history of 100 entries (what
100 publications leave on gh-pages): the page loads it up front, and the
integrity check proves the records extend every one of them.
Targets: first view <= 1 MB and <= 1 s at 100k records, history included.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.checkpoint_history import history_for  # noqa: E402
from bench.evidence_records import generate  # noqa: E402
from factory_assets.evidence.checkpoints import HISTORY_FILE, history_bytes  # noqa: E402
from factory_assets.evidence.collect import collect_index  # noqa: E402
from factory_assets.site.build import SiteLinks, build_site  # noqa: E402
from factory_assets.site.pages_ref import published_digests  # noqa: E402
from tests.site.chromium import Browser  # noqa: E402
from tests.site.server import StaticServer  # noqa: E402

FIRST_VIEW = """(() => {
  const entries = [performance.getEntriesByType('navigation')[0], ...performance.getEntriesByType('resource')];
  return {ready: window.__factoryReadyAt, bytes: entries.reduce((n, e) => n + e.encodedBodySize, 0),
          wire: entries.reduce((n, e) => n + e.transferSize, 0), files: entries.length};
})()"""
VERIFIED = "['ok','fail'].includes(document.getElementById('integrity-status').dataset.state) && document.getElementById('integrity-status').dataset.state"


CHECKPOINTS = 100


def publish_history(site: Path, count: int = CHECKPOINTS) -> int:
    """Write the history `count` publications of this build's records would leave; its size in bytes."""
    digests = published_digests(lambda path: (site / path).read_bytes()) or []
    data = history_bytes(history_for(digests, count) if digests else [])
    (site / HISTORY_FILE).write_bytes(data)
    return len(data)


def timed(fn):
    start = time.perf_counter()
    value = fn()
    return value, time.perf_counter() - start


def first_view(browser: Browser, url: str, runs: int) -> dict:
    samples = []
    for _ in range(runs):
        page = browser.new_page()
        page.send("Network.enable")
        page.send("Network.setCacheDisabled", {"cacheDisabled": True})
        page.open(url, timeout=60)
        samples.append(page.eval(FIRST_VIEW))
        page.close()
    return {
        "ready_ms": statistics.median(s["ready"] for s in samples),
        "bytes": samples[-1]["bytes"],
        "wire": samples[-1]["wire"],
        "files": samples[-1]["files"],
    }


def verify_all(browser: Browser, url: str) -> tuple[str, float]:
    page = browser.new_page()
    page.open(url + "?verify=1", timeout=60)
    start = time.perf_counter()
    state = page.wait_for(VERIFIED, timeout=600, interval=0.2)
    elapsed = time.perf_counter() - start
    page.close()
    return state, elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,10000,100000")
    parser.add_argument("--runs", type=int, default=3, help="page loads per size (median reported)")
    parser.add_argument(
        "--verify-max", type=int, default=100_000, help="skip the full check above this size"
    )
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    links = SiteLinks()
    browser = Browser()
    rows = []
    try:
        with tempfile.TemporaryDirectory(prefix="factory-site-bench-") as tmp:
            base = Path(tmp)
            (base / "empty").mkdir()
            empty = build_site(base / "empty", base / "empty-site", links=links).out_dir
            server = StaticServer(empty).start()
            baseline = first_view(browser, server.url, args.runs)
            server.stop()
            for size in sizes:
                repo = base / f"repo-{size}"
                _, gen_s = timed(lambda repo=repo, size=size: generate(repo, size))
                _, collect_s = timed(lambda repo=repo: collect_index(repo))
                build, build_s = timed(
                    lambda repo=repo, size=size: build_site(
                        repo, base / f"site-{size}", links=links
                    )
                )
                _, rebuild_s = timed(
                    lambda repo=repo, size=size: build_site(
                        repo, base / f"site-{size}", links=links
                    )
                )
                history_bytes_ = publish_history(build.out_dir)
                server = StaticServer(build.out_dir).start()
                view = first_view(browser, server.url, args.runs)
                view["history"] = history_bytes_
                state, verify_s = (
                    verify_all(browser, server.url) if size <= args.verify_max else ("skipped", 0.0)
                )
                server.stop()
                rows.append(
                    (size, gen_s, collect_s, build_s, rebuild_s, build.bytes, view, state, verify_s)
                )
                print(f"... {size} records done", file=sys.stderr, flush=True)
    finally:
        browser.close()

    print(
        f"baseline (empty dashboard): first view {baseline['bytes']:,} B in {baseline['files']} files, ready {baseline['ready_ms']:.0f} ms"
    )
    header = f"{'records':>8} {'collect s':>9} {'build s':>8} {'rebuild s':>9} {'site MB':>8} {'1st view B':>11} {'files':>5} {'ready ms':>8} {'vs base':>8} {'verify':>14}"
    print(header)
    for size, _gen_s, collect_s, build_s, rebuild_s, site_bytes, view, state, verify_s in rows:
        verdict = f"{state} {verify_s:.1f}s" if state != "skipped" else "skipped"
        print(
            f"{size:>8} {collect_s:>9.2f} {build_s:>8.2f} {rebuild_s:>9.2f} {site_bytes / 1e6:>8.1f} {view['bytes']:>11,} "
            f"{view['files']:>5} {view['ready_ms']:>8.0f} {view['ready_ms'] - baseline['ready_ms']:>+8.0f} {verdict:>14}"
        )
    largest = rows[-1][6]
    print(
        f"checkpoint history loaded up front: {CHECKPOINTS} entries, {largest['history']:,} B; "
        f"verify proves consistency with each"
    )
    verdicts = [
        (
            f"first view at {rows[-1][0]} records <= 1 MB",
            largest["bytes"] <= 1_000_000,
            f"{largest['bytes']:,} B",
        ),
        (
            f"first view at {rows[-1][0]} records ready <= 1000 ms",
            largest["ready_ms"] <= 1000,
            f"{largest['ready_ms']:.0f} ms",
        ),
        (
            "in-browser integrity check passes at every size",
            all(state in ("ok", "skipped") for *_, state, _ in rows),
            ", ".join(str(state) for *_, state, _ in rows),
        ),
    ]
    for what, ok, value in verdicts:
        print(f"target: {what}: {'met' if ok else 'MISSED'} ({value})")
    return 0 if all(ok for _, ok, _ in verdicts) else 1


if __name__ == "__main__":
    sys.exit(main())
