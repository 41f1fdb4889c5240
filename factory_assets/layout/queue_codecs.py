"""Which codec reads a repository's queue: the one place a queue format is known by name."""

from __future__ import annotations

from pathlib import Path

from factory_assets.layout.config import Layout, load_layout
from factory_assets.release.queue_codec import QueueCodec


def queue_codec(layout: Layout) -> QueueCodec:
    """The codec of `factory.yaml`'s `queue.format` (absent: the factory's `releases:` list)."""
    if layout.queue_format == "four-lists":
        from factory_assets.layout.four_list_codec import FourLists

        return FourLists(layout.queue_path)
    from factory_assets.release.releases_list import ReleasesList

    return ReleasesList(layout.queue_path)


def queue_codec_of(repo: Path) -> QueueCodec:
    """The codec of the repository at `repo` (its factory.yaml read now)."""
    return queue_codec(load_layout(repo))
