"""Booted templates, the pure parts: the save-file header a clone gets, the clone's domain XML (from
a real template's saved XML), the template key and cache, and the identity script."""

from __future__ import annotations

import json
import os
import subprocess
import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path

import pytest

from labctl.backends.libvirt import backend as backend_module
from labctl.backends.libvirt import cloning
from labctl.backends.libvirt import template as templates
from labctl.backends.libvirt.clone_xml import CloneFiles, CloneXmlError, clone_xml
from labctl.backends.libvirt.cloning import identity_script
from labctl.backends.libvirt.domain_xml import METADATA_NS
from labctl.backends.libvirt.record import NodeRecord
from labctl.backends.libvirt.savefile import HEADER, MAGIC, SaveFileError, clone_header, header_size, parse
from labctl.backends.libvirt.template import TemplateError
from labctl.cancel import Cancelled
from labctl.compile.plan import LabPlan
from labctl.errors import LabctlError
from labctl.images import ImageArtifacts

SAVED = (Path(__file__).parents[3] / "fixtures" / "template" / "saved-domain.xml").read_text()
COOKIE = b"<cookie>\n  <slirpHelper/>\n</cookie>\n"


def files(**changes: object) -> CloneFiles:
    values: dict[str, object] = {
        "name": "labctl_lab_a",
        "uuid": "12345678-1234-5678-1234-567812345678",
        "title": "labctl lab/a",
        "lab": "lab",
        "node": "a",
        "kernel": "/state/lab/nodes/vmlinuz",
        "initrd": "/state/lab/nodes/initrd.img",
        "overlay": "/state/lab/nodes/a.qcow2",
        "template_disk": "/cache/templates/k/disk.qcow2",
        "image": "/cache/images/i/disk.qcow2",
        "console_log": "/state/lab/nodes/a.console.log",
        "serial_socket": "/state/lab/nodes/a.serial.sock",
        "spice_password": "lab-secret",
        "run_as_root": False,
    }
    values.update(changes)
    return CloneFiles(**values)  # type: ignore[arg-type]


# -- the save file's header ------------------------------------------------------------------


def saved_file(xml: str = SAVED, cookie: bytes = COOKIE, stream: bytes = b"QEVM\0\0\0\3stream") -> bytes:
    return clone_header(xml, cookie) + stream


def test_a_clone_header_parses_back_to_its_xml_cookie_and_stream() -> None:
    data = saved_file()
    saved = parse(data[: header_size(data)])
    assert saved.xml == SAVED and saved.cookie == COOKIE
    assert data[saved.stream_offset :] == b"QEVM\0\0\0\3stream"


def test_a_header_without_a_cookie() -> None:
    data = saved_file(cookie=b"")
    assert parse(data[: header_size(data)]).cookie == b""


def test_libvirts_own_padding_is_read() -> None:
    """libvirt pads the XML to 64 KiB; the stream starts after the padding."""
    body = SAVED.encode() + b"\0" + COOKIE + b"\0"
    data = body + b"\0" * (65536 - len(body))
    head = HEADER.pack(MAGIC, 2, len(data), 1, 0, len(SAVED.encode()) + 1, *([0] * 14)) + data
    saved = parse(head)
    assert (saved.cookie, saved.stream_offset) == (COOKIE, 92 + 65536)


@pytest.mark.parametrize(
    ("head", "message"),
    [
        (b"", "shorter than"),
        (b"x" * 200, "not a libvirt QEMU save file"),
        (HEADER.pack(b"LibvirtQemudPart", 2, 10, 1, 0, 0, *([0] * 14)), "did not finish"),
        (HEADER.pack(MAGIC, 3, 10, 1, 0, 0, *([0] * 14)), "version 3"),
        (HEADER.pack(MAGIC, 2, 10, 1, 1, 0, *([0] * 14)), "compressed"),
        (HEADER.pack(MAGIC, 2, 0, 1, 0, 0, *([0] * 14)), "implausible"),
        (HEADER.pack(MAGIC, 2, 2**31, 1, 0, 0, *([0] * 14)), "implausible"),
    ],
)
def test_what_is_not_a_usable_save_file_is_refused(head: bytes, message: str) -> None:
    with pytest.raises(SaveFileError, match=message):
        parse(head)


