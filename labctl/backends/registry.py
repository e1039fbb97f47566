"""Backends by name. A lab's state records the name of the backend that made it (`state.backend`),
and that backend, and only it, acts on the lab afterwards. Each backend module is imported only
when a backend of its name is made, so a host without libvirt's bindings can still compile,
render and validate.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from labctl.backends.base import Backend
from labctl.errors import LabctlError
from labctl.images import ImageArtifacts
from labctl.state import LabState
from labctl.suggest import unknown

Images = dict[str, ImageArtifacts]
Disks = dict[str, Path]  # node -> the disk it boots from (see Backend.export_disk), instead of a fresh one
Factory = Callable[[Images | None, Disks | None, bool], Backend]
"""(images, disks, cold): cold asks for every node to boot from scratch (no booted template)."""

DEFAULT_BACKEND = "libvirt"


def _libvirt(images: Images | None, disks: Disks | None, cold: bool) -> Backend:
    from labctl.backends.libvirt.backend import LibvirtBackend

    return LibvirtBackend(images, disks, cold)


_FACTORIES: dict[str, Factory] = {"libvirt": _libvirt}


def register(name: str, factory: Factory) -> None:
    """Make backends called `name` with `factory` (a second backend, or a test's fake)."""
    _FACTORIES[name] = factory


def backend_names() -> list[str]:
    return sorted(_FACTORIES)


def create_backend(
    name: str = DEFAULT_BACKEND, images: Images | None = None, disks: Disks | None = None, cold: bool = False
) -> Backend:
    """The backend called `name`, booting nodes from `images` (image name -> built artifacts), the
    nodes named in `disks` from those disks, and every node from scratch when `cold`."""
    factory = _FACTORIES.get(name)
    if factory is None:
        raise LabctlError(unknown("backend", name, backend_names()))
    return factory(images, disks, cold)


def backend_for(state: LabState) -> Backend:
    """The backend that made the lab, to act on it."""
    if state.backend not in _FACTORIES:
        raise LabctlError(unknown("backend", state.backend, backend_names(), f"in lab '{state.lab}'"))
    return create_backend(state.backend)
