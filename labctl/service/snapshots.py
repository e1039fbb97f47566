"""Whole-lab snapshots: `snapshot` saves a running lab's every node at one moment, `reset` brings
the lab back to it, `snapshots` lists them. Names are checked before anything is touched."""

from __future__ import annotations

import time
from dataclasses import asdict
from typing import Any

from labctl.backends.registry import backend_for
from labctl.errors import LabctlError
from labctl.lab import snapshots
from labctl.service.events import QUIET, Listener
from labctl.service.labs import require_state
from labctl.state.snapshots import SnapshotRecord, check_snapshot_name, find_snapshot, list_snapshots

__all__ = ["SnapshotRecord", "listing", "names", "reset", "take"]


def take(lab: str, name: str | None = None, listener: Listener = QUIET) -> SnapshotRecord:
    """Save every node of a lab that is up (memory and disk), under `name` or the next snap-N."""
    if name is not None:
        check_snapshot_name(name)
    state = require_state(lab)
    start = time.monotonic()
    with listener.live(f"taking a snapshot of {state.lab}"):
        record = snapshots.take(backend_for(state), state.lab, name, listener.event)
    listener.phase(f"lab {state.lab}: snapshot '{record.name}' taken in {time.monotonic() - start:.1f} s")
    return record


def reset(lab: str, name: str | None, listener: Listener = QUIET) -> SnapshotRecord:
    """Bring every node of the lab back to the moment of snapshot `name`."""
    if name is not None:
        check_snapshot_name(name)
    state = require_state(lab)
    if name is None:
        known = names(state.lab)
        choice = f" (snapshots: {', '.join(known)})" if known else f" (it has none: `labctl snapshot {state.lab}`)"
        raise LabctlError(f"say which snapshot to reset lab '{state.lab}' to: --to NAME{choice}")
    find_snapshot(state.lab, name)  # an unknown one is refused before the lock, with a hint
    start = time.monotonic()
    with listener.live(f"resetting {state.lab} to {name}"):
        record = snapshots.reset(backend_for(state), state.lab, name, listener.event)
    listener.phase(f"lab {state.lab} reset to snapshot '{name}' in {time.monotonic() - start:.1f} s")
    return record


def names(lab: str) -> list[str]:
    """The complete snapshots of a lab, by name."""
    return [s.name for s in list_snapshots(lab) if s.record is not None]


def listing(lab: str) -> list[dict[str, Any]]:
    """One row per snapshot folder of a running lab: complete ones with their record, the others
    with what is wrong."""
    state = require_state(lab)
    rows: list[dict[str, Any]] = []
    for found in list_snapshots(state.lab):
        row: dict[str, Any] = {"name": found.name, "bytes": found.bytes}
        if found.record is not None:
            record = asdict(found.record)
            row |= {k: record[k] for k in ("created", "seconds", "nodes", "links_down")}
            row["complete"] = True
        else:
            row |= {"complete": False, "problem": found.problem}
        rows.append(row)
    return rows
