"""A parallel map: one function over many batches on every core, the calling process included.

Built for many small items (evidence validate and collect read 100k files at ~10 µs each of
system calls, parsing and hashing). Forked helpers and the caller take batch numbers from one
shared counter, so a slow process never holds up the end, and the caller's own share never
crosses a pipe. Helpers send each batch's result as it is done; a thread per helper receives
them while the caller works, so the transfer overlaps the work instead of following it.
"""

from __future__ import annotations

import multiprocessing
import os
import threading
import traceback
from collections.abc import Callable, Sequence
from typing import TypeVar

from factory_assets.common.errors import FactoryError

B = TypeVar("B")
R = TypeVar("R")


class HelperProcessError(FactoryError):
    """A helper process failed or died (killed, out of memory); says which and how."""


def default_workers() -> int:
    """Processes to use, the caller included: the cores this process may run on, at most 4."""
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cores = os.cpu_count() or 1
    return max(1, min(cores, 4))


# Below this many items (of ~10 µs each) one process is faster than forking helpers.
PARALLEL_FROM = 4000
# Batches per process: a process that falls behind takes fewer, so none holds up the end.
BATCHES_PER_PROCESS = 16
MIN_BATCH = 500


def plan_batches(names: list[str], workers: int | None = None) -> tuple[list[list[str]], int]:
    """Split names (record files, say) into batches, and say how many processes should take them."""
    workers = default_workers() if workers is None else workers
    if len(names) < PARALLEL_FROM:
        workers = 1
    size = max(MIN_BATCH, -(-len(names) // (workers * BATCHES_PER_PROCESS)))
    return [names[i : i + size] for i in range(0, len(names), size)], workers


def map_batches(fn: Callable[[B], R], batches: Sequence[B], workers: int | None = None) -> list[R]:
    """[fn(b) for b in batches], spread over `workers` processes; results in batch order."""
    workers = default_workers() if workers is None else workers
    if workers < 2 or len(batches) < 2:
        return [fn(batch) for batch in batches]
    ctx = multiprocessing.get_context("fork")  # helpers inherit fn and batches: nothing to pickle
    counter = ctx.RawValue("q", 0)
    lock = ctx.Lock()

    def take() -> int:
        with lock:
            number = counter.value
            counter.value = number + 1
        return number

    results: dict[int, R] = {}
    failures: list[str] = []
    helpers = []
    try:
        # Fork every helper before starting any thread: a fork copies only the calling thread.
        for _ in range(min(workers, len(batches)) - 1):
            receiver, sender = ctx.Pipe(duplex=False)
            process = ctx.Process(target=_helper, args=(fn, batches, take, sender), daemon=True)
            process.start()
            sender.close()
            # Results arrive while this process works on its own share: the transfer overlaps.
            thread = threading.Thread(
                target=_receive, args=(process, receiver, results, failures), daemon=True
            )
            helpers.append((process, receiver, thread))
        for _, _, thread in helpers:
            thread.start()
        while (number := take()) < len(batches):
            results[number] = fn(batches[number])
        for _, _, thread in helpers:
            thread.join()
        if failures:
            raise HelperProcessError("\n".join(failures))
        return [results[number] for number in range(len(batches))]
    finally:
        for process, receiver, thread in helpers:
            if process.is_alive():
                process.terminate()
            process.join()
            if thread.ident is not None:  # started
                thread.join()
            receiver.close()


def _receive(process, receiver, results: dict, failures: list[str]) -> None:
    """Collect one helper's results until it reports done; note why if it does not."""
    try:
        while True:
            message = receiver.recv()
            if message[0] == "done":
                return
            if message[0] == "error":
                failures.append(f"a helper process failed:\n{message[1]}")
                return
            _, number, result = message
            results[number] = result
    except (EOFError, OSError):
        process.join()
        failures.append(f"a helper process exited with code {process.exitcode} before reporting")


def _helper(fn, batches, take, sender) -> None:
    try:
        while (number := take()) < len(batches):
            sender.send(("ok", number, fn(batches[number])))
        message = ("done",)
    except BaseException:  # the parent re-raises it with this text; never hang it
        message = ("error", traceback.format_exc())
    try:
        sender.send(message)
    finally:
        sender.close()
        os._exit(0)  # skip the parent's atexit handlers and inherited cleanups
