"""The promotion engine: release queue entries become verified digest pins, pushed with evidence.

Public API (the CLI and the Dagster layer call these):
    plan_pass(repo, *, service=None, force=False, now=None, fetch=False) -> PromotionPlan
    run_pass(repo, *, registry, service=None, force=False, now=None, links=None) -> PassResult
    ready_services(queue, now, *, holds=None, force=False) -> list[str]
"""

from factory_assets.promotion.outcome import PassResult, ServiceOutcome
from factory_assets.promotion.plan import PromotionPlan, ServicePlan, ready_services
from factory_assets.promotion.promote_pass import plan_pass, run_pass

__all__ = [
    "PassResult",
    "PromotionPlan",
    "ServiceOutcome",
    "ServicePlan",
    "plan_pass",
    "ready_services",
    "run_pass",
]
