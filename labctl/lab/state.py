"""Saved lab state, one folder per lab under the XDG state dir.

Every host object is recorded *before* it is created, so `labctl down` can remove exactly
what exists even when `up` was killed halfway.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import secrets
import shutil
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from labctl.errors import LabctlError
from labctl.paths import state_dir

STATE_FORMAT = 1
STATE_FILE = "state.json"
SECRETS_FILE = "secrets.json"


@dataclass
class NodeState:
    domain: str
    overlay: str
    console_log: str
    spice_port: int | None = None
    restarts: list[str] = field(default_factory=list)  # why the node was restarted while coming up


@dataclass
class LabState:
    lab: str
    backend: str
    topology: str
    plan: dict[str, Any]
    accel: str = ""
    phase: str = "creating"
    started: float = field(default_factory=time.time)
    pid: int = field(default_factory=os.getpid)
    bridges: list[str] = field(default_factory=list)
    domains: list[str] = field(default_factory=list)
    nodes: dict[str, NodeState] = field(default_factory=dict)
    links_down: list[list[str]] = field(default_factory=list)  # [node, interface] taken down by the user
    format: int = STATE_FORMAT

    @property
    def folder(self) -> Path:
        return lab_folder(self.lab)

    def save(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        tmp = self.folder / (STATE_FILE + ".tmp")
        tmp.write_text(json.dumps(asdict(self), indent=2))
        tmp.replace(self.folder / STATE_FILE)

    def record(self, kind: str, name: str) -> None:
        """Note a resource about to be created, and persist at once."""
        items: list[str] = getattr(self, kind)
        if name not in items:
            items.append(name)
            self.save()


def lab_folder(lab: str) -> Path:
    return state_dir() / lab


def load_state(lab: str) -> LabState | None:
    path = lab_folder(lab) / STATE_FILE
    if not path.exists():
        return None
    try:
        data = json.loads(path.read_text())
        nodes = {name: NodeState(**node) for name, node in data.pop("nodes", {}).items()}
        data.pop("format", None)
        return LabState(**data, nodes=nodes)
    except (ValueError, TypeError) as exc:
        raise LabctlError(f"lab state {path} is damaged ({exc}); `labctl down {lab}` removes the lab") from None


def running_labs() -> list[str]:
    root = state_dir()
    return sorted(p.parent.name for p in root.glob(f"*/{STATE_FILE}")) if root.exists() else []


def remove_folder(lab: str) -> None:
    shutil.rmtree(lab_folder(lab), ignore_errors=True)


@contextlib.contextmanager
def lab_lock(lab: str) -> Iterator[None]:
    """One up/down at a time per lab."""
    root = state_dir()
    root.mkdir(parents=True, exist_ok=True)
    with open(root / f".{lab}.lock", "w") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise LabctlError(f"another labctl command is working on lab '{lab}' right now") from None
        yield


def lab_secrets(lab: str, names: tuple[str, ...]) -> dict[str, str]:
    """Per-lab generated secrets, kept 0600 in the lab's folder and created on first use."""
    path = lab_folder(lab) / SECRETS_FILE
    data: dict[str, str] = json.loads(path.read_text()) if path.exists() else {}
    missing = [n for n in names if n not in data]
    if missing:
        data.update({n: secrets.token_urlsafe(18) for n in missing})
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            json.dump(data, handle, indent=2)
    return data
