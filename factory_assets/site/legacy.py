"""What an `imported` record says about a deployment the repository made before the factory.

`factory adopt` keeps each legacy YAML record whole under `details.content`. The legacy
promoter wrote one per promotion (`deploy.syncedAt` is its promotion time, a top-level
`promotedAt` another spelling of it; `deploy.queueId` its queue entry; `image.deployed` what
the overlay then pointed at), and the smoke job noted its verdict in it (`tests.smoke.status`
`pass`/`fail`, at `checkedAt`, else `deploy.smokedAt`). The dashboard counts these as
deployments at their own times, so an adopted repository's figures include its past.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

from factory_assets.common.clock import rfc3339

_DIGEST = re.compile(r"@(sha256:[a-f0-9]{64})$")
_VERDICTS = {"pass": "passed", "fail": "failed"}


def _mapping(value: object) -> dict:
    return value if isinstance(value, dict) else {}


def _text(value: object) -> str | None:
    return value.strip() if isinstance(value, str) and value.strip() else None


def _time(value: object) -> str | None:
    """A legacy timestamp as the records' RFC 3339 form (naive: UTC); None when unreadable."""
    text = _text(value)
    if text is None:
        return None
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return rfc3339(moment if moment.tzinfo else moment.replace(tzinfo=UTC))


def legacy_deployment(record: dict) -> dict | None:
    """The deployment an `imported` record describes, or None when it describes none (a file
    that did not parse, or one without a service, an environment or a promotion time).

    `{service, env, at, release_id, digest, check: {verdict, at} | None}`.
    """
    details = _mapping(record.get("details"))
    content = _mapping(details.get("content"))
    deploy = _mapping(content.get("deploy"))
    service = record.get("service")
    env = _text(details.get("env"))
    at = _time(deploy.get("syncedAt")) or _time(content.get("promotedAt"))
    if not service or env is None or at is None:
        return None
    deployed = _DIGEST.search(_text(_mapping(content.get("image")).get("deployed")) or "")
    smoke = _mapping(_mapping(content.get("tests")).get("smoke"))
    verdict = _VERDICTS.get(_text(smoke.get("status")) or "")
    checked = _time(smoke.get("checkedAt")) or _time(deploy.get("smokedAt"))
    return {
        "service": service,
        "env": env,
        "at": at,
        "release_id": _text(deploy.get("queueId")),
        "digest": deployed[1] if deployed else None,
        "check": {"verdict": verdict, "at": checked} if verdict and checked else None,
    }
