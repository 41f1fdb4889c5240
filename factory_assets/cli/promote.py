"""`factory promote [--service S] [--env ENV]... [--dry-run] [--force]`: one promotion pass.

Exit 0 when every attempted promotion succeeded (or nothing was ready, or what is left waits
for replication); 1 when any failed, was refused or must be retried; 2 on a usage error.
`--env` (repeatable) limits the pass to those environments, within FACTORY_ENVS.
"""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

from factory_assets.common.clock import rfc3339
from factory_assets.common.errors import InputError, UsageError
from factory_assets.config import resolve_repo
from factory_assets.layout.config import DEFAULT_ENV, allowed_envs, check_env, load_layout

# The engine, the registry client (httpx) and GitPython are imported by the handler: a dry
# run plans without a registry, and `factory promote --help` needs none of them.
if TYPE_CHECKING:
    from factory_assets.promotion import PassResult, PromotionPlan
    from resources.registry.environments import EnvRegistries


def _envs_with_a_registry(
    registry: EnvRegistries, envs: frozenset[str] | None, declared: list[str] | None
) -> frozenset[str] | None:
    """The environments this runner can verify: a named one without a registry is an error;
    of all declared ones, those without a registry are left to a runner that has one."""
    from resources.registry import RegistryConfigError

    named = envs is not None
    candidates = sorted(envs) if named else (declared or [DEFAULT_ENV])
    usable = []
    for env in candidates:
        try:
            registry.for_env(env)
            usable.append(env)
        except RegistryConfigError as exc:
            if named or declared is None:
                registry.close()
                raise InputError("environment", exc.setting, exc.problem) from None
            print(
                f"factory: {env}: {exc.setting} {exc.problem}: left to a runner that has it",
                file=sys.stderr,
            )
    if not usable:
        registry.close()
        raise InputError("environment", "HARBOR_URL", "not set for any environment")
    return frozenset(usable) if (named or declared is not None) else envs


def lane_label(service: str, env: str) -> str:
    """`api` for the default environment, `api@prod` for another one."""
    return service if env == DEFAULT_ENV else f"{service}@{env}"


def selected_envs(requested: list[str] | None) -> frozenset[str] | None:
    """`--env` values within FACTORY_ENVS (None: every environment)."""
    allowed = allowed_envs()
    if not requested:
        return allowed
    for name in requested:
        try:
            check_env(name)
        except ValueError as exc:
            raise UsageError(f"--env: {exc}") from None
        if allowed is not None and name not in allowed:
            raise UsageError(f"--env {name}: not in FACTORY_ENVS ({', '.join(sorted(allowed))})")
    return frozenset(requested)


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    promote = sub.add_parser(
        "promote",
        parents=[common],
        help=(
            "one promotion pass: verify by digest, pin, commit and push, record "
            "evidence (--dry-run: its plan)"
        ),
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    promote.add_argument("--service", metavar="S", help="only this service")
    promote.add_argument(
        "--env",
        action="append",
        metavar="ENV",
        help="only this environment (repeatable; default: FACTORY_ENVS, else all)",
    )
    promote.add_argument(
        "--dry-run",
        action="store_true",
        help="print the plan (promote, supersede, wait) and change nothing",
    )
    promote.add_argument(
        "--force",
        action="store_true",
        help="promote services on hold or outside their promotion window (recorded as forced)",
    )
    promote.add_argument(
        "--by", metavar="NAME", help="who forces (recorded when --force passes a window)"
    )
    promote.add_argument(
        "--reason", metavar="TEXT", help="why (recorded when --force passes a window)"
    )
    promote.add_argument("--json", action="store_true", help="print JSON")
    promote.set_defaults(func=_promote)


def print_plan(plan: PromotionPlan) -> None:
    if not plan.services and not plan.invalid:
        print("nothing in the queue")
    for sp in plan.services:
        parts = []
        if sp.promote:
            parts.append(
                f"promote {sp.promote.id} ({sp.promote.reference})"
                + (" [forced past hold]" if sp.forced else "")
            )
        parts += [f"supersede {e.id} (by {sp.superseded_by})" for e in sp.supersede]
        parts += [f"abandon stale claim on {e.id} ({e.claimed_by})" for e in sp.abandon]
        parts += [f"record pinned {e.id}" for e in sp.recover]
        parts += [f"fail {e.id} (no attempts left)" for e in sp.exhausted]
        for w in sp.waiting:
            until = f" until {rfc3339(w.until)}" if w.until else ""
            parts.append(f"wait {w.entry.id} ({w.reason}{until})")
        parts += [f"refuse {e.id} ({sp.refusal})" for e in sp.refuse]
        label = lane_label(sp.service, sp.env)
        print(f"{label}: " + ("; ".join(parts) if parts else "nothing to do"))
    for bad in plan.invalid:
        print(f"release/queue.yaml: {bad.field}: {bad.problem} (would be marked failed)")


def print_result(result: PassResult) -> None:
    if not result.outcomes:
        print("nothing ready to promote")
    for o in result.outcomes:
        detail = []
        if o.digest:
            detail.append(o.digest)
        if o.tag:
            detail.append(f"tag {o.tag}")
        if o.commit:
            detail.append(f"commit {o.commit[:12]}")
        if o.superseded_by:
            detail.append(f"by {o.superseded_by}")
        if o.next_attempt_at:
            detail.append(f"next attempt {rfc3339(o.next_attempt_at)}")
        if o.evidence_id:
            detail.append(f"evidence {o.evidence_id}")
        if o.forced:
            detail.append("forced")
        if o.pin_proof:
            detail.append(o.pin_proof)
        if o.error:
            detail.append(o.error)
        label = lane_label(o.service, o.env)
        print(f"{label}  {o.release_id}  {o.result}  " + "  ".join(detail))
    if result.error:
        print(f"factory: error: {result.error}", file=sys.stderr)


def _promote(args: argparse.Namespace) -> int:
    repo = resolve_repo(args.repo)
    envs = selected_envs(args.env)
    if args.dry_run:
        from factory_assets.promotion import plan_pass

        plan = plan_pass(repo, service=args.service, force=args.force, fetch=True, envs=envs)
        if args.json:
            import json

            print(json.dumps(plan.to_dict(), indent=2))
        else:
            print_plan(plan)
        blocked = plan.invalid or any(sp.blocked for sp in plan.services)
        return 1 if blocked else 0
    from factory_assets.promotion import run_pass
    from factory_assets.promotion.pass_config import PassConfig
    from resources.gitops import GitopsWriter
    from resources.registry.environments import EnvRegistries

    config = PassConfig.from_env()  # the pass's settings, read here once
    layout = load_layout(repo)
    registry = EnvRegistries()
    envs = _envs_with_a_registry(registry, envs, layout.env_names())
    try:
        result = run_pass(
            repo,
            registry=registry,
            config=config,
            service=args.service,
            force=args.force,
            envs=envs,
            forced_by=args.by,
            forced_why=args.reason,
        )
    finally:
        registry.close()
    note = GitopsWriter(repo).update_checkout() if result.pushed else None
    if args.json:
        import json

        print(json.dumps({**result.to_dict(), "checkout": note}, indent=2))
    else:
        print_result(result)
        if note:
            print(note)
    return result.exit_code
