"""`make demo`: run the factory end to end on a scratch GitOps repository under .demo/.

Everything is local: a bare git remote, a working clone, and a Dagster instance
in .demo/dagster_home. Each step calls the same commands a user would.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from factory_assets.sandbox.dagster_processes import shipped_dagster_home, start_daemon  # noqa: E402
from factory_assets.sandbox.gitops_remote import GitOpsRemote, make_gitops_remote  # noqa: E402
from factory_assets.sandbox.oci_push import push_image, push_multiarch  # noqa: E402
from factory_assets.sandbox.registry_server import RegistryServer  # noqa: E402

DEMO = ROOT / ".demo"
DEV_LAYOUT = "{pins: pin-files, auto_rollback: true, sync_window: 2s}"
BIN = Path(sys.executable).parent


def run(
    *args: str,
    cwd: Path | None = None,
    env: dict | None = None,
    check: bool = True,
    quiet: bool = False,
) -> subprocess.CompletedProcess:
    printable = " ".join(args)
    print(f"$ {printable}", flush=True)
    proc = subprocess.run(
        args, cwd=cwd, env={**os.environ, **(env or {})}, text=True, capture_output=True
    )
    output = (proc.stdout + proc.stderr).strip()
    if quiet and proc.returncode == 0:
        output = "\n".join(
            line for line in output.splitlines() if "RUN_SUCCESS" in line or "ASSET_CHECK" in line
        )
    if output:
        print("  " + output.replace("\n", "\n  "), flush=True)
    if check and proc.returncode != 0:
        raise SystemExit(f"demo step failed ({proc.returncode}): {printable}")
    return proc


def factory(*args: str, **kwargs) -> subprocess.CompletedProcess:
    return run(str(BIN / "factory"), *args, **kwargs)


def make_gitops_repo() -> GitOpsRemote:
    """A bare remote plus a clone (.demo/deploy), seeded with the GitOps folders."""
    if DEMO.exists():
        shutil.rmtree(DEMO)
    remote = make_gitops_remote(
        DEMO,
        {"release/queue.yaml": "# Release requests; see release/README.md\nreleases: []\n"},
        clone="deploy",
        identity=("factory demo", "demo@factory.invalid"),
    )
    print(f"gitops       : {remote.clone} (bare remote {remote.bare})")
    return remote


def start_registry() -> tuple[RegistryServer, dict]:
    """A local OCI registry (CNCF distribution, the engine inside Harbor) on a loopback port."""
    server = RegistryServer(DEMO / "registry", "none").start()
    print(f"registry     : {server.url} (docker-registry, data in {DEMO / 'registry'})")
    return server, {"HARBOR_URL": server.url}


def carry_to_prod(clone: Path, env: dict, endpoint: str) -> dict[str, str]:
    """dev -> prod: declare the stage, let the dev smoke open its gate, approve, replicate,
    promote with a prod runner, smoke prod. Returns each step's record id."""
    prod = RegistryServer(DEMO / "registry-prod", "none").start()
    print(f"prod registry: {prod.url} (the prod cluster's Harbor)")
    env = {**env, "HARBOR_URL_PROD": prod.url}
    try:
        (clone / "factory.yaml").write_text(
            "# dev -> prod: once dev's pin has stayed healthy 5 seconds (its soak), a passed dev\n"
            "# smoke queues prod; prod also waits for a person\n"
            f"environments:\n  dev: {DEV_LAYOUT}\n"
            "  prod: {pins: pin-files, after: dev, approval: true, soak: 5s}\n"
        )
        (clone / "envs" / "prod").mkdir(exist_ok=True)
        (clone / "envs" / "prod" / "api.yaml").write_text(
            f"service: api\nsmoke:\n  url: {endpoint}\n  timeout_seconds: 20\n"
        )
        git("add", "factory.yaml", "envs/prod/api.yaml", cwd=clone)
        git("commit", "-q", "-m", "declare the prod stage of api", cwd=clone)
        git("push", "-q", "origin", "main", cwd=clone)
        factory("smoke", "--env", "dev", "--repo", str(clone), "--timeout", "20", env=env)
        factory("release", "status", "--repo", str(clone), env=env)  # prod: soaking, 0 s of 5
        time.sleep(6)  # the soak: dev's pin stays healthy 5 seconds
        factory("smoke", "--env", "dev", "--repo", str(clone), "--timeout", "20", env=env)
        git("pull", "-q", "--ff-only", cwd=clone)
        entries = yaml_entries(clone)
        stage = next(e for e in entries if e.get("env") == "prod")
        upstream = next(e for e in entries if e["id"] == stage["upstream"])
        factory("release", "status", "--repo", str(clone), env=env)
        factory("release", "approve", stage["id"], "--by", "demo", "--push", "--repo", str(clone))
        prod_env = {**env, "FACTORY_ENVS": "prod"}  # the prod cluster's runner
        factory("promote", "--repo", str(clone), env=prod_env)  # waiting: no replica yet
        push_image(prod, "demo/api", "1.1.0", content=b"api 1.1.0")  # Harbor replication
        print("replicated   : demo/api:1.1.0 to the prod registry")
        factory("promote", "--repo", str(clone), env=prod_env)
        factory("smoke", "--env", "prod", "--repo", str(clone), "--timeout", "20", env=prod_env)
        git("pull", "-q", "--ff-only", cwd=clone)
        final = next(e for e in yaml_entries(clone) if e["id"] == stage["id"])
        return {
            "dev smoke": upstream.get("smoke_evidence", "-"),
            "soaked, handed off": f"{stage.get('evidence', '-')} (its soak: {_soak_of(clone, stage)})",
            "prod request": stage.get("evidence", "-"),
            "prod pinned": final.get("evidence", "-"),
            "prod smoke": final.get("smoke_evidence", "-"),
        }
    finally:
        prod.stop()


