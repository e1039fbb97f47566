"""labctl.compile.routing: default gateways for hosts, OSPF interfaces and stub routes for routers."""

from __future__ import annotations

from collections.abc import Callable

from labctl.compile.plan import LabPlan, OspfInterface, StaticRoute

Compiler = Callable[[str], LabPlan]

CAMPUS = """\
name: campus
nodes:
  r1: {roles: [router]}
  r2: {roles: [router]}
  r3: {roles: [router]}
  shared: {}
  lone: {}
  dual: {}
  island: {}
links:
  - [r1, r2]
  - [r3, island]
lans:
  transit: [r1, r2, shared]
  edge: [r3, lone]
  back: [dual, r2]
  front: [r1, r3, dual]
"""


def test_hosts_take_a_default_route_via_a_router_on_their_first_routed_segment(plan: Compiler) -> None:
    lab = plan(CAMPUS)
    gateways = {n.name: n.gateway for n in lab.nodes}
    assert gateways == {
        "r1": None,
        "r2": None,
        "r3": None,
        "shared": "10.10.0.1",  # r1 on transit
        "lone": "10.10.1.1",  # r3 on edge
        "dual": "10.10.2.2",  # r2 on back, its first routed segment
        "island": "10.255.0.5",  # r3 across their link
    }


def test_hosts_with_a_gateway_resolve_to_their_loopback(plan: Compiler) -> None:
    lab = plan(CAMPUS)
    for node in lab.nodes:
        assert node.address == node.loopback.split("/")[0]
        assert node.router_id == node.address


def test_a_router_alone_on_a_lan_is_stub_and_shared_lans_are_not(plan: Compiler) -> None:
    lab = plan(CAMPUS)

    def stubs(name: str) -> dict[str, bool]:
        ospf = lab.node(name).ospf
        assert ospf is not None
        return {i.name: i.stub for i in ospf.interfaces}

    assert stubs("r1") == {"transit": False, "front": False, "r2": False}
    assert stubs("r2") == {"transit": False, "back": True, "r1": False}
    assert stubs("r3") == {"edge": True, "front": False, "island": True}


def test_ospf_interface_types_follow_segment_kinds(plan: Compiler) -> None:
    ospf = plan(CAMPUS).node("r3").ospf
    assert ospf is not None
    assert ospf.interfaces == (
        OspfInterface("edge", "broadcast", True),
        OspfInterface("front", "broadcast", False),
        OspfInterface("island", "ptp", True),
    )
    assert (ospf.router_id, ospf.area, ospf.hello, ospf.dead) == ("10.0.0.3", "0.0.0.0", 1, 4)


def test_each_hosts_loopback_is_announced_by_its_gateway_router(plan: Compiler) -> None:
    lab = plan(CAMPUS)

    def routes(name: str) -> tuple[StaticRoute, ...]:
        ospf = lab.node(name).ospf
        assert ospf is not None
        return ospf.stub_routes

    assert routes("r1") == (StaticRoute("10.0.0.4/32", "10.10.0.3"),)
    assert routes("r2") == (StaticRoute("10.0.0.6/32", "10.10.2.1"),)
    assert routes("r3") == (StaticRoute("10.0.0.5/32", "10.10.1.2"), StaticRoute("10.0.0.7/32", "10.255.0.6"))
    announced = [r.prefix for n in lab.nodes if n.ospf for r in n.ospf.stub_routes]
    hosts = [n.loopback for n in lab.nodes if not n.has("router")]
    assert sorted(announced) == sorted(hosts)


def test_hosts_run_no_ospf(plan: Compiler) -> None:
    lab = plan(CAMPUS)
    assert [n.name for n in lab.nodes if n.ospf is not None] == ["r1", "r2", "r3"]


def test_without_routers_hosts_resolve_to_their_interface(plan: Compiler) -> None:
    lab = plan("name: flat\nnodes: {a: {}, b: {}}\nlans: {office: [a, b]}\n")
    assert [(n.address, n.gateway) for n in lab.nodes] == [("10.10.0.1", None), ("10.10.0.2", None)]
    assert lab.hosts == (("a", "10.10.0.1"), ("b", "10.10.0.2"))


def test_a_lone_node_resolves_to_its_loopback(plan: Compiler) -> None:
    lab = plan("name: solo\nnodes: {only: {}}\n")
    assert (lab.nodes[0].address, lab.nodes[0].interfaces) == ("10.0.0.1", ())
