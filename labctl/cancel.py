"""Cancellation for waits running in worker threads: Ctrl-C in the main thread sets it, and
every wait loop sleeps on it, so teardown starts at once instead of after the longest timeout."""

from __future__ import annotations

import threading

from labctl.errors import LabctlError

_EVENT = threading.Event()


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
