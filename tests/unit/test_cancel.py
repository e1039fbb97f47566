"""Cancellation ends worker waits at once (labctl/cancel.py, run_parallel)."""

from __future__ import annotations

import threading
import time

import pytest

from labctl import cancel
from labctl.cancel import run_parallel


def test_sleep_ends_early_once_cancelled() -> None:
    cancel.reset()
    timer = threading.Timer(0.1, cancel.cancel)
    timer.start()
    start = time.monotonic()
    with pytest.raises(cancel.Cancelled):
        cancel.sleep(30)
    assert time.monotonic() - start < 5
    cancel.reset()
    cancel.sleep(0.01)  # no longer cancelled


def test_run_parallel_raises_the_first_failure_in_job_order() -> None:
    def fail(message: str) -> None:
        raise ValueError(message)

    with pytest.raises(ValueError, match="first"):
        run_parallel([lambda: None, lambda: fail("first"), lambda: fail("second")])
