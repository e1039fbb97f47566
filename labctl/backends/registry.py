"""Backends by name: the name a lab's state records picks the backend that handles it."""

from __future__ import annotations

from collections.abc import Callable

from labctl.backends.base import Backend
from labctl.errors import LabctlError
from labctl.images import ImageArtifacts
from labctl.lab.state import LabState
from labctl.suggest import did_you_mean

DEFAULT_BACKEND = "libvirt"

Factory = Callable[[dict[str, ImageArtifacts] | None], Backend]


def _libvirt(images: dict[str, ImageArtifacts] | None) -> Backend:
    from labctl.backends.libvirt.backend import LibvirtBackend  # libvirt's bindings load only when used

    return LibvirtBackend(images)


FACTORIES: dict[str, Factory] = {DEFAULT_BACKEND: _libvirt}


def register(name: str, factory: Factory) -> None:
    FACTORIES[name] = factory


def backend_names() -> list[str]:
    return sorted(FACTORIES)


def create_backend(name: str, images: dict[str, ImageArtifacts] | None = None) -> Backend:
    factory = FACTORIES.get(name)
    if factory is None:
        raise LabctlError(f"no backend named {name!r}{did_you_mean(name, backend_names())}")
    return factory(images)


def backend_for(state: LabState) -> Backend:
    return create_backend(state.backend)
