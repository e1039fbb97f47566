"""Cancellation for waits running in worker threads: Ctrl-C in the main thread sets it, and
every wait loop sleeps on it, so teardown starts at once instead of after the longest timeout."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, wait

from labctl.errors import LabctlError

_EVENT = threading.Event()
MAX_PARALLEL = 8


class Cancelled(LabctlError):
    pass


def cancel() -> None:
    _EVENT.set()


def reset() -> None:
    _EVENT.clear()


def sleep(seconds: float) -> None:
    """time.sleep that ends early, raising Cancelled, once cancel() is called."""
    if _EVENT.wait(seconds):
        raise Cancelled("cancelled")


def run_parallel(jobs: list[Callable[[], None]]) -> None:
    """Run jobs at once; raise the first failure (by job order) after all have finished."""
    if not jobs:
        return
    with ThreadPoolExecutor(max_workers=min(MAX_PARALLEL, len(jobs))) as pool:
        futures = [pool.submit(job) for job in jobs]
        try:
            wait(futures)
        except BaseException:
            cancel()  # Ctrl-C: let every worker's wait end now
            raise
    first = next((exc for f in futures if (exc := f.exception()) is not None), None)
    if first is not None:
        raise first
