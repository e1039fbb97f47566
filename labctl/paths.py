"""Where things live: the project's data folders and the user's XDG cache and state dirs."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path

from labctl.errors import LabctlError
from labctl.suggest import did_you_mean

PROJECT_ROOT = Path(__file__).resolve().parent.parent


_DATA_HOME: ContextVar[Path | None] = ContextVar("labctl_data_home", default=None)


def project_home() -> Path:
    """This installation's data root: the project, or LABCTL_HOME."""
    return Path(os.environ.get("LABCTL_HOME", PROJECT_ROOT))


def data_dir(name: str) -> Path:
    """A project data folder (topologies, vm-recipes, demos); LABCTL_HOME overrides the root, and
    a replay reads a bundle's own copies (data_home)."""
    return (_DATA_HOME.get() or project_home()) / name


@contextmanager
def data_home(root: Path) -> Iterator[None]:
    """Inside the block, topologies/, demos/ and vm-recipes/ are read from `root` (a replayed bundle's
    copies), not from this installation's."""
    token = _DATA_HOME.set(root)
    try:
        yield
    finally:
        _DATA_HOME.reset(token)


SYSTEM_CACHE = Path("/var/cache")
SYSTEM_STATE = Path("/var/lib")
"""Root's defaults: outside /root (0700), so QEMU can run as libvirt's unprivileged user and still
reach the images and overlays (see docs/DESIGN.md, "Who can reach a lab")."""


def cache_dir() -> Path:
    default = SYSTEM_CACHE if os.geteuid() == 0 else Path.home() / ".cache"
    return Path(os.environ.get("XDG_CACHE_HOME") or default) / "labctl"


def state_dir() -> Path:
    default = SYSTEM_STATE if os.geteuid() == 0 else Path.home() / ".local" / "state"
    return Path(os.environ.get("XDG_STATE_HOME") or default) / "labctl"


NAME_MAX = 200
"""A NAME longer than this cannot be a file in the folder (most file systems stop at 255 bytes)."""


def resolve_named(kind: str, folder: str, name_or_path: str) -> Path:
    """NAME means <folder>/NAME.yaml; anything that looks like a path is taken as one."""
    candidate = Path(name_or_path)
    if candidate.suffix in (".yaml", ".yml") or os.sep in name_or_path:
        return candidate
    shown = repr(name_or_path if len(name_or_path) <= 40 else name_or_path[:40] + "...")
    if len(name_or_path) > NAME_MAX:
        raise LabctlError(
            f"no {kind} named {shown}: the name is {len(name_or_path)} characters long (at most {NAME_MAX})"
        )
    path = data_dir(folder) / f"{name_or_path}.yaml"
    try:
        exists = path.exists()
    except OSError as exc:  # a name the file system cannot hold (e.g. too long in bytes)
        raise LabctlError(f"no {kind} named {shown}: {exc.strerror or exc}") from None
    if not exists:
        known = sorted(p.stem for p in data_dir(folder).glob("*.yaml"))
        hint = did_you_mean(name_or_path, known) or (f" (known: {', '.join(known)})" if known else "")
        raise LabctlError(f"no {kind} named '{name_or_path}' in {data_dir(folder)}{hint}")
    return path


def demo_reference(demo: str, topology: Path) -> str:
    """A topology's `demo:`: a name in demos/, or a .yaml file named relative to the topology's folder."""
    return str(topology.parent / demo) if demo.endswith((".yaml", ".yml")) else demo
