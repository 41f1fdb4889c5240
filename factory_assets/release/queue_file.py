"""Load and save the release queue, in whatever format the repository keeps it.

`factory.yaml` names the format and `layout.queue_codecs` picks its codec
(`release.queue_codec`): the factory's own `releases:` list, or the four-list queue. Every
reader and writer comes through here, so nothing above knows which format the file has.
Saving checks that the text reads back as the queue that was meant, then writes it
atomically; comments and hand formatting survive (each codec edits the text in place).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import replace
from pathlib import Path

from factory_assets.common import roundtrip_yaml
from factory_assets.layout.config import load_layout
from factory_assets.layout.queue_codecs import queue_codec, queue_codec_of
from factory_assets.release.model import ReleaseQueue
from factory_assets.release.queue_codec import QueueCodec, QueueDocument

__all__ = ["QueueDocument", "load_queue", "queue_codec_of", "queue_relpath", "save_queue"]


def queue_relpath(repo: Path) -> str:
    """The queue file of this repository (factory.yaml `queue.path`, else release/queue.yaml)."""
    return load_layout(repo).queue_path


def load_queue(repo: Path, codec: QueueCodec | None = None) -> QueueDocument:
    """Read the queue in the repository's format (a missing file is an empty queue)."""
    codec = codec or queue_codec(load_layout(repo))
    path = Path(repo) / codec.path
    text = roundtrip_yaml.read_text(path) if path.exists() else codec.empty_text
    return _SAVED.get(path, text) or codec.parse(path, text)


class _SavedDocuments:
    """The documents this process last wrote, by path: a pass loads the queue once per
    commit, and the text it loads is usually the text it just saved and parsed back.

    Keyed by the exact text, so a file changed by anyone else is parsed afresh; the parsed
    values are shared read-only, each load gets its own `QueueDocument`.
    """

    def __init__(self, size: int = 8) -> None:
        self._size = size
        self._docs: OrderedDict[Path, QueueDocument] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, path: Path, text: str) -> QueueDocument | None:
        with self._lock:
            doc = self._docs.get(path.resolve())
        return replace(doc) if doc is not None and doc.text == text else None

    def put(self, doc: QueueDocument) -> None:
        key = doc.path.resolve()
        with self._lock:
            self._docs.pop(key, None)
            self._docs[key] = doc
            while len(self._docs) > self._size:
                self._docs.popitem(last=False)


_SAVED = _SavedDocuments()


def save_queue(
    doc: QueueDocument, queue: ReleaseQueue, invalid_updates: dict[int, dict] | None = None
) -> None:
    """Write the queue atomically; a reload must give back exactly `queue`."""
    codec = doc.codec
    text = codec.render(doc, queue, invalid_updates)
    written = codec.parse(doc.path, text)
    back = {e.id: e for e in written.queue.entries}
    if any(back.get(e.id) != codec.comparable(e) for e in queue.entries):
        # A bug guard: never write a queue that reads back different from what was meant.
        raise RuntimeError(f"{doc.path}: rendered queue does not read back the same")
    doc.path.parent.mkdir(parents=True, exist_ok=True)
    roundtrip_yaml.write_text(doc.path, text)
    _SAVED.put(written)
