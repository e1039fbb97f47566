"""LibvirtBackend.wait_ready's control flow: restart after a panic or a reset (bounded, recorded,
the old console kept), give up on a stuck node naming what failed, and never on a slow one.

libvirt is replaced by a tiny fake here: the point is the decisions, not whether libvirt works
(tests/integration/test_busy_host.py boots real VMs for that)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace

import pytest

from labctl import cancel
from labctl.backends.libvirt import backend as backend_module
from labctl.backends.libvirt.agent import GuestAgent
from labctl.backends.libvirt.backend import MAX_RESTARTS, LibvirtBackend
from labctl.backends.libvirt.record import NodeRecord, node_record
from labctl.errors import LabctlError
from labctl.state import LabState
from tests.unit.backends.libvirt.fakes import Clock

BANNER = "Linux version 6.1.0-50-cloud-amd64 #1 SMP PREEMPT_DYNAMIC Debian 6.1.176-1\r\n"
PANIC = "Kernel panic - not syncing: IO-APIC + timer doesn't work!  Boot with apic=debug\r\n"
OK = "[  OK  ] Started systemd-journald.service - Journal Service.\r\n"
DEPEND = "[DEPEND] Dependency failed for serial-getty@ttyS0.service - Serial Getty on ttyS0.\r\n"


class FakeDomain:
    def __init__(self) -> None:
        self.active = True

    def isActive(self) -> bool:
        return self.active

    def destroy(self) -> None:
        self.active = False


class FakeConn:
    def __init__(self) -> None:
        self.domain = FakeDomain()

    def lookupByName(self, _name: str) -> FakeDomain:
        return self.domain


class Guest:
    """One boot after another: each boot writes its console (a function of seconds since it started)
    and answers on the agent from `ready_after` seconds, or never (None)."""

    def __init__(self, clock: Clock, log: Path, boots: list[tuple[Callable[[float], str], float | None]]) -> None:
        self.clock, self.log, self.boots = clock, log, boots
        self.attempt = 0
        self.started = 0.0

    def boot(self, *_args: object) -> None:
        self.attempt += 1
        self.started = self.clock.now

    def tick(self) -> None:
        console, _ = self.boots[min(self.attempt, len(self.boots) - 1)]
        self.log.write_text(console(self.clock.now - self.started))

    def ping(self) -> bool:
        self.tick()
        _, ready = self.boots[min(self.attempt, len(self.boots) - 1)]
        return ready is not None and self.clock.now - self.started >= ready


@pytest.fixture
def setup(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[..., tuple[LibvirtBackend, LabState, Guest]]:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))

    def make(boots: list[tuple[Callable[[float], str], float | None]]) -> tuple[LibvirtBackend, LabState, Guest]:
        clock = Clock()
        log = tmp_path / "n0.console.log"
        guest = Guest(clock, log, boots)
        monkeypatch.setattr(backend_module, "time", SimpleNamespace(monotonic=clock.monotonic))
        monkeypatch.setattr(cancel, "sleep", clock.sleep)
        monkeypatch.setattr(GuestAgent, "ping", lambda _self: guest.ping())
        monkeypatch.setattr(backend_module, "saved_plan", lambda _state: type("P", (), {"node": lambda _s, n: n})())
        backend = LibvirtBackend({})
        backend._conn = FakeConn()

        def boot(*args: object) -> None:
            backend._conn.domain.active = True  # type: ignore[union-attr]
            guest.boot(*args)

        monkeypatch.setattr(backend, "_boot", boot)
        state = LabState(lab="t", backend="libvirt", topology="t.yaml", plan={})
        record = NodeRecord(domain="labctl_t_n0", overlay=str(tmp_path / "n0.qcow2"), console_log=str(log))
        state.nodes["n0"] = record.to_dict()
        return backend, state, guest

    return make


def restarts(state: LabState) -> list[str]:
    record = node_record(state, "n0")
    assert record is not None
    return record.restarts


def steady(seconds: float) -> str:
    """A boot whose console gains a line every 10 s."""
    return BANNER + OK * int(seconds // 10)


def test_a_slow_boot_that_keeps_advancing_is_waited_for(
    setup: Callable[..., tuple[LibvirtBackend, LabState, Guest]],
) -> None:
    backend, state, guest = setup([(steady, 600.0)])  # ten minutes, far past the old fixed 240 s
    events: list[str] = []
    backend.wait_ready(state, "n0", 900, lambda _n, m: events.append(m))
    assert guest.attempt == 0 and events == [] and restarts(state) == []


def test_a_panic_is_restarted_once_and_recorded(
    setup: Callable[..., tuple[LibvirtBackend, LabState, Guest]], tmp_path: Path
) -> None:
    backend, state, guest = setup([(lambda s: BANNER + (PANIC if s > 5 else ""), None), (steady, 30.0)])
    events: list[str] = []
    backend.wait_ready(state, "n0", 900, lambda _n, m: events.append(m))
    assert guest.attempt == 1
    assert restarts(state) == [
        "kernel panic: Kernel panic - not syncing: IO-APIC + timer doesn't work!  Boot with apic=debug"
    ]
    assert events == [f"{restarts(state)[0]}; restarting it (1/{MAX_RESTARTS})"]
    assert PANIC.strip() in (tmp_path / "n0.console.log.1").read_text(), "the panicked boot's console is kept"


def test_a_reset_and_a_vanished_domain_are_restarted(
    setup: Callable[..., tuple[LibvirtBackend, LabState, Guest]],
) -> None:
    backend, state, _ = setup([(lambda s: BANNER + (BANNER if s > 3 else ""), None), (steady, 20.0)])
    backend.wait_ready(state, "n0", 900)
    assert restarts(state) == ["the node reset and booted again"]
    backend, state, _guest = setup([(steady, None), (steady, 20.0)])
    backend._conn.domain.active = False  # type: ignore[union-attr]
    backend.wait_ready(state, "n0", 900)
    assert restarts(state) == ["the node's domain stopped"]


def test_panics_on_every_boot_give_up_after_the_restarts_with_the_panic_named(
    setup: Callable[..., tuple[LibvirtBackend, LabState, Guest]],
) -> None:
    backend, state, guest = setup([(lambda s: BANNER + PANIC, None)])
    with pytest.raises(LabctlError) as caught:
        backend.wait_ready(state, "n0", 900)
    message = str(caught.value)
    assert guest.attempt == MAX_RESTARTS
    assert message.startswith("node 'n0' did not answer on its guest agent: kernel panic: Kernel panic")
    assert f"(after {MAX_RESTARTS} restarts:" in message
    assert "last console lines:\n  Linux version" in message


def test_a_stuck_node_is_not_restarted_and_the_failed_unit_is_named(
    setup: Callable[..., tuple[LibvirtBackend, LabState, Guest]],
) -> None:
    backend, state, guest = setup([(lambda s: BANNER + OK + DEPEND, None)])
    with pytest.raises(LabctlError) as caught:
        backend.wait_ready(state, "n0", 900)
    message = str(caught.value)
    assert guest.attempt == 0 and restarts(state) == []
    assert "no console progress for 24" in message  # BOOT_STALL, give or take the last poll
    assert "Dependency failed for serial-getty@ttyS0.service - Serial Getty on ttyS0" in message


@pytest.mark.parametrize("console", ["", "\x00\xff garbage \x1b[K" * 3])
def test_an_empty_or_garbage_console_that_never_advances_is_stuck(
    setup: Callable[..., tuple[LibvirtBackend, LabState, Guest]], console: str
) -> None:
    backend, state, _ = setup([(lambda s: console, None)])
    with pytest.raises(LabctlError, match="no console progress for"):
        backend.wait_ready(state, "n0", 900)


def test_the_ceiling_holds_for_a_console_that_advances_forever(
    setup: Callable[..., tuple[LibvirtBackend, LabState, Guest]],
) -> None:
    backend, state, _ = setup([(steady, None)])
    with pytest.raises(LabctlError, match="still not ready after 900 s"):
        backend.wait_ready(state, "n0", 900)