def test_a_truncated_or_garbled_header_is_refused() -> None:
    data = saved_file()
    with pytest.raises(SaveFileError, match="ends inside"):
        parse(data[:200])
    nothing = HEADER.pack(MAGIC, 2, 8, 1, 0, 0, *([0] * 14)) + b"\0" * 8
    with pytest.raises(SaveFileError, match="no domain XML"):
        parse(nothing)
    outside = HEADER.pack(MAGIC, 2, 8, 1, 0, 50, *([0] * 14)) + b"<d/>\0\0\0\0"
    with pytest.raises(SaveFileError, match="cookie offset"):
        parse(outside)
    latin = HEADER.pack(MAGIC, 2, 4, 1, 0, 0, *([0] * 14)) + b"\xff\xfe\0\0"
    with pytest.raises(SaveFileError, match="UTF-8"):
        parse(latin)


def test_a_nul_cannot_end_the_xml_early() -> None:
    with pytest.raises(SaveFileError, match="NUL"):
        clone_header("<domain>\0</domain>", COOKIE)


# -- the clone's XML ------------------------------------------------------------------------


def test_a_clone_changes_only_what_is_its_own() -> None:
    root = ET.fromstring(clone_xml(SAVED, files()))
    assert root.findtext("name") == "labctl_lab_a"
    assert root.findtext("uuid") == "12345678-1234-5678-1234-567812345678"
    assert root.findtext("title") == "labctl lab/a"
    node = root.find(f"metadata/{{{METADATA_NS}}}node")
    assert node is not None and (node.get("lab"), node.get("node")) == ("lab", "a")
    assert (root.findtext("os/kernel"), root.findtext("os/initrd")) == (
        "/state/lab/nodes/vmlinuz",
        "/state/lab/nodes/initrd.img",
    )
    disk = root.find("devices/disk")
    assert disk is not None
    assert [s.get("file") for s in disk.iter("source")] == [
        "/state/lab/nodes/a.qcow2",
        "/cache/templates/k/disk.qcow2",
        "/cache/images/i/disk.qcow2",
    ]
    assert [s.get("relabel") for s in disk.iter("seclabel")] == ["no", "no"]  # both shared backing files
    assert {log.get("file") for log in root.iter("log")} == {"/state/lab/nodes/a.console.log"}
    graphics = root.find("devices/graphics")
    assert graphics is not None and graphics.get("passwd") == "lab-secret" and graphics.get("port") is None
    assert root.findall("seclabel") == []
    # what QEMU's saved state depends on stays as it was
    before, after = ET.fromstring(SAVED), root
    for path in ("memory", "vcpu", "os/type", "os/cmdline", "cpu", "features"):
        assert ET.tostring(before.find(path)) == ET.tostring(after.find(path)), path  # type: ignore[arg-type]
    addresses = [ET.tostring(a) for a in before.iter("address")]
    assert [ET.tostring(a) for a in after.iter("address")] == addresses


def test_a_clone_of_root_runs_qemu_as_root() -> None:
    root = ET.fromstring(clone_xml(SAVED, files(run_as_root=True)))
    label = root.find("seclabel")
    assert label is not None and (label.get("model"), label.get("relabel"), label.findtext("label")) == (
        "dac",
        "no",
        "+0:+0",
    )


def test_hostile_values_stay_values() -> None:
    hostile = "a'\"<x/>&amp;]]>"
    root = ET.fromstring(clone_xml(SAVED, files(title=hostile, console_log="/s/" + hostile, spice_password=hostile)))
    assert root.findtext("title") == hostile
    graphics = root.find("devices/graphics")
    assert graphics is not None and graphics.get("passwd") == hostile
    assert {log.get("file") for log in root.iter("log")} == {"/s/" + hostile}


