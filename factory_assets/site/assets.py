"""Dagster layer for the dashboard: `pages_site` builds the site and publishes it to gh-pages.

The site build and publisher are imported in the asset body: the definitions load them only
when a run publishes.
"""

import tempfile
from pathlib import Path

import dagster as dg

from factory_assets.common import settings
from factory_assets.dagster_resources import GitOpsRepo


class PagesSiteConfig(dg.Config):
    """Empty values fall back to FACTORY_PAGES_REMOTE / FACTORY_PAGES_BRANCH, then origin / gh-pages;
    an empty evidence_branch to the publisher's (main)."""

    remote: str = ""
    branch: str = ""
    evidence_branch: str = ""
    record: bool = True


@dg.asset(
    deps=[dg.AssetKey("evidence_index")],
    group_name="evidence",
    description="The evidence dashboard, built from the records and committed to the root of gh-pages.",
    kinds={"html"},
)
def pages_site(
    context: dg.AssetExecutionContext, config: PagesSiteConfig, gitops: GitOpsRepo
) -> dg.MaterializeResult:
    from factory_assets.site.build import build_site
    from factory_assets.site.publish import EVIDENCE_BRANCH, publish_site

    repo = gitops.resolve()
    remote = config.remote or settings.FACTORY_PAGES_REMOTE.get()
    branch = config.branch or settings.FACTORY_PAGES_BRANCH.get()
    with tempfile.TemporaryDirectory(prefix="factory-site-") as tmp:
        build = build_site(repo, Path(tmp) / "site")
        result = publish_site(
            repo,
            build.out_dir,
            remote=remote,
            branch=branch,
            evidence_branch=(config.evidence_branch or EVIDENCE_BRANCH) if config.record else None,
            run_id=context.run.run_id,
        )
    if result.record_error:
        context.log.error(f"site published but not recorded: {result.record_error}")
    context.log.info(
        f"{branch}: {result.site_commit} ({'pushed' if result.pushed else 'unchanged'}), "
        f"{result.tree_size} records"
    )
    return dg.MaterializeResult(
        metadata={
            "site_commit": result.site_commit or "",
            "pushed": result.pushed,
            "tree_size": result.tree_size,
            "merkle_root": result.merkle_root,
            "branch": branch,
            "attempts": result.attempts,
            "pages_record_id": result.record_id or "",
            "record_error": result.record_error or "",
            "site_bytes": build.bytes,
        },
        data_version=dg.DataVersion(f"{result.tree_size}:{result.merkle_root}"),
    )


site_assets = [pages_site]
