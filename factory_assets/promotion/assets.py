"""Dagster layer for promotion: `digest_preview` and `lane_pin`, one partition per (service, env).

Both call the engine; the engine's evidence record id and content digest go into the
metadata, so the asset lineage in the UI is the evidence chain. The engine is imported in
the asset bodies: the definitions load it only when a run materializes one of these.
"""

import dagster as dg

from factory_assets.dagster_resources import GitOpsRepo, HarborRegistry, PromotionSettings
from factory_assets.partitions import lane_of, lanes_partitions

PROMOTION_GROUP = "promotion"


def _links(context: dg.AssetExecutionContext, asset: str) -> dict:
    return {
        "dagster_run_id": context.run.run_id,
        "asset_key": asset,
        "partition": str(context.partition_key),
    }


@dg.asset(
    partitions_def=lanes_partitions,
    group_name=PROMOTION_GROUP,
    description="A preview: the digest on the environment's Harbor that the lane's next release (or its "
    "current pin) names, verified by hashing the manifest fetched with all four manifest media types. "
    "The pass does not read it (it verifies the digest again itself). Data version: the digest.",
    kinds={"oci"},
)
def digest_preview(
    context: dg.AssetExecutionContext, gitops: GitOpsRepo, harbor: HarborRegistry
) -> dg.MaterializeResult:
    from factory_assets.promotion.digest_view import digest_for_service
    from resources.registry import RegistryConfigError, RegistryError

    service, env = lane_of(context.partition_key)
    try:
        view = digest_for_service(gitops.resolve(), harbor.registries(), service, env)
    except RegistryConfigError as exc:  # no pass can succeed: say so, in one line
        raise dg.Failure(description=f"{service}: {exc}") from exc
    except RegistryError as exc:
        # Not a failed run: lane_pin must still run, so that the engine records the attempt and
        # applies its back-off and retry limit. Failing here would skip it, and the release
        # would stay pending with no attempt counted, for ever.
        context.log.warning(f"{service}: the registry did not resolve the digest: {exc}")
        return dg.MaterializeResult(
            metadata={"digest": "", "error": str(exc), "retryable": exc.retryable},
            data_version=dg.DataVersion("unresolved"),
        )
    except Exception as exc:  # a failed run must say what is wrong, in one line
        raise dg.Failure(description=f"{service}: {exc}") from exc
    return dg.MaterializeResult(
        metadata=view.metadata(),
        data_version=dg.DataVersion(view.digest or "none"),
    )


@dg.asset(
    partitions_def=lanes_partitions,
    deps=[digest_preview],
    group_name=PROMOTION_GROUP,
    description="The lane's pin on the remote (envs/<env>/<service>.yaml, or the overlay entry the service map "
    "names), by digest: one promotion pass for the lane (claim, verify on the env's registry, pin, commit "
    "and push with compare-and-swap, evidence).",
    kinds={"git"},
)
def lane_pin(
    context: dg.AssetExecutionContext,
    gitops: GitOpsRepo,
    harbor: HarborRegistry,
    promotion: PromotionSettings,
) -> dg.MaterializeResult:
    from factory_assets.promotion.digest_view import pinned_summary
    from factory_assets.promotion.promote_pass import run_pass

    service, env = lane_of(context.partition_key)
    result = run_pass(
        gitops.resolve(),
        registry=harbor.registries(),
        config=promotion.pass_config(),
        service=service,
        envs={env},
        links=_links(context, "lane_pin"),
    )
    mine = [o for o in result.outcomes if o.service == service and o.env == env]
    for outcome in mine:
        context.log.info(
            f"{service}: {outcome.release_id} -> {outcome.result}"
            + (f" ({outcome.error})" if outcome.error else "")
        )
    if result.error:
        raise dg.Failure(description=f"{service}: promotion pass failed: {result.error}")
    failed = [o for o in mine if o.attempted and o.result in ("failure", "refused", "retry")]
    if failed:
        worst = failed[-1]
        raise dg.Failure(
            description=f"{service}: release {worst.release_id} {worst.result}: {worst.error}",
            metadata={
                "release_id": worst.release_id or "",
                "result": worst.result,
                "attempt": worst.attempt,
                "next_attempt_at": worst.to_dict()["next_attempt_at"] or "",
                "evidence_id": worst.evidence_id or "",
            },
        )
    success = next((o for o in reversed(mine) if o.result == "success"), None)
    pinned = success.to_dict() if success else pinned_summary(gitops.resolve(), service, env)
    metadata = {
        "digest": pinned.get("digest") or "",
        "media_type": pinned.get("media_type") or "",
        "tag": pinned.get("tag") or "",
        "commit": pinned.get("commit") or "",
        "release_id": pinned.get("release_id") or "",
        "evidence_id": pinned.get("evidence_id") or "",
        "evidence_content_digest": pinned.get("evidence_digest") or "",
        "changed": success is not None,
        "superseded": [o.release_id for o in mine if o.result == "superseded"],
        "env": env,
        "waiting": [o.release_id for o in mine if o.result == "waiting"],
        # what a person must let through: `factory release approve ID --by NAME`
        "awaiting_approval": _awaiting_approval(result.plan, service, env),
        "window": _window_wait(result.plan, service, env),
    }
    return dg.MaterializeResult(
        metadata=metadata, data_version=dg.DataVersion(metadata["digest"] or "none")
    )


def _window_wait(plan, service: str, env: str) -> str:
    """A promotion window that holds the lane: "outside its window until Mon 08:00" (or "")."""
    lane = plan.for_service(service, env)
    held = lane is not None and lane.window is not None and lane.promote is None
    return lane.window.reason if held else ""


def _awaiting_approval(plan, service: str, env: str) -> list[str]:
    lane = plan.for_service(service, env)
    return [w.entry.id for w in (lane.waiting if lane else ()) if w.reason == "awaiting approval"]


# Renamed in this release: `dev_pin` pinned every environment's lane (now `lane_pin`), and
# `harbor_digest` was a preview the pass never reads (now `digest_preview`). Dagster has no
# key alias, so these specs keep the old keys in the catalog, where the materializations
# made before the rename stay readable; they go in the next release.
RENAMED = {"dev_pin": "lane_pin", "harbor_digest": "digest_preview"}
renamed_assets = [
    dg.AssetSpec(
        old,
        partitions_def=lanes_partitions,
        group_name="renamed",
        description=f"Renamed to `{new}`: this key keeps the materializations made before the "
        "rename; nothing materializes it any more, and it goes in the next release.",
    )
    for old, new in RENAMED.items()
]
promotion_assets = [digest_preview, lane_pin, *renamed_assets]