def test_the_templates_pty_and_agent_socket_are_not_inherited() -> None:
    saved = SAVED.replace("<serial type='pty'>", "<serial type='pty'><source path='/dev/pts/7'/>").replace(
        "<channel type='unix'>", "<channel type='unix'><source mode='bind' path='/run/tpl.sock'/>"
    )
    text = clone_xml(saved.replace("<console type='pty'>", "<console type='pty' tty='/dev/pts/7'>"), files())
    assert "/dev/pts/7" not in text and "/run/tpl.sock" not in text


LOGIN_SERIAL = """<serial type='unix'>
      <source mode='bind' path='/var/cache/labctl/templates/efe86d9625c1a323/template.serial.sock'/>
      <target type='isa-serial' port='1'>
        <model name='isa-serial'/>
      </target>
    </serial>
    <console type='pty'>"""


def test_a_clone_s_login_console_listens_in_its_own_folder() -> None:
    """The template's second serial port (a unix socket in the template's folder) stays, on the clone's socket."""
    saved = SAVED.replace("<console type='pty'>", LOGIN_SERIAL)
    root = ET.fromstring(clone_xml(saved, files()))
    serials = root.findall("devices/serial")
    assert [(s.get("type"), s.find("target").get("port")) for s in serials] == [("pty", "0"), ("unix", "1")]  # type: ignore[union-attr]
    source = serials[1].find("source")
    assert source is not None and source.attrib == {"mode": "bind", "path": "/state/lab/nodes/a.serial.sock"}
    assert "templates/efe86d9625c1a323/template.serial.sock" not in ET.tostring(root, encoding="unicode")
    assert serials[1].find("log") is None  # the console log stays the first port's


@pytest.mark.parametrize(
    ("saved", "message"),
    [
        ("", "does not parse"),
        ("<domain", "does not parse"),
        ("<network/>", "not a domain"),
        ("<domain/>", "one <name>"),
        (SAVED.replace("<devices>", "<devices><interface type='bridge'/>"), "has NICs"),
        (SAVED.replace("</disk>", "</disk><disk type='file'><source file='/x'/></disk>"), "one <disk>"),
    ],
)
def test_a_saved_xml_labctl_did_not_make_is_refused(saved: str, message: str) -> None:
    with pytest.raises(CloneXmlError, match=message):
        clone_xml(saved, files())


# -- keys and the cache ---------------------------------------------------------------------

PARTS = {"image": {"digest": "d", "qcow2_sha256": "s"}, "qemu": "7.2", "memory_mib": 256, "vcpus": 1}


def test_a_key_changes_with_every_part_and_not_with_their_order() -> None:
    key = templates.template_key(PARTS)
    assert key == templates.template_key(dict(reversed(list(PARTS.items()))))
    for changed in (
        {**PARTS, "image": {"digest": "d2", "qcow2_sha256": "s"}},  # the image was rebuilt
        {**PARTS, "image": {"digest": "d", "qcow2_sha256": "s2"}},
        {**PARTS, "qemu": "8.0"},
        {**PARTS, "memory_mib": 320},
        {**PARTS, "vcpus": 2},
    ):
        assert templates.template_key(changed) != key


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    return tmp_path / "cache" / "labctl" / "templates"


def made(key: str) -> templates.Template:
    folder = templates.fresh_folder(key)
    (folder / templates.DISK).write_bytes(b"disk")
    (folder / templates.STATE).write_bytes(b"state")
    return templates.finish(folder, key, PARTS, 1.0)


def test_a_finished_template_loads_and_its_disk_is_read_only(cache: Path) -> None:
    key = templates.template_key(PARTS)
    made(key)
    found = templates.load(key)
    assert found is not None and found.folder == cache / key[:16]
    assert os.stat(found.disk).st_mode & 0o777 == 0o444 and os.stat(found.state).st_mode & 0o777 == 0o600
    assert json.loads((found.folder / templates.META).read_text())["parts"] == PARTS


