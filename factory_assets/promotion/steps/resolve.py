"""Step 2: resolve each claim on its env's registry to a verified manifest digest (no git)."""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Literal

from factory_assets.pins.target import verified_image
from factory_assets.promotion.steps.results import Claim, Resolution
from resources.registry import HostNotAllowed, InvalidReference, ManifestNotFound, RegistryError
from resources.registry.environments import registry_for


def classify(error: RegistryError) -> tuple[Literal["retry", "failure", "refused"], bool]:
    """Retry what time can fix (5xx, timeouts, replication-lag 404); fail fast on the rest."""
    if isinstance(error, (HostNotAllowed, InvalidReference)):
        return "refused", False
    if error.retryable:
        return "retry", True
    return "failure", False


def resolve_digest(registry, item: Claim, *, exact: bool = False) -> Resolution:
    """Resolve the claimed entry on its env's registry: the tag once, or the digest exactly
    (always the digest when `exact`: a pin being recovered names it already).

    The pin target says which repository the digest is verified at (an overlay's
    `harborImage`, the replica that env pulls); the request's own repository (perhaps a
    public build registry) gets no request.
    """
    entry = item.entry
    try:
        client = registry_for(registry, entry.env)
        image = verified_image(entry, item.target, client.registry_host)
        if exact or entry.tag is None:
            resolved = client.resolve(image, digest=entry.digest)
        else:
            resolved = client.resolve(image, tag=entry.tag)
    except ManifestNotFound as exc:
        if item.replication_waits and not exact and entry.tag is None:
            return Resolution(item, error=str(exc), result="waiting", retryable=True)
        result, retryable = classify(exc)
        return Resolution(item, error=str(exc), result=result, retryable=retryable)
    except RegistryError as exc:
        result, retryable = classify(exc)
        return Resolution(
            item, error=str(exc) or type(exc).__name__, result=result, retryable=retryable
        )
    return Resolution(item, resolved=resolved)


def resolve_all(
    registry, claims: Sequence[Claim], *, concurrency: int = 4, exact: bool = False
) -> list[Resolution]:
    """Resolve every claim with a small bounded pool (the client also rate-limits itself)."""
    if len(claims) <= 1 or concurrency <= 1:
        return [resolve_digest(registry, c, exact=exact) for c in claims]
    with ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="resolve") as pool:
        return list(pool.map(lambda c: resolve_digest(registry, c, exact=exact), claims))
