"""Whole-lab snapshots on real VMs: a two-node lab is snapshotted, a node is changed, and a reset
brings both nodes back to the snapshot's moment (the change is gone, the clock is the host's,
names still resolve across the lab). Timed: the numbers are printed (pytest -s) for the bench notes."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from labctl.state import lab_folder
from tests.integration.lab import labctl, running_lab, write_topology

# the line lab's memory size: its template is usually built already
DUO = """
name: snapduo
description: two hosts on one LAN, snapshotted and reset
defaults: {memory: 256}
nodes: {a: {}, b: {}}
lans: {net: [a, b]}
addressing: {lan: 10.79.0.0/16}
"""
MARK = "/root/after-the-snapshot"


@pytest.fixture
def duo(tmp_path: Path) -> str:
    return write_topology(tmp_path, "snapduo", DUO)


def _timed(*args: str) -> tuple[float, str]:
    start = time.monotonic()
    result = labctl(*args)
    return time.monotonic() - start, result.stdout


def test_reset_brings_the_lab_back_to_its_snapshot(duo: str) -> None:
    with running_lab(duo, "--no-verify") as (_plan, up):
        assert up.returncode == 0, up.stderr
        labctl("exec", "snapduo/a", "--", "ping", "-c1", "-W3", "b")
        took, out = _timed("snapshot", "snapduo", "clean", "--json")
        assert json.loads(out) | {"seconds": 0} == {
            "lab": "snapduo",
            "snapshot": "clean",
            "nodes": ["a", "b"],
            "seconds": 0,
        }
        folder = lab_folder("snapduo") / "snapshots" / "clean"
        assert folder.stat().st_mode & 0o007 == 0  # RAM and secrets: nobody else reads them
        assert {p.name for p in folder.iterdir()} >= {"a.save", "a.qcow2", "b.save", "b.qcow2", "snapshot.json"}
        labctl("exec", "snapduo/a", "--", "ping", "-c1", "-W3", "b")  # the lab runs on after the snapshot
        labctl("exec", "snapduo/a", "--", "sh", "-c", f"echo changed > {MARK} && sync")
        assert labctl("exec", "snapduo/a", "--", "cat", MARK).stdout == "changed\n"
        time.sleep(5)  # the snapshot's clock falls behind the host's
        reset_took, _ = _timed("reset", "snapduo", "--to", "clean")
        assert labctl("exec", "snapduo/a", "--", "test", "-e", MARK, check=False).returncode == 1
        labctl("exec", "snapduo/a", "--", "ping", "-c1", "-W3", "b")
        labctl("exec", "snapduo/b", "--", "ping", "-c1", "-W3", "a")
        guest = float(labctl("exec", "snapduo/b", "--", "date", "+%s.%N").stdout)
        assert abs(guest - time.time()) < 3, "the reset node's clock is the host's"
        status = json.loads(labctl("status", "snapduo", "--json").stdout)
        assert status["phase"] == "up" and status["snapshots"] == ["clean"]
        assert {n["state"] for n in status["nodes"]} == {"running"}
        again_took, _ = _timed("reset", "snapduo", "--to", "clean")  # a snapshot can be reset to again
        labctl("exec", "snapduo/a", "--", "ping", "-c1", "-W3", "b")
        print(f"\nsnapshot of 2 nodes: {took:.1f} s; reset: {reset_took:.1f} s; reset again: {again_took:.1f} s")
    assert not lab_folder("snapduo").exists()  # down removed the snapshots with the lab