def test_an_incomplete_damaged_or_corrupt_template_is_not_used(cache: Path) -> None:
    key = templates.template_key(PARTS)
    assert templates.load(key) is None  # never built
    template = made(key)
    os.chmod(template.state, 0o600)
    template.state.write_bytes(b"stat")  # another size than recorded: truncated
    assert templates.load(key) is None
    template = made(key)
    templates.mark_corrupt(template, "QEMU could not load its saved state")
    assert templates.load(key) is None
    assert templates.list_templates()[0]["corrupt"] == "QEMU could not load its saved state"
    template = made(key)
    (template.folder / templates.META).write_text("{not json")
    assert templates.load(key) is None
    other = templates.template_key({**PARTS, "qemu": "8.0"})
    template = made(key)
    os.rename(template.folder, cache / other[:16])  # a folder under another key's name
    assert templates.load(other) is None
    template = made(key)
    os.unlink(template.disk)
    os.symlink("/etc/passwd", template.disk)
    assert templates.load(key) is None


def test_only_template_folders_are_ever_removed(cache: Path, tmp_path: Path) -> None:
    outside = tmp_path / "precious"
    outside.mkdir()
    with pytest.raises(LabctlError, match="not a template folder"):
        templates.remove(outside)
    cache.mkdir(parents=True, exist_ok=True)
    (cache / "link").symlink_to(outside)
    with pytest.raises(LabctlError, match="not a template folder"):
        templates.remove(cache / "link")
    assert outside.is_dir()


# -- identity -------------------------------------------------------------------------------


def test_the_identity_script_sets_clock_machine_id_and_entropy() -> None:
    script = identity_script("0123456789abcdef0123456789abcdef", 1795900000.25)
    assert script.startswith("date -s @1795900000.250000 ")
    assert "0123456789abcdef0123456789abcdef > /etc/machine-id" in script and "0x5207" in script


@pytest.mark.parametrize("bad", ["", "0" * 31, "0" * 33, "g" * 32, "0" * 31 + ";", "$(reboot)" + "0" * 23])
def test_only_a_machine_id_reaches_the_shell(bad: str) -> None:
    with pytest.raises(ValueError, match="machine-id"):
        identity_script(bad, 0.0)


@pytest.mark.parametrize("bad", ["", "02:00:00:00:00", "02:00:00:00:00:0g", "02:00:00:00:00:00;reboot", "$(x)"])
def test_only_mac_addresses_reach_the_shell(bad: str) -> None:
    with pytest.raises(ValueError, match="MAC"):
        identity_script("0" * 32, 0.0, ["02:00:00:00:00:01", bad])


def test_the_identity_script_waits_for_every_nic_and_udev(tmp_path: Path) -> None:
    """Run against a fake /sys: the loop finds present MACs and gives up on a missing one."""
    script = identity_script("0" * 32, 0.0, ["02:00:00:00:00:01", "02:00:00:00:00:02"])
    loop = script[script.index("for m in") :].replace("/sys/class/net", str(tmp_path / "net"))
    for i, mac in enumerate(("02:00:00:00:00:01", "02:00:00:00:00:02")):
        (tmp_path / "net" / f"eth{i}").mkdir(parents=True)
        (tmp_path / "net" / f"eth{i}" / "address").write_text(mac + "\n")
    fake = tmp_path / "bin"
    fake.mkdir()
    (fake / "udevadm").write_text("#!/bin/sh\necho settled\n")
    (fake / "udevadm").chmod(0o755)
    env = {"PATH": f"{fake}:/usr/bin:/bin"}
    done = subprocess.run(["sh", "-c", loop], capture_output=True, text=True, env=env)
    assert (done.returncode, done.stdout) == (0, "settled\n")
    (tmp_path / "net" / "eth1" / "address").write_text("02:00:00:00:00:09\n")
    fast = loop.replace("-le 300", "-le 2")
    missing = subprocess.run(["sh", "-c", fast], capture_output=True, text=True, env=env)
    assert missing.returncode == 3 and "its NIC 02:00:00:00:00:02 did not show" in missing.stderr