def _soak_of(clone: Path, stage: dict) -> str:
    """The smoke records the handoff names as the proof of dev's soak."""
    record = json.loads((clone / "evidence" / "records" / f"{stage['evidence']}.json").read_text())
    soak = record["details"].get("soak") or {}
    return "records " + ", ".join(soak.get("records") or ["-"])


def roll_back_by_itself(clone: Path, env: dict, image: str, endpoint: dict) -> dict[str, str]:
    """dev with `auto_rollback`: api 1.2.0 breaks, a second broken check after the sync window
    confirms it, the factory queues the rollback to 1.1.0 by itself; it lands and is healthy."""
    (clone / "factory.yaml").write_text(
        f"# a confirmed broken pin in dev is rolled back by itself\nenvironments:\n  dev: {DEV_LAYOUT}\n"
    )
    git("add", "factory.yaml", cwd=clone)
    git("commit", "-q", "-m", "dev rolls back a confirmed broken pin by itself", cwd=clone)
    git("push", "-q", "origin", "main", cwd=clone)
    add = ("release", "add", "api", "--tag", "1.2.0", "--image", image, "--by", "demo", "--push")
    factory(*add, "--repo", str(clone), env=env)
    factory("promote", "--repo", str(clone), env=env)
    endpoint["broken"] = True  # 1.2.0 does not come up
    smoke = ("smoke", "--env", "dev", "--service", "api", "--repo", str(clone), "--timeout", "20")
    factory(*smoke, env=env, check=False)  # failed: one broken check is not enough
    time.sleep(3)  # the sync window (2s) passes
    factory(*smoke, env=env, check=False)  # failed again: confirmed, the rollback is queued
    git("pull", "-q", "--ff-only", cwd=clone)
    rollback = next(e for e in yaml_entries(clone) if e.get("rollback_of"))
    factory("release", "status", "--repo", str(clone), env=env)
    factory("promote", "--repo", str(clone), env=env)  # 1.1.0 again
    endpoint["broken"] = False
    factory(*smoke, env=env)
    git("pull", "-q", "--ff-only", cwd=clone)
    final = next(e for e in yaml_entries(clone) if e["id"] == rollback["id"])
    record = json.loads(
        (clone / "evidence" / "records" / f"{rollback['evidence']}.json").read_text()
    )
    why = record["details"]["auto_rollback"]
    return {
        "failed smoke": why["failed_smoke"],
        "confirmed by": why.get("confirmed_by") or "-",
        "rollback": rollback.get("evidence", "-"),
        "pinned back": final.get("evidence", "-"),
        "healthy": final.get("smoke_evidence", "-"),
    }


def yaml_entries(clone: Path) -> list[dict]:
    from ruamel.yaml import YAML

    data = YAML(typ="safe", pure=True).load((clone / "release" / "queue.yaml").read_text())
    return list(data.get("releases") or [])


