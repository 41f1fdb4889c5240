"""A published checkpoint history for benchmarks: `count` checkpoints spread over the records."""

from __future__ import annotations

from factory_assets.evidence.checkpoints import Checkpoint
from factory_assets.evidence.merkle import leaf_hash
from factory_assets.evidence.proofs import MerkleLevels


def history_for(digests: list[str], count: int) -> list[Checkpoint]:
    """Checkpoints at evenly spaced sizes up to the whole tree, as `count` publications would leave."""
    levels = MerkleLevels([leaf_hash(d) for d in digests])
    sizes = sorted({max(1, len(digests) * n // count) for n in range(1, count + 1)})
    return [
        Checkpoint(
            size, levels.root(size).hex(), None, f"2026-01-01T00:{n // 60:02d}:{n % 60:02d}Z"
        )
        for n, size in enumerate(sizes)
    ]
