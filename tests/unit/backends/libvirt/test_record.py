"""The libvirt backend's own node record, read from the neutral lab state of every format, and
what `status` learns of a node through node_info."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from labctl.backends.base import NodeInfo
from labctl.backends.libvirt.backend import LibvirtBackend
from labctl.backends.libvirt.record import NodeRecord, node_record
from labctl.errors import LabctlError
from labctl.state import STATE_FORMAT, LabState, load_state

FIXTURES = Path(__file__).resolve().parents[3] / "fixtures" / "state"


class FakeDomain:
    def __init__(self, active: bool) -> None:
        self.active = active

    def isActive(self) -> bool:
        return self.active


class FakeConn:
    def __init__(self, domains: dict[str, bool]) -> None:
        self.domains = domains

    def lookupByName(self, name: str) -> FakeDomain:
        import libvirt

        if name not in self.domains:
            raise libvirt.libvirtError(f"no domain {name}")
        return FakeDomain(self.domains[name])


@pytest.mark.parametrize("version", range(1, STATE_FORMAT + 1))
def test_a_lab_of_every_state_format_has_its_libvirt_records(
    version: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path))
    (tmp_path / "labctl" / "line").mkdir(parents=True)
    shutil.copy(FIXTURES / f"v{version}.json", tmp_path / "labctl" / "line" / "state.json")
    state = load_state("line")
    assert state is not None
    record = node_record(state, "r")
    assert record == NodeRecord(
        domain="labctl_line_r",
        overlay="/var/lib/labctl-state/labctl/line/nodes/r.qcow2",
        console_log="/var/lib/labctl-state/labctl/line/nodes/r.console.log",
        spice_port=5901,
        restarts=["the node reset and booted again"],
    )
    assert node_record(state, "nobody") is None


def state_with(nodes: dict[str, dict[str, object]]) -> LabState:
    return LabState(lab="line", backend="libvirt", topology="t", plan={}, nodes=nodes)


def record(domain: str, port: int | None, boot: str = "", note: str = "") -> dict[str, object]:
    return NodeRecord(domain, "/o", "/c", spice_port=port, restarts=["reset"], boot=boot, boot_note=note).to_dict()


def test_node_info_tells_status_display_and_domain() -> None:
    backend = LibvirtBackend({})
    backend._conn = FakeConn({"labctl_line_a": True, "labctl_line_b": False})
    state = state_with(
        {
            "a": record("labctl_line_a", 5900, "template 0123456789ab"),
            "b": record("labctl_line_b", None, "cold", "--cold"),
            "r": record("x", 1),
        }
    )
    assert backend.node_info(state, "a") == NodeInfo(
        "running", "spice://127.0.0.1:5900", ("reset",), {"domain": "labctl_line_a", "boot": "template 0123456789ab"}
    )
    assert backend.node_info(state, "b") == NodeInfo(
        "shut off", None, ("reset",), {"domain": "labctl_line_b", "boot": "cold", "boot_note": "--cold"}
    )
    assert backend.node_info(state, "r").status == "missing"  # recorded, but its domain is gone
    assert backend.node_info(state, "c") == NodeInfo("missing", details={"domain": None})  # never created


@pytest.mark.parametrize(
    "damage",
    [{"domain": "d"}, {"domain": 1, "overlay": "/o", "console_log": "/c"}, record("d", 1) | {"spice_port": "59"}],
)
def test_a_damaged_record_says_that_down_removes_the_lab(damage: dict[str, object]) -> None:
    with pytest.raises(LabctlError) as caught:
        node_record(state_with({"a": damage}), "a")
    message = str(caught.value)
    assert message.startswith("the record of node 'a' in lab 'line' is damaged (")
    assert message.endswith("`labctl down line` removes the lab") and "\n" not in message


def test_node_info_names_the_login_socket_of_a_running_node_only(tmp_path: Path) -> None:
    import socket

    backend = LibvirtBackend({})
    backend._conn = FakeConn({"labctl_line_a": True, "labctl_line_b": False, "labctl_line_c": True})
    nodes = {name: NodeRecord(f"labctl_line_{name}", str(tmp_path / f"{name}.qcow2"), "/c").to_dict() for name in "abc"}
    state = state_with(nodes)
    for name in "ab":
        listener = socket.socket(socket.AF_UNIX)
        listener.bind(str(tmp_path / f"{name}.serial.sock"))
        listener.close()  # the socket file stays
    (tmp_path / "c.serial.sock").write_text("not a socket")
    assert backend.node_info(state, "a").serial == str(tmp_path / "a.serial.sock")
    assert backend.node_info(state, "b").serial is None  # shut off
    assert backend.node_info(state, "c").serial is None  # a lab started before nodes had one
