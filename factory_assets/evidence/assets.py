"""Dagster layer for evidence: the `evidence_index` asset and the records check.

Collection and validation are imported in the bodies: the definitions load them only when
a run collects or checks.
"""

import dagster as dg

from factory_assets.dagster_resources import GitOpsRepo


@dg.asset(
    group_name="evidence",
    description="evidence/index.json: counts, latest state per service and the Merkle checkpoint of all records.",
    kinds={"json"},
)
def evidence_index(context: dg.AssetExecutionContext, gitops: GitOpsRepo) -> dg.MaterializeResult:
    from factory_assets.evidence.collect import collect_index

    result = collect_index(gitops.resolve())
    context.log.info(f"collected {result.record_count} records ({result.new_records} new)")
    return dg.MaterializeResult(
        metadata={
            "record_count": result.record_count,
            "merkle_root": result.root,
            "tree_size": result.tree_size,
            "new_records": result.new_records,
            "incremental": result.incremental,
            "path": dg.MetadataValue.path(str(result.path)),
        },
        data_version=dg.DataVersion(f"{result.tree_size}:{result.root}"),
    )


@dg.asset_check(
    asset=evidence_index, description="Every record matches the schema, its digest and the chain."
)
def evidence_records_valid(gitops: GitOpsRepo) -> dg.AssetCheckResult:
    from factory_assets.evidence.validate import validate_repo

    count, problems = validate_repo(gitops.resolve())
    return dg.AssetCheckResult(
        passed=not problems,
        metadata={
            "records": count,
            "problems": len(problems),
            "first_problems": dg.MetadataValue.md(
                "\n".join(f"- `{p}`" for p in problems[:20]) or "none"
            ),
        },
    )


evidence_assets = [evidence_index]
evidence_checks = [evidence_records_valid]
