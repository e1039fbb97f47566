"""LibvirtBackend._start_node: a node's overlay (its whole disk) is readable by its owner only."""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from labctl.backends.libvirt import dac
from labctl.backends.libvirt.backend import LibvirtBackend, _onto_image
from labctl.backends.libvirt.record import node_record
from labctl.compile.plan import LabPlan
from labctl.errors import LabctlError
from labctl.images import ImageArtifacts
from labctl.state import LabState


class FakeDomain:
    def XMLDesc(self, flags: int) -> str:
        return "<domain/>"


class FakeConn:
    def __init__(self) -> None:
        self.xml: list[str] = []

    def createXML(self, xml: str, flags: int) -> FakeDomain:
        self.xml.append(xml)
        return FakeDomain()


@pytest.mark.skipif(shutil.which("qemu-img") is None, reason="needs qemu-img")
def test_the_overlay_is_0600(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, plan: Callable[[str], LabPlan]) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    base = tmp_path / "base.qcow2"
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(base), "16M"], check=True)
    lab = plan("name: t\nnodes:\n  h1: {}\n")
    (tmp_path / "k").write_bytes(b"kernel")
    (tmp_path / "i").write_bytes(b"initrd")
    image = ImageArtifacts("debian12-lab", "d", base, tmp_path / "k", tmp_path / "i", tmp_path / "m")
    backend = LibvirtBackend({"debian12-lab": image})
    conn = FakeConn()
    backend._conn = conn
    state = LabState(lab="t", backend="libvirt", topology="t", plan=lab.to_dict(), accel="tcg")
    umask = os.umask(0o022)
    try:
        backend._start_node(lab, lab.nodes[0], state)
    finally:
        os.umask(umask)
    record = node_record(state, "h1")
    assert record is not None
    overlay = Path(record.overlay)
    qemu = dac.qemu_account()
    assert overlay.is_file() and stat.S_IMODE(overlay.stat().st_mode) == 0o600
    for folder in (tmp_path / "state" / "labctl", tmp_path / "state" / "labctl" / "t", overlay.parent):
        info = folder.stat()
        if qemu is None or qemu.uid == 0:
            assert stat.S_IMODE(info.st_mode) == 0o700, folder
        else:  # QEMU's own group may enter, nobody may list
            assert (stat.S_IMODE(info.st_mode), info.st_gid) == (0o710, dac.own_group(qemu)), folder


def test_let_through_opens_only_the_group_execute_bit(tmp_path: Path) -> None:
    folder = tmp_path / "private"
    folder.mkdir(mode=0o700)
    me = dac.Account(name="nobody-such", uid=os.getuid(), gids=frozenset({os.getgid()}))
    gid = os.getgid()
    monkey = pytest.MonkeyPatch()
    monkey.setattr(dac, "own_group", lambda who: gid)
    try:
        dac.let_through([folder], me)
    finally:
        monkey.undo()
    assert (stat.S_IMODE(folder.stat().st_mode), folder.stat().st_gid) == (0o710, gid)


@pytest.mark.skipif(shutil.which("qemu-img") is None, reason="needs qemu-img")
def test_nodes_boot_the_labs_own_copy_of_kernel_and_initrd(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, plan: Callable[[str], LabPlan]
) -> None:
    """libvirt hands booted files to QEMU's user: the shared cache's kernel must never be among them."""
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    base = tmp_path / "base.qcow2"
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(base), "16M"], check=True)
    (tmp_path / "vmlinuz").write_bytes(b"kernel")
    (tmp_path / "initrd.img").write_bytes(b"initrd")
    lab = plan("name: t\nnodes:\n  h1: {}\n  h2: {}\nlinks:\n  - [h1, h2]\n")
    image = ImageArtifacts(
        "debian12-lab", "0123456789abcdef", base, tmp_path / "vmlinuz", tmp_path / "initrd.img", tmp_path / "m"
    )
    backend = LibvirtBackend({"debian12-lab": image})
    conn = FakeConn()
    backend._conn = conn
    state = LabState(lab="t", backend="libvirt", topology="t", plan=lab.to_dict(), accel="tcg")
    for node in lab.nodes:
        backend._start_node(lab, node, state)
    nodes = tmp_path / "state" / "labctl" / "t" / "nodes"
    kernel, initrd = nodes / "vmlinuz-0123456789ab", nodes / "initrd.img-0123456789ab"
    assert kernel.read_bytes() == b"kernel" and initrd.read_bytes() == b"initrd"
    assert stat.S_IMODE(kernel.stat().st_mode) == 0o600
    for xml in conn.xml:
        assert f"<kernel>{kernel}</kernel>" in xml and f"<initrd>{initrd}</initrd>" in xml
        assert str(tmp_path / "vmlinuz") + "<" not in xml


def _backing(disk: Path) -> str:
    info = subprocess.run(["qemu-img", "info", "--output=json", str(disk)], capture_output=True, text=True, check=True)
    return str(json.loads(info.stdout).get("backing-filename"))


