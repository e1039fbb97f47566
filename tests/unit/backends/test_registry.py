"""labctl.backends.registry: a backend by the name a lab's state records, its module loaded lazily."""

from __future__ import annotations

import subprocess
import sys

import pytest

from labctl.backends.libvirt.backend import LibvirtBackend
from labctl.backends.registry import DEFAULT_BACKEND, backend_for, backend_names, create_backend
from labctl.errors import LabctlError
from labctl.state import LabState


def lab(backend: str) -> LabState:
    return LabState(lab="ring", backend=backend, topology="t", plan={})


def test_libvirt_is_the_default_and_only_backend() -> None:
    assert DEFAULT_BACKEND == "libvirt" and backend_names() == ["libvirt"]
    assert isinstance(create_backend(), LibvirtBackend)
    assert isinstance(backend_for(lab("libvirt")), LibvirtBackend)


def test_the_images_reach_the_backend() -> None:
    backend = create_backend("libvirt", {})
    assert isinstance(backend, LibvirtBackend) and backend.images == {}


def test_an_unknown_backend_is_one_line_with_a_suggestion() -> None:
    with pytest.raises(LabctlError) as caught:
        create_backend("libvrt")
    assert str(caught.value) == "unknown backend 'libvrt' (did you mean 'libvirt'?)"


def test_a_lab_made_by_a_backend_this_labctl_lacks_is_named() -> None:
    with pytest.raises(LabctlError) as caught:
        backend_for(lab("netns"))
    assert str(caught.value) == "unknown backend 'netns' in lab 'ring' (expected one of: libvirt)"


def test_the_libvirt_module_is_imported_only_when_a_libvirt_backend_is_made() -> None:
    script = (
        "import sys\n"
        "from labctl.backends import registry\n"
        "assert 'labctl.backends.libvirt.backend' not in sys.modules and 'libvirt' not in sys.modules\n"
        "registry.create_backend('libvirt')\n"
        "assert 'labctl.backends.libvirt.backend' in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", script], check=True)
