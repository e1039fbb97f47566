"""labctl.lab.lifecycle.up waits for every node with the hard ceiling, not the old fixed 240 s, and
passes its progress on, so a node restarted while booting is reported as it happens."""

from __future__ import annotations

from pathlib import Path

import pytest

from labctl.compile import compile_topology
from labctl.lab import lifecycle
from labctl.state import LabState
from labctl.topology.schema import load_topology

ONE = "name: waitlab\nnodes: {n0: {}, n1: {}}\nlinks: [[n0, n1]]\n"


class WaitingBackend:
    name = "fake"

    def __init__(self) -> None:
        self.waits: list[tuple[str, float]] = []

    def check_host(self) -> None:
        return None

    def accel(self) -> str:
        return "tcg"

    def create(self, plan: object, state: LabState, progress: object) -> None:
        return None

    def wait_ready(self, state: LabState, node: str, timeout: float, progress: object = None) -> None:
        assert callable(progress)
        self.waits.append((node, timeout))
        progress(node, "kernel panic: test; restarting it (1/2)")

    def destroy(self, lab: str, state: object, progress: object) -> list[str]:
        return []


def test_up_waits_with_the_ceiling_and_reports_restarts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    monkeypatch.setattr(lifecycle, "configure", lambda *_args: None)
    topo = tmp_path / "waitlab.yaml"
    topo.write_text(ONE)
    plan = compile_topology(load_topology(topo))
    backend = WaitingBackend()
    events: list[tuple[str, str]] = []
    lifecycle.up(backend, plan, str(topo), lambda n, m: events.append((n, m)), lambda _t: None)  # type: ignore[arg-type]
    assert sorted(backend.waits) == [("n0", lifecycle.BOOT_CEILING), ("n1", lifecycle.BOOT_CEILING)]
    assert lifecycle.BOOT_CEILING >= 900
    assert ("n0", "kernel panic: test; restarting it (1/2)") in events
