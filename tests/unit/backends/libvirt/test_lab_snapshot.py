"""Whole-lab snapshots under libvirt, against a fake libvirt: every node paused before any is saved,
each restored on a fresh overlay over its frozen disk, then resumed and its clock set; a failure
half-way puts the lab back as it was where it can, and says so in one line. Real VMs:
tests/integration/test_snapshots.py."""

from __future__ import annotations

import threading
import xml.etree.ElementTree as ET
from pathlib import Path

import libvirt
import pytest

from labctl.backends.libvirt import hostfiles, lab_snapshot
from labctl.backends.libvirt.agent import GuestAgent
from labctl.backends.libvirt.backend import LibvirtBackend
from labctl.backends.libvirt.cloning import identity_script
from labctl.backends.libvirt.guest_time import clock_script
from labctl.backends.libvirt.lab_snapshot import NodeFiles
from labctl.backends.libvirt.record import NodeRecord
from labctl.errors import LabctlError
from labctl.state import LabState
from labctl.state.snapshots import snapshot_folder

SAVED = (Path(__file__).parents[3] / "fixtures" / "template" / "saved-domain.xml").read_text()
TEMPLATE_DISK = "/var/cache/labctl/templates/efe86d9625c1a323/disk.qcow2"
IMAGE = "/var/cache/labctl/images/debian12-lab-0932c6eaf2e1/disk.qcow2"
NODES = ("a", "b", "c")


def libvirt_error(message: str) -> libvirt.libvirtError:
    error = libvirt.libvirtError(message)
    error.err = (libvirt.VIR_ERR_OPERATION_FAILED, 0, message, 2, "", None, None, 0, 0)
    return error


class Host:
    """The domains of a lab, what happened to them (in order), and the calls that fail."""

    def __init__(self, files: list[NodeFiles]) -> None:
        self.files = {f.domain: f for f in files}
        self.running = {f.domain: "running" for f in files}
        self.saved: dict[str, str] = {}  # save file -> domain
        self.events: list[tuple[str, str]] = []
        self.fail: dict[tuple[str, str], str] = {}  # (action, node) -> libvirt's message
        self.chains: dict[str, list[str]] = {}
        self.conns: list[Conn] = []
        self.lock = threading.Lock()

    def node(self, domain: str) -> str:
        return self.files[domain].node

    def act(self, action: str, domain: str) -> None:
        with self.lock:
            self.events.append((action, self.node(domain)))
        why = self.fail.get((action, self.node(domain)))
        if why is not None:
            raise libvirt_error(why)

    def open(self, _uri: str) -> Conn:
        with self.lock:
            self.conns.append(Conn(self))
            return self.conns[-1]


class Domain:
    def __init__(self, host: Host, name: str) -> None:
        self.host, self.name = host, name

    def suspend(self) -> int:
        self.host.act("suspend", self.name)
        self.host.running[self.name] = "paused"
        return 0

    def resume(self) -> int:
        self.host.act("resume", self.name)
        self.host.running[self.name] = "running"
        return 0

    def saveFlags(self, to: str, dxml: str | None, flags: int) -> int:
        assert self.host.running[self.name] == "paused" and flags == libvirt.VIR_DOMAIN_SAVE_PAUSED
        self.host.act("save", self.name)
        Path(to).write_bytes(b"RAM of " + self.name.encode())
        self.host.saved[to] = self.name
        del self.host.running[self.name]  # QEMU exits
        return 0


class Conn:
    def __init__(self, host: Host) -> None:
        self.host = host
        self.closed = False

    def lookupByName(self, name: str) -> Domain:
        if name not in self.host.running:
            raise libvirt_error(f"Domain not found: '{name}'")
        return Domain(self.host, name)

    def saveImageGetXMLDesc(self, path: str, flags: int) -> str:
        assert flags == libvirt.VIR_DOMAIN_SAVE_IMAGE_XML_SECURE
        files = self.host.files[self.host.saved[path]]
        return SAVED.replace(TEMPLATE_DISK, str(files.overlay)).replace("labctl-tpl-efe86d9625c1", files.domain)

    def restoreFlags(self, path: str, dxml: str | None, flags: int) -> int:
        assert flags == libvirt.VIR_DOMAIN_SAVE_PAUSED
        name = self.host.saved[path]
        assert name not in self.host.running, "restored while it runs"
        self.host.act("restore" if dxml else "restore as saved", name)
        if dxml is not None:
            disk = ET.fromstring(dxml).find("devices/disk")
            assert disk is not None
            self.host.chains[self.host.node(name)] = [str(s.get("file")) for s in disk.iter("source")]
        self.host.running[name] = "paused"
        return 0

    def close(self) -> int:
        self.closed = True
        return 0


