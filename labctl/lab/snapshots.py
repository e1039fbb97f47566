"""Whole-lab snapshots: take one of a running lab, reset a lab to one. Backend-neutral: the
backend saves and restores the nodes; this module holds the lab's lock, checks that a snapshot
fits the lab, writes its record last, and puts the links the user took down back down (a restored
node's ports come back up)."""

from __future__ import annotations

import contextlib
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from types import FrameType

from labctl.backends.base import Backend, Progress
from labctl.errors import LabctlError
from labctl.state import LabState, lab_lock, load_state
from labctl.state.snapshots import (
    SnapshotRecord,
    default_name,
    find_snapshot,
    make_folder,
    new_record,
    plan_digest,
    write_record,
)


def _state(lab: str) -> LabState:
    state = load_state(lab)
    if state is None:
        raise LabctlError(f"lab '{lab}' is not running")
    return state


def take(backend: Backend, lab: str, name: str | None, progress: Progress) -> SnapshotRecord:
    """Snapshot every node of a lab that is up, under `name` (snap-N when None)."""
    with lab_lock(lab):
        state = _state(lab)
        if state.phase != "up":
            raise LabctlError(f"lab '{lab}' is not up (phase {state.phase}); a snapshot is taken of a lab that is up")
        chosen = name or default_name(lab)
        folder = make_folder(lab, chosen)
        start = time.monotonic()
        try:
            with _uninterrupted(progress):
                backend.snapshot(state, chosen, progress)
        except BaseException:
            _remove_if_empty(folder)
            raise
        finally:
            _links_down(backend, state, progress)
        record = new_record(state, chosen, time.monotonic() - start)
        write_record(record)
        return record


def fits(state: LabState, record: SnapshotRecord) -> None:
    """A snapshot resets only the lab it was taken of: same backend, same plan, same nodes."""
    where = f"snapshot '{record.name}' of lab '{state.lab}'"
    if record.backend != state.backend:
        raise LabctlError(f"{where} was taken by backend '{record.backend}', the lab runs on '{state.backend}'")
    if record.plan_digest != plan_digest(state.plan) or record.nodes != sorted(state.nodes):
        raise LabctlError(f"{where} was taken of another plan than the lab's; it cannot reset it")


def reset(backend: Backend, lab: str, name: str, progress: Progress) -> SnapshotRecord:
    """Bring every node of the lab back to the moment of snapshot `name`."""
    with lab_lock(lab):
        state = _state(lab)
        record = find_snapshot(lab, name)
        fits(state, record)
        state.phase = "resetting"
        state.save()
        try:
            with _uninterrupted(progress):
                backend.reset(state, name, progress)
        except BaseException:
            state.phase = "failed"
            raise
        else:
            state.phase = "up"
        finally:
            state.links_down = [list(p) for p in record.links_down]
            state.save()
            _links_down(backend, state, progress)
        return record


@contextlib.contextmanager
def _uninterrupted(progress: Progress) -> Iterator[None]:
    """Ctrl-C or SIGTERM while nodes are saved and restored would leave saved nodes stopped, their
    disks half moved: the step finishes first (it takes seconds), and the interrupt is only noted."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def later(_signum: int, _frame: FrameType | None) -> None:
        progress("", "interrupted: finishing this step first, or nodes would be left stopped")

    previous = {sig: signal.signal(sig, later) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _links_down(backend: Backend, state: LabState, progress: Progress) -> None:
    for node, interface in state.links_down:
        try:
            backend.set_link(state, node, interface, up=False)
        except LabctlError as exc:
            progress(node, f"its link {interface} could not be taken down again: {exc}")


def _remove_if_empty(folder: Path) -> None:
    with contextlib.suppress(OSError):
        folder.rmdir()
