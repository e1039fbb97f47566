"""labctl.compile.naming and its use: MACs and guest interface names."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest

from labctl.compile import compile_topology, naming
from labctl.compile.plan import LabPlan
from labctl.topology.schema import load_topology

Compiler = Callable[[str], LabPlan]
REPO = Path(__file__).resolve().parents[3]
SHIPPED = sorted((REPO / "topologies").glob("*.yaml")) + sorted((REPO / "tests" / "golden" / "inputs").glob("*.yaml"))
MAC = re.compile(r"^([0-9a-f]{2}:){5}[0-9a-f]{2}$")
IFNAME = re.compile(r"^[a-z0-9-]{1,15}$")


def shipped_plans() -> list[LabPlan]:
    return [compile_topology(load_topology(p)) for p in SHIPPED]


def all_macs(lab: LabPlan) -> list[str]:
    return [i.mac for n in lab.nodes for i in n.interfaces]


@pytest.mark.parametrize("lab", shipped_plans(), ids=lambda lab: lab.lab)
def test_macs_are_unique_unicast_and_locally_administered(lab: LabPlan) -> None:
    macs = all_macs(lab)
    assert len(macs) == len(set(macs))
    for mac in macs:
        assert MAC.match(mac)
        first = int(mac[:2], 16)
        assert first & 0b10, f"{mac} is not locally administered"
        assert not first & 0b01, f"{mac} is multicast"


def test_mac_is_stable_and_depends_on_lab_node_and_interface() -> None:
    mac = naming.mac_address("lab", "r1", "core")
    assert mac == naming.mac_address("lab", "r1", "core")
    others = {
        naming.mac_address("other", "r1", "core"),
        naming.mac_address("lab", "r2", "core"),
        naming.mac_address("lab", "r1", "edge"),
        naming.mac_address("lab", "r1", "core", salt=1),
    }
    assert mac not in others
    assert len(others) == 4


def test_a_mac_collision_is_resolved_by_salting(plan: Compiler, monkeypatch: pytest.MonkeyPatch) -> None:
    real = naming.mac_address

    def colliding(lab: str, node: str, interface: str, salt: int = 0) -> str:
        return "02:00:00:00:00:01" if salt == 0 else real(lab, node, interface, salt)

    monkeypatch.setattr(naming, "mac_address", colliding)
    lab = plan("name: lab\nnodes: {a: {}, b: {}, c: {}}\nlans: {l: [a, b, c]}\n")
    macs = all_macs(lab)
    assert macs[0] == "02:00:00:00:00:01"
    assert len(set(macs)) == 3


@pytest.mark.parametrize("lab", shipped_plans(), ids=lambda lab: lab.lab)
def test_guest_interface_names_fit_linux_interface_names(lab: LabPlan) -> None:
    for name in [i.name for n in lab.nodes for i in n.interfaces]:
        assert IFNAME.match(name), name


TWIN = """\
name: {name}
nodes:
  edge-router-number-one: {{roles: [router]}}
  r2: {{roles: [router]}}
  h: {{}}
links: [[edge-router-number-one, r2]]
lans:
  a-long-lan-name: [r2, h]
"""


def test_two_labs_with_the_same_segments_get_distinct_macs(plan: Compiler) -> None:
    first, second = plan(TWIN.format(name="lab-one")), plan(TWIN.format(name="lab-two"))
    assert [s.name for s in first.segments] == [s.name for s in second.segments]
    assert set(all_macs(first)).isdisjoint(all_macs(second))


def test_long_peer_names_fall_back_to_p2p_index(plan: Compiler) -> None:
    lab = plan(TWIN.format(name="lab"))
    assert [i.name for i in lab.node("r2").interfaces] == ["a-long-lan-name", "p2p0"]
    assert [i.name for i in lab.node("edge-router-number-one").interfaces] == ["r2"]
    assert lab.node("r2").interfaces[1].dns_name == "r2-p2p0"