def test_templates_of_images_no_longer_cached_are_removed(cache: Path) -> None:
    kept = made(templates.template_key(PARTS))
    gone_parts = {**PARTS, "image": {"digest": "removed", "qcow2_sha256": "s"}}
    folder = templates.fresh_folder(templates.template_key(gone_parts))
    (folder / templates.DISK).write_bytes(b"disk")
    (folder / templates.STATE).write_bytes(b"state")
    gone = templates.finish(folder, templates.template_key(gone_parts), gone_parts, 1.0)
    building = cache / "0123456789abcdef"  # no record yet: a build in progress
    building.mkdir()
    assert templates.remove_orphans({"d"}) == [gone.folder]
    assert kept.folder.is_dir() and building.is_dir() and not gone.folder.exists()


# -- what a failed restore leads to ---------------------------------------------------------


@pytest.mark.parametrize(
    ("raised", "outcome"),
    [
        (TemplateError("QEMU could not load its saved state: x"), "unusable"),
        (LabctlError("node 'h1': its NIC 02:00:00:00:00:01 did not show within 30 s"), "failed"),
        (Cancelled("cancelled"), Cancelled),
    ],
)
def test_a_failed_restore_boots_cold_but_ctrl_c_boots_nothing(
    cache: Path,
    monkeypatch: pytest.MonkeyPatch,
    plan: Callable[[str], LabPlan],
    raised: Exception,
    outcome: str | type[Exception],
) -> None:
    def restore(*_args: object) -> None:
        raise raised

    monkeypatch.setattr(backend_module, "restore", restore)
    monkeypatch.setattr(backend_module, "lab_secrets", lambda _lab, names: dict.fromkeys(names, "x"))
    lab = plan("name: t\nnodes:\n  h1: {}\n")
    image = ImageArtifacts("debian12-lab", "d", cache / "i", cache / "k", cache / "r", cache / "m")
    backend = backend_module.LibvirtBackend({"debian12-lab": image})
    template = made(templates.template_key(PARTS))
    record = NodeRecord("labctl_t_h1", str(cache / "o.qcow2"), str(cache / "c.log"))
    if not isinstance(outcome, str):
        with pytest.raises(outcome):
            backend._clone("t", lab.nodes[0], record, template)
        assert templates.load(template.key) is not None
        return
    note = backend._clone("t", lab.nodes[0], record, template)
    assert outcome in note and record.boot == ""
    assert (templates.load(template.key) is None) == (outcome == "unusable")  # only QEMU's refusal marks it


class FakeDomain:
    def __init__(self, name: str, destroyed: list[str]) -> None:
        self._name, self.destroyed = name, destroyed

    def name(self) -> str:
        return self._name

    def destroy(self) -> None:
        self.destroyed.append(self._name)


class FakeConn:
    def __init__(self, names: list[str]) -> None:
        self.destroyed: list[str] = []
        self.domains = {n: FakeDomain(n, self.destroyed) for n in names}

    def listAllDomains(self, flags: int) -> list[FakeDomain]:
        return list(self.domains.values())

    def lookupByName(self, name: str) -> FakeDomain:
        return self.domains[name]


def test_only_template_domains_no_builder_holds_are_stopped(cache: Path) -> None:
    building, killed = "a" * 64, "b" * 64
    with templates.building(killed):
        pass  # its builder was killed: the lock file stays, nobody holds it
    conn = FakeConn(
        [
            f"{cloning.TEMPLATE_DOMAIN_PREFIX}{building[:12]}",
            f"{cloning.TEMPLATE_DOMAIN_PREFIX}{killed[:12]}",
            "labctl_lab_a",
            f"{cloning.TEMPLATE_DOMAIN_PREFIX}../../x",
            f"{cloning.TEMPLATE_DOMAIN_PREFIX}",
        ]
    )
    said: list[str] = []
    with templates.building(building):
        cloning.stop_stale_builders(conn, lambda _node, message: said.append(message))
    assert conn.destroyed == [f"{cloning.TEMPLATE_DOMAIN_PREFIX}{killed[:12]}"]
    assert said == [f"stopped labctl-tpl-{killed[:12]}, left running by a template build that was killed"]
