"""The UI path: Materialize lane_pin for a partition through dagster-webserver's GraphQL API."""

from __future__ import annotations

import httpx
import pytest

from factory_assets.pins.pin_file import read_pin
from factory_assets.release.add import add_release
from tests.support.dagster_daemon import free_port, start_webserver, wait_for
from tests.support.oci import push_image

pytestmark = pytest.mark.slow

LAUNCH = """
mutation Launch($params: ExecutionParams!) {
  launchPipelineExecution(executionParams: $params) {
    __typename
    ... on LaunchRunSuccess { run { runId } }
    ... on PythonError { message }
    ... on InvalidSubsetError { message }
    ... on RunConfigValidationInvalid { errors { message } }
  }
}
"""
STATUS = """
query Status($runId: ID!) { runOrError(runId: $runId) { __typename ... on Run { status } } }
"""
FAILURES = """
query Failures($runId: ID!) {
  logsForRun(runId: $runId) {
    __typename
    ... on EventConnection {
      events {
        __typename
        ... on ExecutionStepFailureEvent { error { message } }
        ... on RunFailureEvent { message }
      }
    }
  }
}
"""
ADD_PARTITION = """
mutation Add($selector: RepositorySelector!, $name: String!, $key: String!) {
  addDynamicPartition(repositorySelector: $selector, partitionsDefName: $name, partitionKey: $key) { __typename }
}
"""


def graphql(client: httpx.Client, query: str, variables: dict) -> dict:
    response = client.post("/graphql", json={"query": query, "variables": variables})
    response.raise_for_status()
    body = response.json()
    assert "errors" not in body, body
    return body["data"]


def test_materialize_lane_pin_partition_through_graphql(
    tmp_path, registry, unique_repo, harbor_env, gitops_remote
):
    env = harbor_env(registry)
    digest = push_image(registry, unique_repo, "3.1.0")
    add_release(
        gitops_remote.new_clone("dev"),
        service="api",
        tag="3.1.0",
        image=registry.image(unique_repo),
        requested_by="dev",
        push=True,
    )
    home = tmp_path / "dagster_home"
    home.mkdir()
    # The default run coordinator launches from the webserver itself: no daemon, so no sensor races the UI.
    (home / "dagster.yaml").write_text(
        "telemetry:\n  enabled: false\n"
        "run_coordinator:\n  module: dagster._core.run_coordinator\n  class: DefaultRunCoordinator\n"
    )
    port = free_port()
    server = start_webserver(
        home, {**env, "FACTORY_REPO": str(gitops_remote.clone)}, tmp_path / "web.log", port
    )
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
            wait_for(lambda: _up(client), 90, what=lambda: f"webserver\n{server.log()[-2000:]}")
            selector = {"repositoryLocationName": "factory", "repositoryName": "__repository__"}
            graphql(client, ADD_PARTITION, {"selector": selector, "name": "services", "key": "api"})
            graphql(client, ADD_PARTITION, {"selector": selector, "name": "envs", "key": "dev"})
            params = {
                "selector": {
                    **selector,
                    "jobName": "__ASSET_JOB",
                    "assetSelection": [{"path": ["digest_preview"]}, {"path": ["lane_pin"]}],
                },
                "executionMetadata": {
                    "tags": [
                        {"key": "dagster/partition", "value": "dev|api"},
                        {"key": "dagster/partition/env", "value": "dev"},
                        {"key": "dagster/partition/service", "value": "api"},
                    ]
                },
                "mode": "default",
            }
            launched = graphql(client, LAUNCH, {"params": params})["launchPipelineExecution"]
            assert launched["__typename"] == "LaunchRunSuccess", launched
            run_id = launched["run"]["runId"]
            status = wait_for(
                lambda: _finished(client, run_id),
                150,
                what=lambda: f"run {run_id}\n{server.log()[-3000:]}",
            )
            assert status == "SUCCESS", graphql(client, FAILURES, {"runId": run_id})
    finally:
        server.stop()
    assert read_pin(gitops_remote.new_clone("check"), "api").pin.image.endswith("@" + digest)


def _up(client: httpx.Client) -> bool:
    try:
        return client.get("/server_info").status_code == 200
    except httpx.HTTPError:
        return False


def _finished(client: httpx.Client, run_id: str) -> str | None:
    status = graphql(client, STATUS, {"runId": run_id})["runOrError"].get("status")
    if status == "QUEUED":
        raise AssertionError("run stayed QUEUED: the instance should launch runs directly")
    return status if status in ("SUCCESS", "FAILURE", "CANCELED") else None
