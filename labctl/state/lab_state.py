"""Saved lab state, one folder per lab under the XDG state dir.

Every host object is recorded *before* it is created (`record`), so `labctl down` can remove
exactly what exists even when `up` was killed halfway. The state is backend-neutral: what the
objects are (`objects`, by the backend's own kinds) and what a node's record holds (`nodes`, JSON)
is the business of the backend named in `backend`.

The state root and each lab folder are 0700 and every file labctl writes there is created 0600
(state.json holds the SIP passwords, secrets.json the lab's generated passwords). A lab name
becomes a path only after it passed the topology's own rule for lab names, and nothing is
removed unless it resolves to a folder strictly inside the state root and holds labctl's own files
(state.json, secrets.json or the LAB_MARKER written when labctl made the folder). A state root that
is a symbolic link, not a folder, or another user's, is refused before anything is made or removed.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import secrets
import shutil
import stat
import tempfile
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from labctl.errors import LabctlError
from labctl.paths import state_dir
from labctl.roles import SECRET as SECRET_NAME
from labctl.state.formats import Migration, migrate
from labctl.topology.schema import LAB_NAME_MAX, LABEL, NODE_NAME_MAX

STATE_FORMAT = 2  # 2: backend-neutral (objects by kind, nodes as the backend's JSON records)
STATE_FILE = "state.json"
SECRETS_FILE = "secrets.json"
LAB_MARKER = ".labctl-lab"  # written in every lab folder labctl makes
LAB_FILES = (STATE_FILE, SECRETS_FILE, LAB_MARKER)


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
    objects: dict[str, list[str]] = field(default_factory=dict)  # kind (the backend's word) -> names
    nodes: dict[str, dict[str, Any]] = field(default_factory=dict)  # node -> the backend's record of it
    links_down: list[list[str]] = field(default_factory=list)  # [node, interface] taken down by the user
    format: int = STATE_FORMAT

    @property
    def folder(self) -> Path:
        return lab_folder(self.lab)

    def save(self) -> None:
        write_private(make_lab_folder(self.lab) / STATE_FILE, json.dumps(asdict(self), indent=2))

    def record(self, kind: str, name: str) -> None:
        """Note a host object of `kind` about to be created, and persist at once."""
        items = self.objects.setdefault(kind, [])
        if name not in items:
            items.append(name)
            self.save()


def _name_problem(name: str, what: str, limit: int) -> str | None:
    shown = repr(name if len(name) <= 40 else name[:40] + "...")
    if not LABEL.fullmatch(name):
        return f"invalid {what} {shown}: a {what} is a lowercase letter, then lowercase letters, digits or '-'"
    if len(name) > limit:
        return f"invalid {what} {shown}: it is {len(name)} characters long; at most {limit} are allowed"
    return None


def is_lab_name(name: str) -> bool:
    return _name_problem(name, "lab name", LAB_NAME_MAX) is None


def check_lab_name(name: str) -> str:
    """`name` if it is a valid lab name (the topology's rule: a DNS label of at most 16 characters)."""
    problem = _name_problem(name, "lab name", LAB_NAME_MAX)
    if problem is not None:
        raise LabctlError(problem)
    return name


def check_node_name(name: str) -> str:
    problem = _name_problem(name, "node name", NODE_NAME_MAX)
    if problem is not None:
        raise LabctlError(problem)
    return name


PRIVATE_DIR_MAX = 0o710


def state_root() -> Path:
    """The state root, created 0700 (and tightened to 0700 if an older labctl left it open)."""
    return _private_folder(checked_root())


def checked_root() -> Path:
    """The state root's path, refused if it is a symbolic link, not a folder, or not the user's own:
    otherwise `down` could remove, and chmod, folders elsewhere. A root that does not exist yet is fine."""
    root = state_dir()
    try:
        info = root.lstat()
    except FileNotFoundError:
        return root
    except OSError as exc:
        raise LabctlError(f"cannot use the state folder {root}: {exc.strerror or exc}") from None
    if stat.S_ISLNK(info.st_mode):
        raise LabctlError(f"refusing to use the state folder {root}: it is a symbolic link")
    if not stat.S_ISDIR(info.st_mode):
        raise LabctlError(f"refusing to use the state folder {root}: it is not a folder")
    if info.st_uid != os.geteuid():
        raise LabctlError(f"refusing to use the state folder {root}: it belongs to another user (uid {info.st_uid})")
    return root


def _private_folder(path: Path) -> Path:
    """0700; a backend may let one group through (0710, e.g. QEMU's own user), never more."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    mode = path.stat().st_mode & 0o777
    if mode & ~PRIVATE_DIR_MAX:
        path.chmod(0o700)
    return path


def make_lab_folder(lab: str) -> Path:
    """The lab's folder, created 0700 inside the 0700 state root, and marked as labctl's."""
    state_root()
    folder = lab_folder(lab)
    if folder.is_symlink():
        raise LabctlError(f"refusing to use {folder}: it is a symbolic link, not a lab folder")
    made = not folder.exists()
    _private_folder(folder)
    if made:
        write_private(folder / LAB_MARKER, "labctl lab folder\n")
    return folder


def write_private(path: Path, text: str) -> None:
    """Write `text` atomically into a file that is 0600 from the moment it exists."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")  # O_EXCL, 0600
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _inside_root(path: Path) -> Path:
    """`path` resolved, if it sits strictly inside the state root; anything else is refused."""
    root = checked_root().resolve()
    resolved = path.resolve()
    if resolved == root or root not in resolved.parents:
        raise LabctlError(f"refusing to touch {path}: it is not a lab folder inside {root}")
    return resolved