def node_files(folder: Path) -> list[NodeFiles]:
    (folder / "nodes").mkdir()
    (folder / "snap").mkdir()
    files = []
    for node in NODES:
        overlay = folder / "nodes" / f"{node}.qcow2"
        overlay.write_text(f"disk of {node}")
        overlay.chmod(0o600)
        saved, frozen = folder / "snap" / f"{node}.save", folder / "snap" / f"{node}.qcow2"
        files.append(NodeFiles(node, f"labctl_duo_{node}", overlay, saved, frozen))
    return files


@pytest.fixture
def files(tmp_path: Path) -> list[NodeFiles]:
    return node_files(tmp_path)


@pytest.fixture
def host(files: list[NodeFiles], monkeypatch: pytest.MonkeyPatch) -> Host:
    host = Host(files)
    monkeypatch.setattr(libvirt, "open", host.open)

    def qemu_img(argv: list[str]) -> None:
        assert argv[:2] == ["qemu-img", "create"] and argv[argv.index("-b") + 1].endswith(".qcow2")
        Path(argv[-1]).write_text("fresh overlay over " + argv[argv.index("-b") + 1])

    def set_clock(agent: GuestAgent) -> None:
        with host.lock:
            host.events.append(("clock", agent.node))

    monkeypatch.setattr(hostfiles, "run", qemu_img)
    monkeypatch.setattr(lab_snapshot, "set_clock", set_clock)
    monkeypatch.setattr(lab_snapshot, "_let_qemu_in", lambda _folder: None)
    return host


def actions(host: Host, action: str) -> list[str]:
    return sorted(node for done, node in host.events if done == action)


def position(host: Host, action: str, last: bool = False) -> int:
    found = [i for i, (done, _node) in enumerate(host.events) if done == action]
    return found[-1] if last else found[0]


def say(_node: str, _message: str) -> None:
    return None


def test_every_node_is_paused_before_any_is_saved_and_runs_on_its_frozen_disk(
    host: Host, files: list[NodeFiles]
) -> None:
    lab_snapshot.take_snapshot("qemu:///system", files, say)
    assert position(host, "suspend", last=True) < position(host, "save")
    assert position(host, "save", last=True) < position(host, "restore")  # every disk frozen before a restore
    assert position(host, "restore", last=True) < position(host, "resume")
    for action in ("suspend", "save", "restore", "resume", "clock"):
        assert actions(host, action) == list(NODES), action
    for f in files:
        assert host.chains[f.node] == [str(f.overlay), str(f.frozen), IMAGE]
        assert f.frozen.read_text() == f"disk of {f.node}" and f.frozen.stat().st_mode & 0o777 == 0o400
        assert f.overlay.read_text() == f"fresh overlay over {f.frozen}" and f.overlay.stat().st_mode & 0o777 == 0o600
        assert f.saved.is_file()
    assert set(host.running.values()) == {"running"}
    assert len(host.conns) == len(NODES) and all(c.closed for c in host.conns)  # one connection per node


def test_a_node_that_cannot_be_paused_stops_it_before_anything_is_saved(host: Host, files: list[NodeFiles]) -> None:
    host.fail[("suspend", "c")] = "domain is not running"
    with pytest.raises(LabctlError) as raised:
        lab_snapshot.take_snapshot("qemu:///system", files, say)
    assert str(raised.value) == "pausing failed (node 'c': domain is not running); the lab runs on as before"
    assert actions(host, "save") == [] and actions(host, "resume") == ["a", "b"]
    assert set(host.running.values()) == {"running"}


def test_a_save_that_fails_puts_every_node_back_as_it_was(host: Host, files: list[NodeFiles]) -> None:
    host.fail[("save", "b")] = "No space left on device"
    with pytest.raises(LabctlError) as raised:
        lab_snapshot.take_snapshot("qemu:///system", files, say)
    assert str(raised.value) == "saving failed (node 'b': No space left on device); the lab runs on as before"
    assert actions(host, "restore as saved") == ["a", "c"] and actions(host, "restore") == []
    assert actions(host, "resume") == list(NODES) and actions(host, "clock") == list(NODES)
    for f in files:
        assert f.overlay.read_text() == f"disk of {f.node}" and not f.frozen.exists() and not f.saved.exists()
    assert set(host.running.values()) == {"running"}


