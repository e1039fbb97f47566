"""A node's domain XML for a restore from a lab snapshot, made from the XML in its save file.
Pure: text in, text out.

libvirt accepts a restore whose XML differs from the saved one only where the guest cannot see it
(docs/research/booted-templates.md, E2: a disk path or backing chain, a bridge, a tap; never a
name, UUID or MAC). A snapshot freezes the node's disk as it was at the save; the node then runs on
a fresh overlay over that frozen disk, so the only change is one more layer in the disk's chain.
"""

from __future__ import annotations

import copy
import xml.etree.ElementTree as ET

from labctl.backends.libvirt.clone_xml import CloneXmlError, saved_domain
from labctl.backends.libvirt.domain_xml import METADATA_NS

ET.register_namespace("labctl", METADATA_NS)

ROOT_LABEL = "+0:+0"  # a domain labctl runs as root (see domain_xml's seclabel)


class SnapshotXmlError(CloneXmlError):
    """The saved XML is not a domain with one file disk, as labctl makes them."""


def _parse(saved: str) -> ET.Element:
    return saved_domain(saved, SnapshotXmlError)


def _disk(root: ET.Element) -> tuple[ET.Element, ET.Element]:
    disks = root.findall("devices/disk")
    if len(disks) != 1:
        raise SnapshotXmlError(f"expected one <disk> in the saved domain, found {len(disks)}")
    sources = disks[0].findall("source")
    if len(sources) != 1 or not sources[0].get("file"):
        raise SnapshotXmlError("the saved domain's disk has no file source")
    return disks[0], sources[0]


def disk_path(saved: str) -> str:
    """The file the saved domain's disk is (the node's overlay when it was saved)."""
    return _disk(_parse(saved))[1].get("file", "")


def on_snapshot_disk(saved: str, overlay: str, frozen: str) -> str:
    """The saved XML with its disk a fresh `overlay` over `frozen` (what the disk was at the save),
    above the chain the disk had. Nothing else changes. A saved XML that names no chain (libvirt
    read it from the qcow2 headers, when QEMU ran as root) names none here either: the overlay's
    header names `frozen`, and `frozen`'s the rest."""
    root = _parse(saved)
    disk, source = _disk(root)
    chain = disk.findall("backingStore")
    if len(chain) > 1:
        raise SnapshotXmlError("the saved domain's disk has two backing chains")
    if chain:
        layer = ET.Element("backingStore", type="file")
        ET.SubElement(layer, "format", type=_format(disk))
        moved = copy.deepcopy(source)  # the old top layer, with its labels: it is `frozen` now
        moved.set("file", frozen)
        layer.append(moved)
        layer.append(chain[0])
        disk.remove(chain[0])
        disk.insert(list(disk).index(source) + 1, layer)
    for node in disk.iter():
        if node.tag in ("source", "backingStore"):
            node.attrib.pop("index", None)  # libvirt numbers the layers again
    source.attrib = {"file": overlay}
    for child in list(source):
        source.remove(child)
    return ET.tostring(root, encoding="unicode")


def _format(disk: ET.Element) -> str:
    driver = disk.find("driver")
    kind = driver.get("type") if driver is not None else None
    if kind != "qcow2":
        raise SnapshotXmlError(f"the saved domain's disk is {kind or 'of no type'}, not qcow2")
    return kind


def runs_as_root(saved: str) -> bool:
    """Whether QEMU runs as root for this domain (labctl's static DAC label), not as libvirt's
    own user, who must then be let into the folder holding the frozen disks."""
    root = _parse(saved)
    return any(
        label.get("model") == "dac" and label.findtext("label") == ROOT_LABEL for label in root.findall("seclabel")
    )
