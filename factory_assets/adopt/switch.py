"""The order of the switch from the legacy runners to the factory's, and how to roll it back.

Written into the plan (so into the commit message and the pull request), built from what this
repository has: the CronJobs it suspends, the runtime it adds per cluster (Dagster or
CronJobs), its workflows, the held services. Two promoters must never take turns on one queue
unnoticed, so the order says when each stops and starts.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Cutover:
    """The facts the order depends on."""

    branch: str
    suspended: Sequence[str]  # legacy CronJob names that get `suspend: true`
    runners: Sequence[str]  # the factory runtime manifests added in the cluster folders
    workflows: bool  # adopted workflows run in the factory image too
    factory_image: str
    image_given: bool  # --factory-image named it (else the factory's published default)
    held: bool  # some service is on hold in factory.yaml
    runtime: str = "cronjob"  # "dagster": a Deployment per cluster; "cronjob": CronJobs
    claims: Sequence[str] = ()  # the PVCs the Dagster runtime asks for
    webservers: Sequence[str] = ()  # `kubectl ... port-forward` lines for the Dagster UIs


def switch_order(cut: Cutover) -> list[str]:
    """Numbered steps, in the order they must happen."""
    steps = []
    clusters = {path.split("/", 1)[0] for path in cut.runners}
    where = {1: "the cluster", 2: "both clusters"}.get(
        len(clusters), f"all {len(clusters)} clusters"
    )
    users = [
        what for what, used in ((where, cut.runners), ("GitHub Actions", cut.workflows)) if used
    ]
    if users:
        named = "" if cut.image_given else ", or rerun adopt with --factory-image naming your build"
        steps.append(
            f"Before merging: make sure the factory image {cut.factory_image} "
            f"(deploy/Dockerfile) can be pulled from {' and '.join(users)}{named}."
            + (
                f" Each cluster needs a default StorageClass for the PVC {', '.join(cut.claims)} "
                "(else set `storageClassName` in it)."
                if cut.claims
                else ""
            )
        )
    label = " with the `platform-admin` label (it changes cluster manifests)" if cut.runners else ""
    steps.append(
        f"Push {cut.branch} and open the pull request{label}; the plan is its description."
    )
    started = ", ".join(cut.runners) if cut.runners else "runners"
    how = (
        f"the factory's Dagster ({started}) starts: each daemon's sensors run from the start"
        if cut.runtime == "dagster"
        else f"the factory's CronJobs {started} start"
    )
    if cut.suspended:
        steps.append(
            "Merge. In the same Argo CD sync the legacy "
            + ("CronJobs " if len(cut.suspended) > 1 else "CronJob ")
            + ", ".join(cut.suspended)
            + f" stop{'s' if len(cut.suspended) == 1 else ''} scheduling (`suspend: true`; selfHeal keeps them so) and {how}, each "
            "cluster for its own environments. A legacy Job already running finishes its pass; "
            "the factory claims each entry and pushes with compare-and-swap, so that overlap "
            "costs a retry, never an entry. A factory pass (a CronJob's or a Dagster run's) "
            "refuses to start while the repository still schedules an unsuspended legacy "
            "promoter, so the order cannot be reversed."
        )
    else:
        steps.append(f"Merge; {how}.")
    check = (
        "Check: `factory release status` lists every lane, and the dashboard's queue health "
        "matches evidence/metrics/queue-health.json."
    )
    if cut.webservers:
        check += " The Dagster UI of each cluster shows the sensors running: " + "; ".join(
            cut.webservers
        )
        check += "."
    steps.append(check)
    if cut.held:
        steps.append("Lift the holds in factory.yaml when the hand pins may be replaced.")
    return steps


def rollback_steps(cut: Cutover) -> list[str]:
    """How to undo the switch: one revert, and what it brings back."""
    removed = (
        "removes the factory's Dagster (Deployment, Service, ConfigMap and the PVC: the run "
        "history goes with it, the evidence stays in git)"
        if cut.runtime == "dagster"
        else "removes the factory's CronJobs"
    )
    return [
        "Revert the merge (`git revert -m 1 <merge>`) in a pull request with the same label.",
        f"Argo CD resumes the legacy CronJobs and {removed}; the legacy records return to "
        "evidence/records/; any factory pass still scheduled elsewhere refuses to start while "
        "a legacy promoter is live.",
        "Queue entries the factory touched keep their shape (its state is under "
        "meta.factory, which the legacy scripts keep), and its JSON records are ignored by "
        "the legacy evidence scripts.",
    ]
