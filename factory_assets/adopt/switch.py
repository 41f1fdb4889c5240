"""The order of the switch from the legacy runners to the factory's, and how to roll it back.

Written into the plan (so into the commit message and the pull request), built from what this
repository has: the CronJobs it suspends and adds, its workflows, the held services.
Two promoters must never take turns on one queue unnoticed, so the order says when each stops
and starts.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Cutover:
    """The facts the order depends on."""

    branch: str
    suspended: Sequence[str]  # legacy CronJob names that get `suspend: true`
    runners: Sequence[str]  # the factory runner manifests added beside them
    workflows: bool  # adopted workflows run in the factory image too
    factory_image: str
    image_given: bool  # --factory-image named it (else the factory's published default)
    held: bool  # some service is on hold in factory.yaml


def switch_order(cut: Cutover) -> list[str]:
    """Numbered steps, in the order they must happen."""
    steps = []
    users = [
        what
        for what, used in (("both clusters", cut.runners), ("GitHub Actions", cut.workflows))
        if used
    ]
    if users:
        named = "" if cut.image_given else ", or rerun adopt with --factory-image naming your build"
        steps.append(
            f"Before merging: make sure the factory image {cut.factory_image} "
            f"(deploy/Dockerfile) can be pulled from {' and '.join(users)}{named}."
        )
    label = " with the `platform-admin` label (it changes cluster manifests)" if cut.runners else ""
    steps.append(
        f"Push {cut.branch} and open the pull request{label}; the plan is its description."
    )
    if cut.suspended:
        steps.append(
            "Merge. In the same Argo CD sync the legacy CronJobs "
            + ", ".join(cut.suspended)
            + " stop scheduling (`suspend: true`; selfHeal keeps them so) and the factory's "
            + (", ".join(cut.runners) if cut.runners else "runners")
            + " start. A legacy Job already running finishes its pass; the factory's pass "
            "claims each entry and pushes with compare-and-swap, so that overlap costs a "
            "retry, never an entry. A factory pass refuses to start while the repository "
            "still schedules an unsuspended legacy promoter, so the order cannot be reversed."
        )
    else:
        steps.append("Merge; the factory's runners take over from the next pass.")
    steps.append(
        "Check: `factory release status` lists every lane, and the dashboard's queue health "
        "matches evidence/metrics/queue-health.json."
    )
    if cut.held:
        steps.append("Lift the holds in factory.yaml when the hand pins may be replaced.")
    return steps


def rollback_steps(cut: Cutover) -> list[str]:
    """How to undo the switch: one revert, and what it brings back."""
    return [
        "Revert the merge (`git revert -m 1 <merge>`) in a pull request with the same label.",
        "Argo CD resumes the legacy CronJobs and removes the factory's runners; the legacy "
        "records return to evidence/records/; any factory pass still scheduled elsewhere "
        "refuses to start while a legacy promoter is live.",
        "Queue entries the factory touched keep their shape (its state is under "
        "meta.factory, which the legacy scripts keep), and its JSON records are ignored by "
        "the legacy evidence scripts.",
    ]