def test_a_restore_on_the_frozen_disk_that_fails_puts_that_node_back(host: Host, files: list[NodeFiles]) -> None:
    host.fail[("restore", "b")] = "unsupported configuration: Target disk"
    with pytest.raises(LabctlError) as raised:
        lab_snapshot.take_snapshot("qemu:///system", files, say)
    assert str(raised.value) == (
        "restoring on the frozen disks failed (node 'b': unsupported configuration: Target disk); "
        "the snapshot is incomplete, nodes that failed were put back as they were"
    )
    assert actions(host, "restore as saved") == ["b"]
    b = files[1]
    assert b.overlay.read_text() == "disk of b" and not b.frozen.exists()
    assert actions(host, "resume") == list(NODES) and set(host.running.values()) == {"running"}


def test_reset_stops_every_node_then_restores_each_on_a_fresh_overlay(host: Host, files: list[NodeFiles]) -> None:
    lab_snapshot.take_snapshot("qemu:///system", files, say)
    for f in files:
        f.overlay.write_text("changed after the snapshot")
    host.events.clear()
    stopped: list[str] = []

    def remove_domain(name: str) -> bool:
        with host.lock:
            stopped.append(name)
            host.events.append(("stop", host.node(name)))
            del host.running[name]
        return True

    lab_snapshot.reset_lab("qemu:///system", files, say, remove_domain)
    assert position(host, "stop", last=True) < position(host, "restore")
    assert position(host, "restore", last=True) < position(host, "resume")
    assert actions(host, "restore") == list(NODES) and actions(host, "clock") == list(NODES)
    for f in files:
        assert f.overlay.read_text() == f"fresh overlay over {f.frozen}"
        assert host.chains[f.node] == [str(f.overlay), str(f.frozen), IMAGE]
    assert set(host.running.values()) == {"running"}


def test_reset_to_a_snapshot_missing_a_nodes_files_touches_nothing(host: Host, files: list[NodeFiles]) -> None:
    lab_snapshot.take_snapshot("qemu:///system", files, say)
    files[2].saved.unlink()
    host.events.clear()
    with pytest.raises(LabctlError, match=r"^the snapshot holds no files for node\(s\) c; nothing was reset$"):
        lab_snapshot.reset_lab("qemu:///system", files, say, lambda _name: pytest.fail("stopped a node"))
    assert host.events == []


def test_a_node_that_fails_to_reset_is_named_and_the_others_run(host: Host, files: list[NodeFiles]) -> None:
    lab_snapshot.take_snapshot("qemu:///system", files, say)

    def remove_domain(name: str) -> bool:
        del host.running[name]
        return True

    host.fail[("restore", "a")] = "QEMU unexpectedly closed the monitor"
    with pytest.raises(LabctlError) as raised:
        lab_snapshot.reset_lab("qemu:///system", files, say, remove_domain)
    assert str(raised.value) == (
        "resetting failed (node 'a': QEMU unexpectedly closed the monitor); "
        "the other nodes run from the snapshot; reset again, or `labctl down`"
    )
    assert sorted(host.running) == ["labctl_duo_b", "labctl_duo_c"]


def test_the_backend_names_each_nodes_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    state = LabState(lab="duo", backend="libvirt", topology="t", plan={})
    for node in ("b", "a"):
        record = NodeRecord(domain=f"labctl_duo_{node}", overlay=f"/o/{node}.qcow2", console_log="/c")
        state.nodes[node] = record.to_dict()
    found = LibvirtBackend()._snapshot_files(state, "clean")
    folder = snapshot_folder("duo", "clean")
    assert found == [
        NodeFiles(n, f"labctl_duo_{n}", Path(f"/o/{n}.qcow2"), folder / f"{n}.save", folder / f"{n}.qcow2")
        for n in ("a", "b")
    ]


def test_a_restored_guests_clock_is_set_with_date() -> None:
    assert clock_script(1795900000.25) == "date -s @1795900000.250000 >/dev/null"
    assert identity_script("0" * 32, 1795900000.25).startswith(clock_script(1795900000.25) + " && ")
