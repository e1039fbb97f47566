"""Whole-lab snapshots on disk: `<lab folder>/snapshots/<name>/`, 0700 (the files a backend writes
there hold the guests' RAM, so their secrets), and `snapshot.json` in it, written last: a folder
without it is an incomplete snapshot (one that failed), never reset to. The lab folder holds its
snapshots, so `down` removes them with the lab.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from labctl.errors import LabctlError
from labctl.state.formats import Migration, migrate
from labctl.state.lab_state import LabState, _name_problem, lab_folder, write_private
from labctl.suggest import unknown

SNAPSHOT_FORMAT = 1
SNAPSHOTS = "snapshots"
RECORD = "snapshot.json"
NAME_MAX = 32
DEFAULT_PREFIX = "snap-"
SNAPSHOT_MIGRATIONS: dict[int, Migration] = {}


def check_snapshot_name(name: str) -> str:
    """`name` if it is a valid snapshot name (the rule of lab names: a folder name, never a path)."""
    problem = _name_problem(name, "snapshot name", NAME_MAX)
    if problem is not None:
        raise LabctlError(problem)
    return name


def snapshots_root(lab: str) -> Path:
    return lab_folder(lab) / SNAPSHOTS


def snapshot_folder(lab: str, name: str) -> Path:
    return snapshots_root(lab) / check_snapshot_name(name)


def plan_digest(plan: dict[str, Any]) -> str:
    """The lab's plan, as a digest: a snapshot fits the lab that has the same one."""
    text = json.dumps(plan, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass(frozen=True)
class SnapshotRecord:
    lab: str
    name: str
    backend: str
    nodes: list[str]
    plan_digest: str
    created: str  # UTC, ISO 8601
    seconds: float  # how long taking it took
    links_down: list[list[str]] = field(default_factory=list)  # [node, interface] down when it was taken
    format: int = SNAPSHOT_FORMAT


def _check_shape(data: dict[str, Any]) -> SnapshotRecord:
    record = SnapshotRecord(**data)
    texts = (record.lab, record.name, record.backend, record.plan_digest, record.created)
    if not all(isinstance(t, str) for t in texts):
        raise ValueError("a name or date is not text")
    if not isinstance(record.nodes, list) or not all(isinstance(n, str) for n in record.nodes):
        raise ValueError("its nodes are not a list of names")
    if not isinstance(record.links_down, list) or not all(
        isinstance(p, list) and len(p) == 2 and all(isinstance(s, str) for s in p) for p in record.links_down
    ):
        raise ValueError("its links_down are not [node, interface] pairs")
    return record


def read_record(path: Path) -> SnapshotRecord:
    """A snapshot.json, checked and migrated; damage is a LabctlError naming the file."""
    try:
        data = migrate(f"snapshot {path}", json.loads(path.read_text()), SNAPSHOT_FORMAT, SNAPSHOT_MIGRATIONS)
        return _check_shape(data)
    except (OSError, ValueError, TypeError) as exc:
        raise LabctlError(f"snapshot record {path} is damaged ({exc})") from None


def new_record(state: LabState, name: str, seconds: float) -> SnapshotRecord:
    return SnapshotRecord(
        lab=state.lab,
        name=name,
        backend=state.backend,
        nodes=sorted(state.nodes),
        plan_digest=plan_digest(state.plan),
        created=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        seconds=round(seconds, 1),
        links_down=[list(p) for p in state.links_down],
    )


def write_record(record: SnapshotRecord) -> None:
    write_private(snapshot_folder(record.lab, record.name) / RECORD, json.dumps(asdict(record), indent=2))


@dataclass(frozen=True)
class Listed:
    name: str
    record: SnapshotRecord | None  # None: incomplete (a snapshot that failed) or damaged
    problem: str = ""
    bytes: int = 0


def _size(folder: Path) -> int:
    return sum(p.lstat().st_size for p in folder.iterdir() if p.is_file() and not p.is_symlink())


def list_snapshots(lab: str) -> list[Listed]:
    """Every snapshot folder of the lab, by name; incomplete and damaged ones too."""
    root = snapshots_root(lab)
    found = []
    for folder in sorted(root.iterdir()) if root.is_dir() and not root.is_symlink() else []:
        if _name_problem(folder.name, "snapshot name", NAME_MAX) or folder.is_symlink() or not folder.is_dir():
            continue
        record, problem = None, ""
        if not (folder / RECORD).is_file():
            problem = "incomplete (taking it failed; `labctl down` removes it with the lab)"
        else:
            try:
                record = read_record(folder / RECORD)
            except LabctlError as exc:
                problem = str(exc)
        found.append(Listed(folder.name, record, problem, _size(folder)))
    return found


def find_snapshot(lab: str, name: str) -> SnapshotRecord:
    """The complete snapshot `name` of the lab; one line naming the snapshots there are otherwise."""
    check_snapshot_name(name)
    listed = {s.name: s for s in list_snapshots(lab)}
    found = listed.get(name)
    if found is None:
        complete = [s.name for s in listed.values() if s.record is not None]
        raise LabctlError(unknown("snapshot", name, complete, f"of lab '{lab}'"))
    if found.record is None:
        raise LabctlError(f"snapshot '{name}' of lab '{lab}' is {found.problem}")
    if found.record.lab != lab or found.record.name != name:
        raise LabctlError(f"snapshot '{name}' of lab '{lab}' is damaged (its record names another)")
    return found.record


def default_name(lab: str) -> str:
    """snap-1, snap-2...: one more than the highest taken."""
    numbers = [int(m.group(1)) for s in list_snapshots(lab) if (m := re.fullmatch(r"snap-(\d{1,9})", s.name))]
    return f"{DEFAULT_PREFIX}{max(numbers, default=0) + 1}"


def make_folder(lab: str, name: str) -> Path:
    """A new, empty snapshot folder (0700); one that exists, complete or not, is refused."""
    folder = snapshot_folder(lab, name)
    root = folder.parent
    if root.is_symlink() or folder.is_symlink():
        raise LabctlError(f"refusing to use {folder}: a symbolic link")
    root.mkdir(mode=0o700, exist_ok=True)
    try:
        folder.mkdir(mode=0o700)
    except FileExistsError:
        raise LabctlError(f"lab '{lab}' has a snapshot '{name}' already; choose another name") from None
    os.chmod(folder, 0o700)
    return folder
