"""Booted templates on real VMs: a new template when the image changes, and a cold boot when a
template is corrupt (marked, then built again). The line lab's tests cover clones' identity and
two labs on one template (test_vm_lifecycle.py)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from labctl.backends.libvirt import template as templates
from labctl.backends.libvirt.savefile import header_size
from labctl.images.cache import cached
from tests.integration.lab import labctl, running_lab, write_topology

# the line lab's memory size: its template is usually built already
DUO = """
name: duo
description: two hosts on one LAN, cloned from a template
defaults: {memory: 256}
nodes: {a: {}, b: {}}
lans: {net: [a, b]}
addressing: {lan: 10.78.0.0/16}
"""


def _nodes(lab: str) -> dict[str, dict[str, Any]]:
    return {n["name"]: n for n in json.loads(labctl("status", lab, "--json").stdout)["nodes"]}


def _template(boot: str) -> templates.Template:
    assert boot.startswith("template "), boot
    short = boot.split()[1]
    found = [t for t in templates.list_templates() if str(t.get("key", "")).startswith(short)]
    assert len(found) == 1, found
    loaded = templates.load(found[0]["key"])
    assert loaded is not None
    return loaded


@pytest.fixture
def duo(tmp_path: Path) -> str:
    return write_topology(tmp_path, "duo", DUO)


def test_a_changed_image_gets_a_new_template(duo: str) -> None:
    with running_lab(duo, "--no-verify") as (plan, up):
        assert up.returncode == 0, up.stderr
        before = _template(_nodes("duo")["a"]["boot"])
    meta = json.loads((before.folder / templates.META).read_text())
    image = cached(plan["nodes"][0]["image"], meta["parts"]["image"]["digest"])
    assert image is not None
    info = os.stat(image.disk)
    os.utime(image.disk, ns=(info.st_atime_ns, info.st_mtime_ns + 10**9))  # the image, rebuilt in place
    new: templates.Template | None = None
    try:
        with running_lab(duo, "--no-verify") as (_plan, up):
            assert up.returncode == 0, up.stderr
            assert "booting it once" in up.stderr
            boots = {n["boot"] for n in _nodes("duo").values()}
            assert len(boots) == 1
            new = _template(boots.pop())
            assert new.key != before.key
            labctl("exec", "duo/a", "--", "ping", "-c1", "-W3", "b")
    finally:
        os.utime(image.disk, ns=(info.st_atime_ns, info.st_mtime_ns))
        if new is not None:
            templates.remove(new.folder)  # only valid for the test's touched image
    assert templates.load(before.key) is not None  # the image is back as it was: so is its template


def test_a_corrupt_template_falls_back_to_a_cold_boot_and_is_built_again(duo: str) -> None:
    with running_lab(duo, "--no-verify") as (_plan, up):
        assert up.returncode == 0, up.stderr
        template = _template(_nodes("duo")["a"]["boot"])
    with open(template.state, "rb") as saved:
        stream = header_size(saved.read(65536 + 4096))
    os.chmod(template.state, 0o600)
    with open(template.state, "r+b") as saved:  # QEMU's stream no longer starts with its magic
        saved.seek(stream)
        assert saved.read(4) == b"QEVM"
        saved.seek(stream)
        saved.write(b"XXXX")
    with running_lab(duo, "--no-verify") as (_plan, up):
        assert up.returncode == 0, up.stderr
        nodes = _nodes("duo")
        assert {n["boot"] for n in nodes.values()} == {"cold"}, nodes
        assert all("unusable" in n["boot_note"] for n in nodes.values()), nodes
        labctl("exec", "duo/a", "--", "ping", "-c1", "-W3", "b")
    assert templates.load(template.key) is None  # marked corrupt
    with running_lab(duo, "--no-verify") as (_plan, up):
        assert up.returncode == 0, up.stderr
        assert "booting it once" in up.stderr
        assert _template(_nodes("duo")["b"]["boot"]).key == template.key  # the same key, built again