def push_sample_images(server: RegistryServer) -> dict[str, str]:
    """Images pushed through the OCI upload API: api single-arch, web multi-arch."""
    digests = {
        "api:1.0.0": push_image(server, "demo/api", "1.0.0", content=b"api 1.0.0"),
        "api:1.1.0": push_image(server, "demo/api", "1.1.0", content=b"api 1.1.0"),
        "api:1.2.0": push_image(server, "demo/api", "1.2.0", content=b"api 1.2.0"),
        "web:2.0.0": push_multiarch(server, "demo/web", "2.0.0").index_digest,
    }
    for ref, digest in digests.items():
        print(f"pushed       : demo/{ref} -> {digest}")
    return digests


def start_readiness_endpoint() -> tuple[str, object, dict]:
    """A local service endpoint for the smoke step's HTTP readiness fallback; with
    `state["broken"]` it sends the check to another host, which a smoke check refuses."""
    import http.server
    import threading

    state = {"broken": False}

    class Ready(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 - http.server's naming
            body = b'{"status": "ready"}'
            if state["broken"]:
                self.send_response(302)
                self.send_header("Location", "http://broken.invalid/healthz")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self.send_response(200 if self.path == "/healthz" else 404)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Ready)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return f"http://127.0.0.1:{server.server_address[1]}/healthz", server, state


def git(*args: str, cwd: Path) -> str:
    return run("git", *args, cwd=cwd).stdout.strip()


def remote_pins(remote: Path) -> dict[str, str]:
    listing = subprocess.run(
        ["git", "--git-dir", str(remote), "ls-tree", "-r", "--name-only", "main", "envs/"],
        capture_output=True,
        text=True,
    ).stdout.split()
    pins = {}
    for path in listing:
        if not path.endswith(".yaml"):
            continue
        text = subprocess.run(
            ["git", "--git-dir", str(remote), "show", f"main:{path}"],
            capture_output=True,
            text=True,
        ).stdout
        image = next(
            (
                line.split(":", 1)[1].strip()
                for line in text.splitlines()
                if line.startswith("image:")
            ),
            None,
        )
        if image:
            env = Path(path).parent.name
            pins[Path(path).stem if env == "dev" else f"{Path(path).stem}@{env}"] = image
    return pins


def promote_with_daemon(
    clone: Path, remote: Path, dagster_home: Path, env: dict, image: str
) -> None:
    """The sensor path: enqueue by pushing, let dagster-daemon pin it, then stop the daemon."""
    before = remote_pins(remote).get("api")
    factory(
        "release",
        "add",
        "api",
        "--tag",
        "1.1.0",
        "--image",
        image,
        "--by",
        "demo",
        "--push",
        "--repo",
        str(clone),
        env=env,
    )
    daemon = start_daemon(dagster_home, {**env, "FACTORY_REPO": str(clone)}, DEMO / "daemon.log")
    print(f"$ dagster-daemon run -w workspace.yaml   (log: {DEMO / 'daemon.log'})")
    started = time.monotonic()
    try:
        while time.monotonic() - started < 180:
            pin = remote_pins(remote).get("api")
            if pin and pin != before and promotion_runs_done(dagster_home):
                # Stop only once the run is over: killing the daemon while lane_pin or
                # smoke_result still runs would interrupt it before its evidence lands.
                print(
                    f"  sensor path: api pinned by the daemon in {time.monotonic() - started:.1f} s -> {pin}"
                )
                break
            time.sleep(1)
        else:
            raise SystemExit(
                "the daemon did not pin api (and finish its run) within 180 s; see .demo/daemon.log"
            )
    finally:
        daemon.stop(timeout=30)


def promotion_runs_done(dagster_home: Path) -> bool:
    """Whether the daemon launched a promote_service run and every such run has finished."""
    import dagster as dg  # the demo's own process reads the instance the daemon writes

    with dg.DagsterInstance.from_config(str(dagster_home)) as instance:
        runs = instance.get_runs(filters=dg.RunsFilter(job_name="promote_service"))
    return bool(runs) and all(run.is_finished for run in runs)


def materialize(
    clone: Path, dagster_home: Path, selection: str, partition: str | None = None
) -> None:
    args = [
        str(BIN / "dagster"),
        "asset",
        "materialize",
        "-m",
        "factory_assets.definitions",
        "--select",
        selection,
    ]
    if partition:
        args += ["--partition", partition]
    env = {"DAGSTER_HOME": str(dagster_home), "FACTORY_REPO": str(clone)}
    proc = run(*args, cwd=ROOT, env=env, check=False, quiet=True)
    if proc.returncode != 0 or "RUN_SUCCESS" not in proc.stdout + proc.stderr:
        raise SystemExit(f"dagster materialize of {selection} failed")


