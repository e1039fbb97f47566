"""The XML a node is restored with from a lab snapshot: the saved XML (a real one, from a template's
save file) with its disk a fresh overlay over the frozen disk, and nothing else changed."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from labctl.backends.libvirt.snapshot_xml import SnapshotXmlError, disk_path, on_snapshot_disk, runs_as_root

SAVED = (Path(__file__).parents[3] / "fixtures" / "template" / "saved-domain.xml").read_text()
OLD_TOP = "/var/cache/labctl/templates/efe86d9625c1a323/disk.qcow2"
IMAGE = "/var/cache/labctl/images/debian12-lab-0932c6eaf2e1/disk.qcow2"
OVERLAY = "/state/lab/nodes/a.qcow2"
FROZEN = "/state/lab/snapshots/snap-1/a.qcow2"


def without_disk(root: ET.Element) -> bytes:
    for disk in root.findall("devices/disk"):
        root.find("devices").remove(disk)  # type: ignore[union-attr]
    return ET.tostring(root)


def test_only_the_disk_changes_one_layer_more() -> None:
    changed = ET.fromstring(on_snapshot_disk(SAVED, OVERLAY, FROZEN))
    disk = changed.find("devices/disk")
    assert disk is not None
    assert [s.get("file") for s in disk.iter("source")] == [OVERLAY, FROZEN, IMAGE]
    assert [f.get("type") for f in disk.iter("format")] == ["qcow2", "qcow2"]
    assert [s.get("relabel") for s in disk.iter("seclabel")] == ["no"]  # the shared image only
    assert ET.tostring(disk.find("target")) == ET.tostring(ET.fromstring(SAVED).find("devices/disk/target"))  # type: ignore[arg-type]
    assert without_disk(changed) == without_disk(ET.fromstring(SAVED))
    assert disk_path(SAVED) == OLD_TOP


def test_the_frozen_layer_keeps_the_old_tops_labels_and_layers_are_renumbered() -> None:
    saved = SAVED.replace(
        f"<source file='{OLD_TOP}'/>",
        f"<source file='{OLD_TOP}' index='2'><seclabel model='dac' relabel='no'/></source>",
    ).replace("<backingStore type='file'>", "<backingStore type='file' index='1'>")
    disk = ET.fromstring(on_snapshot_disk(saved, OVERLAY, FROZEN)).find("devices/disk")
    assert disk is not None
    top = disk.find("source")
    assert top is not None and top.attrib == {"file": OVERLAY} and list(top) == []
    assert [s.get("relabel") for s in disk.iter("seclabel")] == ["no", "no"]
    assert all("index" not in e.attrib for e in disk.iter() if e.tag in ("source", "backingStore"))


def test_a_disk_without_a_named_chain_gets_none() -> None:
    saved = SAVED.split("<backingStore type='file'>")[0] + SAVED.split("</backingStore>\n", 1)[1]
    assert "backingStore" not in saved
    disk = ET.fromstring(on_snapshot_disk(saved, OVERLAY, FROZEN)).find("devices/disk")
    assert disk is not None and [s.get("file") for s in disk.iter("source")] == [OVERLAY]


def test_snapshots_of_snapshots_stack() -> None:
    once = on_snapshot_disk(SAVED, OVERLAY, FROZEN)
    twice = on_snapshot_disk(once, OVERLAY, "/state/lab/snapshots/snap-2/a.qcow2")
    disk = ET.fromstring(twice).find("devices/disk")
    assert disk is not None
    assert [s.get("file") for s in disk.iter("source")] == [
        OVERLAY,
        "/state/lab/snapshots/snap-2/a.qcow2",
        FROZEN,
        IMAGE,
    ]


def test_hostile_paths_stay_values() -> None:
    hostile = "/s/a'\"<x/>&amp;]]>"
    disk = ET.fromstring(on_snapshot_disk(SAVED, hostile, hostile + "2")).find("devices/disk")
    assert disk is not None and [s.get("file") for s in disk.iter("source")][:2] == [hostile, hostile + "2"]


def test_who_qemu_runs_as() -> None:
    assert not runs_as_root(SAVED)
    root = SAVED.replace(
        "</domain>", "<seclabel type='static' model='dac' relabel='no'><label>+0:+0</label></seclabel></domain>"
    )
    assert runs_as_root(root)


@pytest.mark.parametrize(
    ("saved", "message"),
    [
        ("<domain", "does not parse"),
        ("<network/>", "not a domain"),
        ("<domain/>", "one <disk>"),
        (SAVED.replace("</disk>", "</disk><disk type='file'><source file='/x'/></disk>"), "one <disk>"),
        (SAVED.replace(f"<source file='{OLD_TOP}'/>", "<source dev='/dev/sda'/>"), "no file source"),
        (SAVED.replace("type='qcow2' discard", "type='raw' discard"), "raw, not qcow2"),
        (SAVED.replace("</backingStore>\n      <target", "</backingStore><backingStore/>\n      <target"), "two"),
    ],
)
def test_a_saved_xml_labctl_did_not_make_is_refused(saved: str, message: str) -> None:
    with pytest.raises(SnapshotXmlError, match=message):
        on_snapshot_disk(saved, OVERLAY, FROZEN)
