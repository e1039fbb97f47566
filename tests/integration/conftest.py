"""Integration tests boot real VMs: they need root and libvirtd (scripts/install.sh starts it)."""

from __future__ import annotations

import os

import pytest

from labctl.backends.libvirt import daemon


@pytest.fixture(scope="session", autouse=True)
def host_ready() -> None:
    if os.geteuid() != 0:
        pytest.fail("integration tests need root (bridges, libvirt domains)")
    if not daemon.reachable():
        pytest.fail(f"libvirtd is not reachable: {daemon.how_to_start()}")