@pytest.mark.skipif(shutil.which("qemu-img") is None, reason="needs qemu-img")
def test_a_node_given_a_saved_disk_boots_a_copy_of_it_on_this_image(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, plan: Callable[[str], LabPlan]
) -> None:
    """A saved overlay names the image path of the host it was saved on: the copy names this one's."""
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    base, elsewhere, saved = tmp_path / "base.qcow2", tmp_path / "other-host.qcow2", tmp_path / "saved.qcow2"
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(base), "16M"], check=True)
    shutil.copyfile(base, elsewhere)
    subprocess.run(
        ["qemu-img", "create", "-q", "-f", "qcow2", "-F", "qcow2", "-b", str(elsewhere), str(saved)], check=True
    )
    before = saved.read_bytes()
    (tmp_path / "k").write_bytes(b"kernel")
    (tmp_path / "i").write_bytes(b"initrd")
    lab = plan("name: t\nnodes:\n  h1: {}\n  h2: {}\nlinks:\n  - [h1, h2]\n")
    image = ImageArtifacts("debian12-lab", "d", base, tmp_path / "k", tmp_path / "i", tmp_path / "m")
    backend = LibvirtBackend({"debian12-lab": image}, {"h1": saved})
    backend._conn = FakeConn()
    state = LabState(lab="t", backend="libvirt", topology="t", plan=lab.to_dict(), accel="tcg")
    for node in lab.nodes:
        backend._start_node(lab, node, state)
    h1, h2 = (Path(r.overlay) for r in (node_record(state, "h1"), node_record(state, "h2")) if r is not None)
    assert _backing(h1) == _backing(h2) == str(base) and stat.S_IMODE(h1.stat().st_mode) == 0o600
    assert saved.read_bytes() == before  # the bundle's copy is left as it was (a restart copies it again)


@pytest.mark.skipif(shutil.which("qemu-img") is None, reason="needs qemu-img")
@pytest.mark.parametrize("kind", ["data-file", "raw", "garbage"])
def test_a_saved_disk_that_is_not_a_plain_qcow2_overlay_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, plan: Callable[[str], LabPlan], kind: str
) -> None:
    """A qcow2 naming an external data file would have QEMU open a host file: never booted."""
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    base, saved = tmp_path / "base.qcow2", tmp_path / "saved.qcow2"
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(base), "16M"], check=True)
    if kind == "data-file":
        target = tmp_path / "host-file"
        target.write_bytes(b"")
        options = f"data_file={target},data_file_raw=on"
        subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", "-o", options, str(saved), "16M"], check=True)
    elif kind == "raw":
        subprocess.run(["qemu-img", "create", "-q", "-f", "raw", str(saved), "1M"], check=True)
    else:
        saved.write_bytes(b"QFI\xfb" + b"\x00" * 100)
    lab = plan("name: t\nnodes:\n  h1: {}\n")
    image = ImageArtifacts("debian12-lab", "d", base, tmp_path / "k", tmp_path / "i", tmp_path / "m")
    backend = LibvirtBackend({"debian12-lab": image}, {"h1": saved})
    conn = FakeConn()
    backend._conn = conn
    state = LabState(lab="t", backend="libvirt", topology="t", plan=lab.to_dict(), accel="tcg")
    with pytest.raises(LabctlError) as caught:
        backend._start_node(lab, lab.nodes[0], state)
    assert str(caught.value) == "the saved disk of node 'h1' is not a plain qcow2 overlay; it is not booted"
    assert conn.xml == []


def _qemu_io(disk: Path, command: str) -> str:
    return subprocess.run(
        ["qemu-io", "-f", "qcow2", "-c", command, str(disk)], check=True, capture_output=True, text=True
    ).stdout


@pytest.mark.skipif(shutil.which("qemu-io") is None, reason="needs qemu-io")
def test_a_saved_disk_of_a_cloned_node_holds_the_templates_clusters(tmp_path: Path) -> None:
    """A clone's overlay sits on the template's disk; its saved copy must stand on the image alone,
    or a replay (which puts the image under it) would lose what the template's boot wrote."""
    image, template, overlay, saved = (tmp_path / f"{n}.qcow2" for n in ("image", "template", "overlay", "saved"))
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(image), "16M"], check=True)
    for lower, upper in ((image, template), (template, overlay)):
        subprocess.run(
            ["qemu-img", "create", "-q", "-f", "qcow2", "-F", "qcow2", "-b", str(lower), str(upper)], check=True
        )
    _qemu_io(template, "write -P 0x5a 0 64k")  # the template's boot
    _qemu_io(overlay, "write -P 0x33 1M 64k")  # the node's own change
    shutil.copyfile(overlay, saved)
    _onto_image(saved)
    assert _backing(saved) == str(image)
    assert "pattern verification failed" not in _qemu_io(saved, "read -P 0x5a 0 64k")
    assert "pattern verification failed" not in _qemu_io(saved, "read -P 0x33 1M 64k")
    plain = tmp_path / "plain.qcow2"  # a cold-booted node's overlay is left as it is
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", "-F", "qcow2", "-b", str(image), str(plain)], check=True)
    before = plain.read_bytes()
    _onto_image(plain)
    assert plain.read_bytes() == before
