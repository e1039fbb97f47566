"""The VM backend on a 3-node line a -- r -- b: up (nodes cloned from a booted template), exec,
status, down, crashes, two labs at once from one template."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from labctl.paths import state_dir
from tests.integration.lab import ROOT, labctl, leftovers, plan_of, write_topology

PAIR = """
name: pair
description: two hosts on one LAN, with the same node names as the line lab
defaults: {memory: 256}  # the line lab's: both labs are cloned from one template
nodes: {a: {}, b: {}}
lans: {net: [a, b]}
addressing: {lan: 10.77.0.0/16}
"""


@pytest.fixture(scope="module")
def line() -> Iterator[dict[str, Any]]:
    plan = plan_of("line")
    labctl("down", "line", check=False)
    labctl("up", "line", "--no-verify")
    yield plan
    labctl("down", "line", check=False)


def test_exec_shows_planned_addresses(line: dict[str, Any]) -> None:
    for node in ("a", "b"):
        out = labctl("exec", node, "--", "ip", "-br", "addr").stdout
        planned = next(n for n in line["nodes"] if n["name"] == node)
        for iface in planned["interfaces"]:
            assert any(row.split()[0] == iface["name"] and iface["address"] in row for row in out.splitlines()), (
                f"{node}: {iface['name']} {iface['address']} missing from:\n{out}"
            )
        assert planned["loopback"] in out


def test_neighbours_and_far_side_ping_by_name(line: dict[str, Any]) -> None:
    labctl("exec", "a", "--", "ping", "-c1", "-W3", "r")
    labctl("exec", "a", "--", "ping", "-c1", "-W3", "b")
    labctl("exec", "b", "--", "ping", "-c1", "-W3", "a")


def _boots(lab: str) -> dict[str, str]:
    return {n["name"]: n.get("boot", "") for n in json.loads(labctl("status", lab, "--json").stdout)["nodes"]}


def test_nodes_are_template_clones_with_their_own_identity(line: dict[str, Any]) -> None:
    """Restored from one booted template, each node still has its planned MACs on the planned
    interfaces, a machine-id of its own and the host's time."""
    boots = _boots("line")
    assert len(set(boots.values())) == 1 and next(iter(boots.values())).startswith("template "), boots
    machine_ids = set()
    for node in line["nodes"]:
        for iface in node["interfaces"]:
            mac = labctl("exec", node["name"], "--", "cat", f"/sys/class/net/{iface['name']}/address").stdout
            assert mac.strip() == iface["mac"], (node["name"], iface["name"])
        machine_ids.add(labctl("exec", node["name"], "--", "cat", "/etc/machine-id").stdout.strip())
        guest = float(labctl("exec", node["name"], "--", "date", "+%s").stdout)
        assert abs(guest - time.time()) < 30, f"{node['name']}: its clock is {guest - time.time():.0f} s off"
    assert len(machine_ids) == len(line["nodes"])


def test_exec_returns_exit_code_and_stderr(line: dict[str, Any]) -> None:
    result = labctl("exec", "a", "--", "sh", "-c", "echo oops >&2; exit 7", check=False)
    assert result.returncode == 7
    assert "oops" in result.stderr


def test_status_json(line: dict[str, Any]) -> None:
    data = json.loads(labctl("status", "line", "--json").stdout)
    assert data["lab"] == "line" and data["phase"] == "up"
    assert {n["name"]: n["state"] for n in data["nodes"]} == {"a": "running", "r": "running", "b": "running"}
    assert all(n["spice"] and n["spice"].startswith("spice://127.0.0.1:") for n in data["nodes"])


def test_up_twice_is_refused_clearly(line: dict[str, Any]) -> None:
    result = labctl("up", "line", "--no-verify", check=False)
    assert result.returncode == 1
    assert "already up" in result.stderr and "Traceback" not in result.stderr


def test_two_labs_side_by_side(line: dict[str, Any], tmp_path: Path) -> None:
    topo = write_topology(tmp_path, "pair", PAIR)
    pair = plan_of(topo)
    try:
        labctl("up", topo, "--no-verify")
        assert set(_boots("pair").values()) == set(_boots("line").values())  # both labs on one template
        ambiguous = labctl("exec", "a", "--", "true", check=False)
        assert ambiguous.returncode == 1 and "LAB/a" in ambiguous.stderr
        assert "10.77.0.1/24" in labctl("exec", "pair/a", "--", "ip", "-br", "addr").stdout
        labctl("exec", "pair/a", "--", "ping", "-c1", "-W3", "b")
        labctl("down", "pair")
        assert leftovers(pair) == []
        labctl("exec", "line/a", "--", "ping", "-c1", "-W3", "b")
    finally:
        labctl("down", "pair", check=False)


def test_down_leaves_nothing(line: dict[str, Any]) -> None:
    labctl("down", "line")
    assert leftovers(line) == []
    again = labctl("down", "line", check=False)
    assert again.returncode == 1 and "lab 'line' does not exist" in again.stderr, again.stderr


def _start_up(topology: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "labctl", "up", topology, "--no-verify"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        # a suite started in the background (nohup, `cmd &` without job control) inherits SIGINT
        # ignored, and so would `up`: the test is about labctl's Ctrl-C, so give it a terminal's
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )


def _wait_for_domains(lab: str, count: int, timeout: float = 120) -> None:
    path = state_dir() / lab / "state.json"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists():
            try:
                if len(json.loads(path.read_text())["objects"].get("domains", [])) >= count:
                    return
            except ValueError:
                pass
        time.sleep(0.2)
    raise AssertionError(f"lab {lab} never recorded {count} domains")


@pytest.mark.parametrize(
    ("how", "domains", "settle"),
    [("sigkill", 2, 0.0), ("sigint", 2, 0.0), ("sigint", 3, 3.0)],
    ids=["sigkill-while-creating", "sigint-while-creating", "sigint-while-waiting-for-agents"],
)
def test_interrupted_up_leaves_nothing(tmp_path: Path, how: str, domains: int, settle: float) -> None:
    name = f"cut{how[3:]}{domains}"
    body = (ROOT / "topologies" / "line.yaml").read_text().replace("name: line", f"name: {name}")
    topo = write_topology(tmp_path, name, body)
    plan = plan_of(topo)
    labctl("down", name, check=False)
    proc = _start_up(topo)
    try:
        _wait_for_domains(name, domains)
        time.sleep(settle)
        sent = time.monotonic()
        proc.send_signal(signal.SIGKILL if how == "sigkill" else signal.SIGINT)
        _, err = proc.communicate(timeout=120)
        if how == "sigint":
            assert proc.returncode == 1, err
            assert "interrupted" in err and "Traceback" not in err
            assert time.monotonic() - sent < 45, "Ctrl-C must not wait for the longest timeout"
            assert leftovers(plan) == []
        else:
            assert leftovers(plan) != [], "SIGKILL should leave the half-built lab for `down` to clean"
            labctl("down", name)
            assert leftovers(plan) == []
    finally:
        proc.kill()
        labctl("down", name, check=False)
