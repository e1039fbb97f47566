"""labctl.backends.libvirt.domain_xml: the XML libvirt gets for a node, checked by parsing it."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from xml.etree import ElementTree as ET

import pytest

from labctl.backends.libvirt.domain_xml import METADATA_NS, TCG_TB_CACHE_MIB, BootFiles, domain_xml
from labctl.backends.libvirt.naming import bridge_name, tap_name
from labctl.compile import compile_topology
from labctl.compile.plan import DesktopPlan, NodePlan
from labctl.topology.schema import load_topology

REPO = Path(__file__).resolve().parents[4]
PLAN = compile_topology(load_topology(REPO / "topologies" / "ospf-dns.yaml"))
BOOT = BootFiles("/cache/vmlinuz", "/cache/initrd.img", "/state/ring/r1.qcow2", "/state/ring/r1.console.log")
SPICE = "s3cret-Ticket_x"


def xml(node: NodePlan, accel: str = "kvm", boot: BootFiles = BOOT, root: bool = False, spice: str = SPICE) -> str:
    return domain_xml("ring", f"labctl-ring-{node.name}", node, boot, accel, run_as_root=root, spice_password=spice)


def parse(node: NodePlan, accel: str = "kvm", boot: BootFiles = BOOT, root: bool = False) -> ET.Element:
    return ET.fromstring(xml(node, accel, boot, root))


def one(root: ET.Element, path: str) -> ET.Element:
    found = root.findall(path)
    assert len(found) == 1, f"{path}: {len(found)} elements"
    return found[0]


@pytest.mark.parametrize("node", PLAN.nodes, ids=[n.name for n in PLAN.nodes])
@pytest.mark.parametrize("accel", ["kvm", "tcg"])
def test_every_node_gives_well_formed_xml(node: NodePlan, accel: str) -> None:
    root = parse(node, accel)
    assert root.tag == "domain"
    assert one(root, "name").text == f"labctl-ring-{node.name}"
    assert one(root, "memory").text == str(node.memory) and one(root, "memory").get("unit") == "MiB"
    assert one(root, "vcpu").text == str(node.vcpus)
    meta = one(root, f"metadata/{{{METADATA_NS}}}node")
    assert (meta.get("lab"), meta.get("node")) == ("ring", node.name)


def test_kvm_passes_the_host_cpu_through() -> None:
    root = parse(PLAN.node("r1"), "kvm")
    assert root.get("type") == "kvm"
    assert one(root, "cpu").attrib == {"mode": "host-passthrough"}
    assert root.find("features/tcg") is None


def test_tcg_emulates_the_maximum_cpu_with_a_small_translation_cache() -> None:
    root = parse(PLAN.node("r1"), "tcg")
    assert root.get("type") == "qemu"
    assert one(root, "cpu").attrib == {"mode": "maximum"}
    cache = one(root, "features/tcg/tb-cache")
    assert (cache.get("unit"), cache.text) == ("MiB", str(TCG_TB_CACHE_MIB))


@pytest.mark.parametrize("name", ["r1", "r2", "ns", "h2"])
def test_one_virtio_nic_per_plan_interface_on_its_bridge_and_tap(name: str) -> None:
    node = PLAN.node(name)
    nics = parse(node).findall("devices/interface")
    assert len(nics) == len(node.interfaces) >= 1
    for nic, iface in zip(nics, node.interfaces, strict=True):
        assert nic.get("type") == "bridge"
        assert one(nic, "source").get("bridge") == bridge_name("ring", iface.segment)
        assert one(nic, "target").get("dev") == tap_name("ring", name, iface.name)
        assert one(nic, "mac").get("address") == iface.mac
        assert one(nic, "model").get("type") == "virtio"


def test_spice_listens_on_loopback_only() -> None:
    graphics = one(parse(PLAN.node("h1")), "devices/graphics")
    assert graphics.get("type") == "spice"
    assert graphics.get("listen") == "127.0.0.1"
    assert [(e.get("type"), e.get("address")) for e in graphics.findall("listen")] == [("address", "127.0.0.1")]


@pytest.mark.parametrize("node", PLAN.nodes, ids=[n.name for n in PLAN.nodes])
def test_every_display_asks_for_the_lab_spice_password(node: NodePlan) -> None:
    displays = parse(node).findall("devices/graphics")
    assert displays and all(g.get("passwd") == SPICE for g in displays)
    assert "disable-ticketing" not in xml(node) and "disable_ticketing" not in xml(node)


@pytest.mark.parametrize("password", ["", None])
def test_a_display_without_a_password_is_refused(password: str | None) -> None:
    with pytest.raises(ValueError, match="password"):
        xml(PLAN.node("h1"), spice=password)  # type: ignore[arg-type]


@pytest.mark.parametrize("password", ["a'b\"c", "<&>", "x y\tz", "é€"])
def test_a_password_with_xml_special_characters_stays_intact(password: str) -> None:
    graphics = one(ET.fromstring(xml(PLAN.node("h1"), spice=password)), "devices/graphics")
    assert graphics.get("passwd") == password


def test_guest_agent_channel_and_serial_log() -> None:
    root = parse(PLAN.node("h1"))
    channel = one(root, "devices/channel")
    assert channel.get("type") == "unix"
    assert one(channel, "target").attrib == {"type": "virtio", "name": "org.qemu.guest_agent.0"}
    log = one(root, "devices/serial/log")
    assert (log.get("file"), log.get("append")) == (BOOT.console_log, "on")
    assert one(root, "devices/console/target").get("type") == "serial"


def test_boots_the_image_kernel_on_the_overlay() -> None:
    root = parse(PLAN.node("h1"))
    assert one(root, "os/kernel").text == BOOT.kernel
    assert one(root, "os/initrd").text == BOOT.initrd
    assert "console=ttyS0" in (one(root, "os/cmdline").text or "")
    disk = one(root, "devices/disk")
    assert one(disk, "source").get("file") == BOOT.overlay
    assert one(disk, "driver").get("type") == "qcow2"
    assert one(disk, "target").attrib == {"dev": "vda", "bus": "virtio"}


def test_paths_with_xml_special_characters_stay_intact() -> None:
    odd = BootFiles("/home/a&b/<k>", "/home/a&b/'i'", '/home/a&b/"o".qcow2', "/home/a&b/<log>")
    root = parse(PLAN.node("h1"), boot=odd)
    assert one(root, "os/kernel").text == odd.kernel
    assert one(root, "os/initrd").text == odd.initrd
    assert one(root, "devices/disk/source").get("file") == odd.overlay
    assert one(root, "devices/serial/log").get("file") == odd.console_log


def test_running_as_root_keeps_files_owned_by_root() -> None:
    assert parse(PLAN.node("h1"), root=False).find("seclabel") is None
    label = one(parse(PLAN.node("h1"), root=True), "seclabel")
    assert (label.get("model"), label.get("relabel"), one(label, "label").text) == ("dac", "no", "+0:+0")


def test_unprivileged_qemu_leaves_the_shared_backing_image_unlabelled() -> None:
    boot = BootFiles(BOOT.kernel, BOOT.initrd, BOOT.overlay, BOOT.console_log, "/cache/img/disk.qcow2")
    store = one(parse(PLAN.node("h1"), boot=boot, root=False), "devices/disk/backingStore")
    assert store.get("type") == "file" and one(store, "format").get("type") == "qcow2"
    assert one(store, "source").get("file") == boot.backing
    label = one(store, "source/seclabel")
    assert (label.get("model"), label.get("relabel")) == ("dac", "no")
    assert one(store, "backingStore").attrib == {} and len(one(store, "backingStore")) == 0
    assert parse(PLAN.node("h1"), boot=boot, root=True).find("devices/disk/backingStore") is None
    assert parse(PLAN.node("h1"), root=False).find("devices/disk/backingStore") is None


def test_a_headless_node_has_no_sound_card_tablet_or_agent_port() -> None:
    root = parse(PLAN.node("r1"))
    assert not root.findall("devices/sound") and not root.findall("devices/audio")
    assert not root.findall("devices/input") and not root.findall("devices/channel[@type='spicevmc']")


def test_a_desktop_has_a_tablet_the_spice_agent_port_and_a_sound_card_with_a_microphone() -> None:
    desk = dataclasses.replace(PLAN.node("r1"), desktop=DesktopPlan(sound="spice"))
    root = parse(desk)
    assert one(root, "devices/input").attrib == {"type": "tablet", "bus": "virtio"}
    port = one(root, "devices/channel[@type='spicevmc']/target")
    assert (port.get("type"), port.get("name")) == ("virtio", "com.redhat.spice.0")
    sound = one(root, "devices/sound")
    assert sound.get("model") == "ich9" and one(sound, "codec").get("type") == "micro"
    assert one(root, "devices/audio").attrib == {"id": one(sound, "audio").get("id"), "type": "spice"}


def test_a_desktop_recording_to_a_file_names_the_file_in_the_xml() -> None:
    desk = dataclasses.replace(PLAN.node("r1"), desktop=DesktopPlan(sound="file"))
    path = "/state/ring/r1 & <x>.audio.wav"
    audio = one(parse(desk, boot=dataclasses.replace(BOOT, audio_file=path)), "devices/audio")
    assert (audio.get("type"), audio.get("path")) == ("file", path)
    with pytest.raises(ValueError, match="needs the file's path"):
        parse(desk)


def test_under_tcg_a_desktop_sees_no_avx_and_kvm_passes_the_cpu_through() -> None:
    desk = dataclasses.replace(PLAN.node("r1"), desktop=DesktopPlan(sound="spice"))
    hidden = {f.get("name") for f in parse(desk, "tcg").findall("cpu/feature[@policy='disable']")}
    assert {"avx", "avx2", "fma"} <= hidden
    assert not parse(PLAN.node("r1"), "tcg").findall("cpu/feature")
    assert one(parse(desk, "kvm"), "cpu").get("mode") == "host-passthrough"


def test_the_login_console_is_a_second_serial_port_on_a_unix_socket() -> None:
    socket = "/state/ring/nodes/r1.serial.sock"
    boot = BootFiles(BOOT.kernel, BOOT.initrd, BOOT.overlay, BOOT.console_log, serial_socket=socket)
    root = parse(PLAN.node("r1"), boot=boot)
    first, second = root.findall("devices/serial")
    assert (first.get("type"), one(first, "target").get("port"), one(first, "log").get("file")) == (
        "pty",
        "0",
        BOOT.console_log,
    )
    assert second.get("type") == "unix" and one(second, "target").attrib == {"port": "1"}
    assert one(second, "source").attrib == {"mode": "bind", "path": socket} and second.find("log") is None
    assert one(root, "devices/console/target").attrib == {"type": "serial", "port": "0"}  # `labctl console`
    odd = "/home/a&b/'<s>\".sock"
    hostile = BootFiles(BOOT.kernel, BOOT.initrd, BOOT.overlay, BOOT.console_log, serial_socket=odd)
    assert one(parse(PLAN.node("r1"), boot=hostile), "devices/serial[@type='unix']/source").get("path") == odd
    assert [s.get("type") for s in parse(PLAN.node("r1")).findall("devices/serial")] == ["pty"]  # none asked
