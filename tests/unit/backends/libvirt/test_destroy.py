"""LibvirtBackend.destroy: every domain is destroyed, each through its own connection and all at
once, even when one of them fails; bridges and leftover taps go too; the error names the domain.

libvirt and the host's links are fakes here (tests/integration boots real VMs)."""

from __future__ import annotations

import threading

import libvirt
import pytest

from labctl.backends.libvirt import backend as backend_module
from labctl.backends.libvirt import hostnet, naming
from labctl.backends.libvirt.backend import LibvirtBackend
from labctl.backends.libvirt.record import BRIDGES, DOMAINS
from labctl.errors import LabctlError
from labctl.state import LabState

LAB = "lab1"
DOMAIN_NAMES = [f"labctl_{LAB}_n{i}" for i in range(4)]


def libvirt_error(code: int, message: str) -> libvirt.libvirtError:
    error = libvirt.libvirtError(message)
    error.err = (code, 0, message, 2, "", None, None, 0, 0)
    return error


class FakeDomain:
    def __init__(self, host: FakeHost, name: str) -> None:
        self.host, self.name_ = host, name

    def name(self) -> str:
        return self.name_

    def isPersistent(self) -> bool:
        return False

    def isActive(self) -> bool:
        return True

    def destroy(self) -> None:
        self.host.barrier.wait()  # every domain is being destroyed at the same time
        if self.name_ in self.host.stuck:
            raise libvirt_error(libvirt.VIR_ERR_OPERATION_FAILED, "Failed to terminate process 42 with SIGKILL")
        with self.host.lock:
            self.host.running.remove(self.name_)


class FakeConn:
    def __init__(self, host: FakeHost) -> None:
        self.host = host
        self.closed = False

    def listAllDomains(self) -> list[FakeDomain]:
        return [FakeDomain(self.host, name) for name in sorted(self.host.running)]

    def lookupByName(self, name: str) -> FakeDomain:
        if name not in self.host.running:
            raise libvirt_error(libvirt.VIR_ERR_NO_DOMAIN, f"Domain not found: '{name}'")
        return FakeDomain(self.host, name)

    def close(self) -> int:
        self.closed = True
        return 0


class FakeHost:
    def __init__(self, domains: list[str], links: set[str], stuck: set[str]) -> None:
        self.running, self.links, self.stuck = set(domains), set(links), stuck
        self.connections: list[FakeConn] = []
        self.lock = threading.Lock()
        self.barrier = threading.Barrier(len(domains), timeout=5)

    def open(self, _uri: str) -> FakeConn:
        with self.lock:
            self.connections.append(FakeConn(self))
            return self.connections[-1]

    def delete_link(self, name: str) -> bool:
        with self.lock:
            if name not in self.links:
                return False
            self.links.remove(name)
            return True


def fake_host(monkeypatch: pytest.MonkeyPatch, stuck: set[str]) -> FakeHost:
    bridges = {"lb-aaaaaaaaaaaa", "lb-bbbbbbbbbbbb"}
    host = FakeHost(DOMAIN_NAMES, bridges | {naming.tap_name(LAB, "n0", "eth0"), "eth0"}, stuck)
    monkeypatch.setattr(libvirt, "open", host.open)
    monkeypatch.setattr(hostnet, "delete_link", host.delete_link)
    monkeypatch.setattr(hostnet, "bridges_of", lambda _lab: ["lb-bbbbbbbbbbbb"])
    monkeypatch.setattr(hostnet, "link_names", lambda: set(host.links))
    monkeypatch.setattr(backend_module, "_taps", lambda _state: [naming.tap_name(LAB, "n0", "eth0")])
    return host


def state() -> LabState:
    """A state that recorded one domain that is gone already and one bridge not found by its alias."""
    recorded = {DOMAINS: [DOMAIN_NAMES[2], f"labctl_{LAB}_gone"], BRIDGES: ["lb-aaaaaaaaaaaa"]}
    return LabState(lab=LAB, backend="libvirt", topology="t.yaml", plan={}, objects=recorded)


def test_every_domain_is_destroyed_at_once_each_on_its_own_connection(monkeypatch: pytest.MonkeyPatch) -> None:
    host = fake_host(monkeypatch, stuck=set())
    events: list[str] = []
    removed = LibvirtBackend().destroy(LAB, state(), lambda _n, message: events.append(message))
    assert removed == [
        *(f"domain {name}" for name in DOMAIN_NAMES),
        "bridge lb-aaaaaaaaaaaa",
        "bridge lb-bbbbbbbbbbbb",
        f"tap {naming.tap_name(LAB, 'n0', 'eth0')}",
    ]
    assert host.running == set() and host.links == {"eth0"}
    assert sorted(events) == sorted(f"removed {item}" for item in removed)
    assert len(host.connections) == 1 + 5  # listing the lab's domains, then one per domain name
    assert all(conn.closed for conn in host.connections[1:])


def test_a_domain_that_cannot_be_destroyed_does_not_stop_the_others(monkeypatch: pytest.MonkeyPatch) -> None:
    host = fake_host(monkeypatch, stuck={DOMAIN_NAMES[1]})
    events: list[str] = []
    with pytest.raises(LabctlError) as raised:
        LibvirtBackend().destroy(LAB, state(), lambda _n, message: events.append(message))
    assert str(raised.value) == (
        f"could not remove 1 object of lab '{LAB}' (the others are gone; run `labctl down {LAB}` again): "
        f"domain {DOMAIN_NAMES[1]}: Failed to terminate process 42 with SIGKILL"
    )
    assert host.running == {DOMAIN_NAMES[1]} and host.links == {"eth0"}
    assert f"removed domain {DOMAIN_NAMES[3]}" in events and "removed bridge lb-aaaaaaaaaaaa" in events
