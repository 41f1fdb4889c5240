"""`factory smoke`: check that this runner's environments run their pins, deployed and healthy."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

from factory_assets.common.errors import InputError, UsageError
from factory_assets.config import resolve_repo

# The checks (httpx, GitPython) are imported by the handler: `--help` and a usage error
# need none of them.
if TYPE_CHECKING:
    from factory_assets.smoke.check import SmokeOutcome

DESCRIPTION = """\
Check each lane's current pin after deploy (a pin file envs/<env>/<service>.yaml with
its smoke block, or an overlay lane's entry in the smoke targets file, SMOKE_TARGETS),
and write the verdict as a `smoke` evidence record naming the lane's environment, whose
parent is the pin's promotion record in that environment.

Only this runner's environments are checked: FACTORY_ENVS (alias ENV_ALLOWLIST), which
--env narrows further. Each cluster runs its own runner against its own Argo CD; a lane of
another environment is not checked, and one line says so ("not checked here: ..."): it
writes nothing and does not change the exit status.

With smoke.argocd_app, Argo CD must have synced the commit that pinned the digest
(or a later one that still pins it), the sync operation must have Succeeded, health
must be fresh (reconciledAt >= operationState.finishedAt) and Healthy, and the pinned
digest must be among status.summary.images. Needs ARGOCD_URL and ARGOCD_TOKEN
(optionally ARGOCD_APP_NAMESPACE). Without an Argo CD app (or without ARGOCD_*
set), smoke.url must answer 2xx (optionally with smoke.expect's JSON field or header
equal to the digest or version). A pin without a smoke block is skipped, with its
reason recorded. An Argo CD that does not know the application (403/404) is an
operator's mistake, recorded as `not_found`: not a verdict on the pin.
"""

EPILOG = """\
exit status: 0 every checked lane passed or was skipped with a reason (lanes of other
environments are not checked and do not count); 1 any failed or timed out (a check that
could not judge the pin too: the runner needs fixing), or bad input; 2 usage error (an
--env outside FACTORY_ENVS too).
Per-service timing: smoke.timeout_seconds (default 600), smoke.interval_seconds (default 5).
"""


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    smoke = sub.add_parser(
        "smoke",
        parents=[common],
        help=(
            "post-deploy smoke checks of the pins in this runner's environments "
            "(FACTORY_ENVS), recorded as evidence"
        ),
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    smoke.add_argument(
        "--service",
        metavar="S",
        action="append",
        default=None,
        help="check only this service (repeatable; default: every service with a pin file "
        "or a smoke target)",
    )
    smoke.add_argument(
        "--env",
        metavar="ENV",
        action="append",
        default=None,
        help="check this environment (repeatable, within FACTORY_ENVS; default: the declared "
        "ones within FACTORY_ENVS, else dev)",
    )
    smoke.add_argument(
        "--timeout",
        metavar="SECONDS",
        type=_positive_seconds,
        default=None,
        help="give up on a service after this long (overrides smoke.timeout_seconds)",
    )
    smoke.set_defaults(func=_smoke)


def _positive_seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if not 0 < value <= 6 * 3600:
        raise argparse.ArgumentTypeError(f"must be > 0 and <= 21600 seconds, got {text}")
    return value


def _checked_envs(repo, names: list[str] | None) -> None:
    """Each `--env` is an environment name (else a usage error) the repository has."""
    if not names:
        return
    from factory_assets.layout.config import LAYOUT_FILE, check_env, load_layout

    layout = load_layout(repo)
    for name in names:
        try:
            check_env(name)
        except ValueError as exc:
            raise UsageError(f"--env: {exc}") from None
        if layout.environment(name) is None:
            declared = ", ".join(layout.env_names() or ())
            raise InputError(
                LAYOUT_FILE, "environments", f"{name!r} is not declared (declared: {declared})"
            )


def _smoke(args: argparse.Namespace) -> int:
    from factory_assets.smoke.landing import smoke_run_and_land

    repo = resolve_repo(args.repo)
    _checked_envs(repo, args.env)
    run = smoke_run_and_land(
        repo,
        args.service,
        timeout_seconds=args.timeout,
        log=lambda line: print(line, file=sys.stderr),
        environments=args.env,
    )
    outcomes = run.outcomes
    for outcome in outcomes:
        print(_line(outcome))
    not_checked = run.scope.not_checked_line()
    if not_checked:  # another cluster's lanes: no record, no commit, not a failure
        print(not_checked)
    if not outcomes:
        where = ", ".join(run.scope.envs) or "no environment"
        print(f"no service has a pin file or a smoke target in {where}: nothing to check")
        return 0
    failed = [o.service for o in outcomes if not o.ok]
    counts = {
        v: sum(o.verdict == v for o in outcomes) for v in ("passed", "skipped", "failed", "timeout")
    }
    print(
        ", ".join(f"{n} {v}" for v, n in counts.items() if n)
        + (f"; not ok: {', '.join(failed)}" if failed else "")
    )
    return 1 if failed else 0


def _line(outcome: SmokeOutcome) -> str:
    """One service's verdict and its kind (`failed (drift)`), naming the record that says so:
    this check's own, or the earlier one that found the same (no news, nothing written)."""
    seconds = outcome.duration_ms / 1000
    said = outcome.verdict
    if outcome.kind and outcome.kind != outcome.verdict:
        said += f" ({outcome.kind})"
    record = f"record {outcome.record.id}"
    if not outcome.recorded:
        record = f"unchanged since {record}"
    from factory_assets.layout.config import DEFAULT_ENV

    lane = outcome.service if outcome.env == DEFAULT_ENV else f"{outcome.service}@{outcome.env}"
    return f"{lane}: {said} [{outcome.method}, {seconds:.1f} s, {record}] {outcome.reason}"
