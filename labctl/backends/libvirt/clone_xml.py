"""A clone's domain XML, made from the XML saved in a template. Pure: text in, text out.

The saved XML carries every address and default libvirt filled in when the template booted, which
QEMU's saved state depends on; so a clone changes only what is its own (name, UUID, files, SPICE
password, who QEMU runs as) and keeps the rest byte for byte. A template has no NICs: a clone's
NICs are hot-plugged after restore (docs/DESIGN.md, "Booted templates").
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass

from labctl.backends.libvirt.domain_xml import METADATA_NS

ET.register_namespace("labctl", METADATA_NS)


class CloneXmlError(ValueError):
    """The saved XML is not the kind of domain labctl's templates make."""


@dataclass(frozen=True)
class CloneFiles:
    name: str
    uuid: str
    title: str
    lab: str
    node: str
    kernel: str
    initrd: str
    overlay: str  # the clone's own disk, over the template's disk
    template_disk: str  # read-only, over the image
    image: str
    console_log: str
    serial_socket: str  # the login console's socket (ttyS1), in the clone's own folder
    spice_password: str
    run_as_root: bool


def _one(parent: ET.Element, path: str) -> ET.Element:
    found = parent.findall(path)
    if len(found) != 1:
        raise CloneXmlError(f"expected one <{path}> in the saved domain, found {len(found)}")
    return found[0]


def _backing_chain(files: CloneFiles) -> ET.Element:
    """overlay -> template disk -> image, neither backing file relabelled (both are shared)."""
    outer = ET.Element("backingStore", type="file")
    ET.SubElement(outer, "format", type="qcow2")
    source = ET.SubElement(outer, "source", file=files.template_disk)
    ET.SubElement(source, "seclabel", model="dac", relabel="no")
    inner = ET.SubElement(outer, "backingStore", type="file")
    ET.SubElement(inner, "format", type="qcow2")
    source = ET.SubElement(inner, "source", file=files.image)
    ET.SubElement(source, "seclabel", model="dac", relabel="no")
    ET.SubElement(inner, "backingStore")
    return outer


def saved_domain(saved: str, error: type[CloneXmlError] = CloneXmlError) -> ET.Element:
    """The root of a save file's domain XML; `error` when it is not one."""
    try:
        root = ET.fromstring(saved)
    except ET.ParseError as exc:
        raise error(f"the saved domain XML does not parse: {exc}") from None
    if root.tag != "domain":
        raise error("the saved XML is not a domain")
    return root


def clone_xml(saved: str, files: CloneFiles) -> str:
    root = saved_domain(saved)
    root.attrib.pop("id", None)
    _one(root, "name").text = files.name
    _one(root, "uuid").text = files.uuid
    _one(root, "title").text = files.title
    node = _one(root, f"metadata/{{{METADATA_NS}}}node")
    node.set("lab", files.lab)
    node.set("node", files.node)
    _one(root, "os/kernel").text = files.kernel
    _one(root, "os/initrd").text = files.initrd
    devices = _one(root, "devices")
    if devices.findall("interface"):
        raise CloneXmlError("the template has NICs")
    disk = _one(devices, "disk")
    source = _one(disk, "source")
    source.attrib.clear()
    source.set("file", files.overlay)
    for child in list(source):
        source.remove(child)  # the template disk's own seclabel
    for old in disk.findall("backingStore"):
        disk.remove(old)
    disk.insert(list(disk).index(source) + 1, _backing_chain(files))
    for tag in ("serial", "console"):
        for char in devices.findall(tag):
            if char.get("type") == "unix":
                _one(char, "source").set("path", files.serial_socket)  # the template's socket: its own
                continue
            for pty in char.findall("source"):
                char.remove(pty)  # the template's pty: libvirt opens a new one
            char.attrib.pop("tty", None)
            for log in char.findall("log"):
                log.set("file", files.console_log)
    for channel in devices.findall("channel"):
        for socket in channel.findall("source"):
            channel.remove(socket)  # the template's socket path: libvirt makes one per domain
    graphics = _one(devices, "graphics")
    graphics.set("passwd", files.spice_password)
    graphics.attrib.pop("port", None)
    graphics.attrib.pop("tlsPort", None)
    graphics.set("autoport", "yes")
    for label in root.findall("seclabel"):
        root.remove(label)
    if files.run_as_root:
        label = ET.SubElement(root, "seclabel", type="static", model="dac", relabel="no")
        ET.SubElement(label, "label").text = "+0:+0"
    return ET.tostring(root, encoding="unicode")