def main() -> int:
    gitops = make_gitops_repo()
    remote, clone = gitops.bare, gitops.clone
    dagster_home = shipped_dagster_home(DEMO / "dagster_home")
    registry, env = start_registry()
    endpoint, endpoint_server, endpoint_state = start_readiness_endpoint()
    try:
        push_sample_images(registry)
        api, web = registry.image("demo/api"), registry.image("demo/web")

        print("\n== 1. release requests, promoted by the CLI ==")
        # The user owns the smoke settings of api: a readiness URL, committed before any pin.
        (clone / "envs" / "dev" / "api.yaml").write_text(
            f"# api in dev. The factory writes image/tag/release_id/promoted_at; the rest is ours.\n"
            f"service: api\nsmoke:\n  url: {endpoint}  # readiness fallback\n  timeout_seconds: 20\n"
        )
        git("add", "envs/dev/api.yaml", cwd=clone)
        git("commit", "-q", "-m", "api: smoke via readiness endpoint", cwd=clone)
        git("push", "-q", "origin", "main", cwd=clone)
        factory(
            "release",
            "add",
            "api",
            "--tag",
            "1.0.0",
            "--image",
            api,
            "--by",
            "demo",
            "--push",
            "--repo",
            str(clone),
            env=env,
        )
        factory(
            "release",
            "add",
            "web",
            "--tag",
            "2.0.0",
            "--image",
            web,
            "--by",
            "demo",
            "--push",
            "--repo",
            str(clone),
            env=env,
        )
        factory("promote", "--dry-run", "--repo", str(clone), env=env)
        factory("promote", "--repo", str(clone), env=env)
        factory("release", "status", "--repo", str(clone), env=env)

        print("\n== 2. the sensor path: dagster-daemon picks up a pushed request ==")
        promote_with_daemon(clone, remote, dagster_home, env, api)

        print("\n== 3. smoke checks of the current pins ==")
        smoke = factory("smoke", "--repo", str(clone), "--timeout", "20", env=env, check=False)
        if smoke.returncode not in (0, 1):
            raise SystemExit("factory smoke failed to run")

        print("\n== 4. automatic rollback: a confirmed broken pin goes back by itself ==")
        rolled_back = roll_back_by_itself(clone, env, api, endpoint_state)

        print("\n== 5. from dev to prod: soak, smoke gate, approval, replication ==")
        pipeline = carry_to_prod(clone, env, endpoint)

        print("\n== 6. evidence: validate, collect, materialize ==")
        git("pull", "-q", "--ff-only", cwd=clone)
        factory("evidence", "validate", "--repo", str(clone))
        factory(
            "evidence",
            "collect",
            "--repo",
            str(clone),
            "--out",
            str(clone / "evidence" / "index.json"),
        )
        materialize(clone, dagster_home, "evidence_index")

        print("\n== 7. the dashboard, published to the demo remote's gh-pages ==")
        site_dir = DEMO / "site"
        factory("site", "build", "--out", str(site_dir), "--repo", str(clone))
        factory("site", "publish", "--build-dir", str(site_dir), "--repo", str(clone))
    finally:
        registry.stop()
        endpoint_server.shutdown()

    index = json.loads((clone / "evidence" / "index.json").read_text())
    print()
    print("== factory demo summary ==")
    for service, image in sorted(remote_pins(remote).items()):
        print(f"pinned       : {service:8} {image}")
    print(
        f"smoke        : {smoke.stdout.strip().splitlines()[-1] if smoke.stdout.strip() else 'no output'}"
    )
    for step, record in rolled_back.items():
        print(f"auto rollback: {step:18} record {record}")
    for step, record in pipeline.items():
        print(f"dev -> prod  : {step:18} record {record}")
    print(
        f"evidence     : {index['record_count']} record(s), merkle root {index['checkpoint']['root'][:16]}…"
    )
    print(f"gitops clone : {clone}  (remote {remote})")
    print(
        f"dashboard    : {BIN}/python -m http.server -d {site_dir} 8000   then open http://127.0.0.1:8000/"
    )
    print(f"gh-pages     : git --git-dir {remote} log --oneline gh-pages")
    print(
        f"open the UI  : DAGSTER_HOME={dagster_home} FACTORY_REPO={clone} {BIN}/dagster dev -w workspace.yaml"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
