"""The plan's "Runtime per cluster" section: what runs where, for which environments, at what cost.

Figures come from the manifests themselves (their requests and limits), for the runtime chosen
and the other one, so the reviewer weighs the two on this repository's clusters.
"""

from __future__ import annotations

from factory_assets.adopt.clusters import Cluster
from factory_assets.adopt.pods import Footprint, RuntimeFile
from factory_assets.adopt.runners import Runtime, cluster_runtime


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _where(cluster: Cluster) -> str:
    applied = f"Argo CD Application `{cluster.application}`" if cluster.application else ""
    namespace = f"namespace `{cluster.namespace}`" if cluster.namespace else ""
    extra = ", ".join(p for p in (applied, namespace) if p)
    return f"`{cluster.label}`" + (f" ({extra})" if extra else "")


def _targets(cluster: Cluster) -> str:
    if cluster.targets is None:
        return "none found (see Needs a human)"
    missing = (
        f"; no target for {len(cluster.missing_targets)} lanes" if cluster.missing_targets else ""
    )
    return f"`{cluster.targets}` ({cluster.targets_from}{missing})"


def _cost(files: list[RuntimeFile]) -> str:
    on = sum((f.footprint for f in files if f.always_on), Footprint())
    jobs = [f for f in files if not f.always_on]
    parts = []
    if any(f.always_on for f in files):
        parts.append(f"always on: {on.text()}")
    if jobs:
        each = " / ".join(sorted({f.footprint.text() for f in jobs}))
        parts.append(f"{len(jobs)} CronJobs, each Job while it runs: {each}")
    return "; ".join(parts)


def cluster_section(
    clusters: list[Cluster], added: dict[str, list[RuntimeFile]], runtime: Runtime, image: str
) -> list[str]:
    """Markdown lines: the table of clusters, then what each runtime costs and gives here."""
    other: Runtime = "cronjob" if runtime == "dagster" else "dagster"
    chosen = "Dagster" if runtime == "dagster" else "CronJob"
    switch = (
        "`factory adopt --runtime cronjob` adds CronJob runners instead"
        if runtime == "dagster"
        else "`factory adopt` without `--runtime` adds the factory's Dagster instead"
    )
    out = [
        f"Runtime: **{chosen}** ({switch}). Each cluster runs only the environments it deploys, "
        "promotion and smoke alike (its ENV_ALLOWLIST), so no runner records a verdict for an "
        f"environment it does not own. Image: {image}.",
        "",
        "| cluster | environments | runs | smoke targets | asks of the cluster |",
        "| --- | --- | --- | --- | --- |",
    ]
    for cluster in clusters:
        files = added.get(cluster.folder, [])
        runs = "; ".join(f"{f.what} (`{f.path}`)" for f in files)
        out.append(
            "| "
            + " | ".join(
                _cell(x)
                for x in (
                    _where(cluster),
                    f"{', '.join(cluster.envs)} ({cluster.envs_from})",
                    runs,
                    _targets(cluster),
                    _cost(files),
                )
            )
            + " |"
        )
    costs = {
        kind: [_cost(cluster_runtime(c, image, kind)) for c in clusters]
        for kind in (runtime, other)
    }
    dagster_cost = "; ".join(sorted(set(costs["dagster"])))
    cronjob_cost = "; ".join(sorted(set(costs["cronjob"])))
    out += [
        "",
        "What each runtime costs and gives, per cluster:",
        "",
        f"- **Dagster**{' (this plan)' if runtime == 'dagster' else ''}: a request pushed to the "
        "queue is promoted within ~5 s (`release_queue_sensor`), a replica within ~30 s of "
        "arriving (`harbor_sensor`), and smoke runs right after each pin and on every lane every "
        "15 minutes (`smoke_recheck_sensor`); a UI with lineage and "
        "run history (the webserver's Service); one pod, "
        f"{dagster_cost}, plus a PVC for the instance.",
        f"- **CronJob**{' (this plan)' if runtime == 'cronjob' else ''}: `factory promote` every "
        "5 minutes (push-to-pin up to 5 minutes) and `factory smoke` every 15; no UI and no "
        f"volume: the evidence in git is the only history; {cronjob_cost}.",
    ]
    return out