def lab_folder(lab: str) -> Path:
    return state_dir() / check_lab_name(lab)


def lab_exists(lab: str) -> bool:
    return lab_folder(lab).is_dir()


def _state_1_to_2(data: dict[str, Any]) -> dict[str, Any]:
    """Format 1 was libvirt's alone: its bridges and domains had fields of their own, and each
    node's record (domain, overlay, console_log, spice_port, restarts) was the state's NodeState;
    that record is now the libvirt backend's, with the same keys."""
    data["objects"] = {"bridges": data.pop("bridges"), "domains": data.pop("domains")}
    return data


STATE_MIGRATIONS: dict[int, Migration] = {1: _state_1_to_2}


def _check_shape(data: dict[str, Any], lab: str) -> None:
    if data.get("lab") != lab:
        raise ValueError(f"it names lab {data.get('lab')!r}")
    objects, nodes = data.get("objects", {}), data.get("nodes", {})
    if not isinstance(objects, dict) or not all(
        isinstance(v, list) and all(isinstance(n, str) for n in v) for v in objects.values()
    ):
        raise ValueError("its objects are not lists of names")
    if not isinstance(nodes, dict) or not all(isinstance(v, dict) for v in nodes.values()):
        raise ValueError("its nodes are not records")


def damaged(lab: str, what: str, reason: object) -> LabctlError:
    """The one error for a damaged lab file, naming the way out."""
    return LabctlError(f"{what} is damaged ({reason}); `labctl down {lab}` removes the lab")


def load_state(lab: str) -> LabState | None:
    """The lab's state, migrated to the current format; a newer format or damage is a LabctlError."""
    path = lab_folder(lab) / STATE_FILE
    if not path.exists():
        return None
    try:
        data = migrate(f"lab state {path}", json.loads(path.read_text()), STATE_FORMAT, STATE_MIGRATIONS)
        _check_shape(data, lab)
        return LabState(**data)
    except (ValueError, TypeError, AttributeError) as exc:
        raise damaged(lab, f"lab state {path}", exc) from None


def is_lab_folder(path: Path) -> bool:
    """A real folder (not a link) holding one of labctl's own files: labctl made it."""
    return path.is_dir() and not path.is_symlink() and any((path / name).is_file() for name in LAB_FILES)


def lab_folders() -> list[str]:
    """Every lab with a folder in the state root, running or half-removed; other names and folders
    labctl did not make are ignored."""
    root = checked_root()
    if not root.is_dir():
        return []
    return sorted(p.name for p in root.iterdir() if is_lab_name(p.name) and is_lab_folder(p))


def running_labs() -> list[str]:
    return [lab for lab in lab_folders() if (state_dir() / lab / STATE_FILE).is_file()]


def remove_folder(lab: str) -> None:
    folder = lab_folder(lab)
    if folder.is_symlink():
        raise LabctlError(f"refusing to remove {folder}: it is a symbolic link, not a lab folder")
    if folder.exists():
        resolved = _inside_root(folder)
        if not is_lab_folder(resolved):
            raise LabctlError(f"refusing to remove {folder}: it holds no labctl lab state, so labctl did not make it")
        shutil.rmtree(resolved, ignore_errors=True)


@contextlib.contextmanager
def lab_lock(lab: str) -> Iterator[None]:
    """One up/down at a time per lab."""
    path = state_root() / f".{check_lab_name(lab)}.lock"
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW, 0o600)
    except OSError as exc:
        raise LabctlError(f"cannot open the lock file {path}: {exc.strerror}") from None
    os.fchmod(fd, 0o600)
    with os.fdopen(fd, "w") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise LabctlError(f"another labctl command is working on lab '{lab}' right now") from None
        yield


def lab_secrets(lab: str, names: tuple[str, ...]) -> dict[str, str]:
    """Per-lab generated secrets, kept 0600 in the lab's folder and created on first use."""
    data = read_secrets(lab)
    missing = [n for n in names if n not in data]
    if missing:
        data.update({n: secrets.token_urlsafe(18) for n in missing})
        write_private(make_lab_folder(lab) / SECRETS_FILE, json.dumps(data, indent=2))
    return data


def secrets_file(lab: str) -> Path:
    return lab_folder(lab) / SECRETS_FILE


def read_secrets(lab: str, path: Path | None = None) -> dict[str, str]:
    """The lab's secrets as stored (nothing is created), or those of a secrets file at `path`."""
    path = path or secrets_file(lab)
    if not path.exists():
        return {}
    try:
        data = json.loads(path.read_text())
    except ValueError as exc:
        raise LabctlError(f"lab secrets {path} are damaged ({exc}); `labctl down {lab}` removes the lab") from None
    if not isinstance(data, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in data.items()):
        raise LabctlError(f"lab secrets {path} are damaged (not a mapping of names to strings)")
    return data


SECRET_VALUE = re.compile(r"[A-Za-z0-9_-]{16,128}")  # what lab_secrets makes (token_urlsafe)


def restore_secrets(lab: str, source: Path) -> None:
    """Give the lab the secrets of another one (a replayed bundle's, whose disks hold them). They
    reach config files and shells: only names and values of the kind labctl makes are taken."""
    data = read_secrets(lab, source)
    bad = next((k for k, v in data.items() if not SECRET_NAME.match(k) or not SECRET_VALUE.fullmatch(v)), None)
    if bad is not None:
        raise LabctlError(f"lab secrets {source}: {bad[:40]!r} is not a secret labctl makes")
    write_private(make_lab_folder(lab) / SECRETS_FILE, json.dumps(data, indent=2))
