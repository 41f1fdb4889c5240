"""The promotion engine: release queue entries become verified digest pins, pushed with evidence.

Public API (the CLI and the Dagster layer call these):
    plan_pass(repo, *, service=None, force=False, now=None, fetch=False) -> PromotionPlan
    run_pass(repo, *, registry, config=None, service=None, force=False, now=None, links=None)
        -> PassResult  (config: a PassConfig, built once where the pass starts)
    ready_services(queue, now, *, holds=None, force=False) -> list[str]
"""

from __future__ import annotations

import importlib

# Name -> the module that defines it, imported on first use (PEP 562): a dry run
# (`plan_pass`) reads and plans without the engine, the registry client or the evidence store.
_DEFINED_IN = {
    "PassResult": "outcome",
    "ServiceOutcome": "outcome",
    "PromotionPlan": "plan",
    "LanePlan": "plan",
    "plan_pass": "plan",
    "ready_services": "plan",
    "run_pass": "promote_pass",
}


def __getattr__(name: str) -> object:
    module = _DEFINED_IN.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value  # later lookups find it without this hook
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_DEFINED_IN})


__all__ = [
    "LanePlan",
    "PassResult",
    "PromotionPlan",
    "ServiceOutcome",
    "plan_pass",
    "ready_services",
    "run_pass",
]
