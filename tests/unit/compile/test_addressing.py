"""labctl.compile.addressing: pools at their exact limits, overlap, many LANs, member order."""

from __future__ import annotations

import dataclasses
import ipaddress
from collections.abc import Callable

import pytest

from labctl.compile import addressing, compile_topology
from labctl.compile.plan import LabPlan
from labctl.errors import TopologyError
from labctl.topology.graph import Segment
from labctl.topology.model import Addressing, Topology

Compiler = Callable[[str], LabPlan]
Loader = Callable[[str], Topology]


def lans(count: int) -> list[Segment]:
    return [Segment(f"lan{i}", "lan", ("r", f"h{i}"), i) for i in range(count)]


def links(count: int) -> list[Segment]:
    return [Segment(f"r{i}--r{i + 1}", "p2p", (f"r{i}", f"r{i + 1}"), i) for i in range(count)]


def refusal(loader: Loader, text: str) -> list[str]:
    with pytest.raises(TopologyError) as caught:
        loader(text)
    return [p.message for p in caught.value.problems]


# Pool sizes at the boundary, straight through the allocator.


def test_a_slash_30_p2p_pool_holds_exactly_one_link() -> None:
    pools = Addressing(p2p="10.255.0.0/30")
    assert addressing.segment_subnets(pools, links(1)) == {"r0--r1": ipaddress.IPv4Network("10.255.0.0/30")}
    with pytest.raises(addressing.PoolExhausted, match=r"p2p 10\.255\.0\.0/30 is exhausted"):
        addressing.segment_subnets(pools, links(2))


def test_a_slash_23_lan_pool_holds_exactly_two_lans() -> None:
    pools = Addressing(lan="10.10.0.0/23")
    subnets = addressing.segment_subnets(pools, lans(2))
    assert [str(s) for s in subnets.values()] == ["10.10.0.0/24", "10.10.1.0/24"]
    with pytest.raises(addressing.PoolExhausted, match=r"lan 10\.10\.0\.0/23 is exhausted"):
        addressing.segment_subnets(pools, lans(3))


def test_pools_smaller_than_one_subnet_hold_nothing() -> None:
    assert addressing.segment_subnets(Addressing(lan="10.10.0.0/25"), links(1)) != {}
    with pytest.raises(addressing.PoolExhausted, match="smaller than one /24"):
        addressing.segment_subnets(Addressing(lan="10.10.0.0/25"), lans(1))
    with pytest.raises(addressing.PoolExhausted, match="smaller than one /30"):
        addressing.segment_subnets(Addressing(p2p="10.255.0.0/31"), links(1))


def test_lans_and_links_draw_from_their_own_pools_in_order() -> None:
    subnets = addressing.segment_subnets(Addressing(), links(2) + lans(2))
    assert {name: str(net) for name, net in subnets.items()} == {
        "r0--r1": "10.255.0.0/30",
        "r1--r2": "10.255.0.4/30",
        "lan0": "10.10.0.0/24",
        "lan1": "10.10.1.0/24",
    }


def test_200_lans_in_a_slash_16_get_distinct_consecutive_subnets() -> None:
    subnets = list(addressing.segment_subnets(Addressing(lan="10.10.0.0/16"), lans(200)).values())
    assert [str(s) for s in subnets] == [f"10.10.{i}.0/24" for i in range(200)]


def test_a_slash_16_holds_exactly_256_lans() -> None:
    subnets = addressing.segment_subnets(Addressing(lan="10.10.0.0/16"), lans(256))
    assert str(subnets["lan255"]) == "10.10.255.0/24"
    with pytest.raises(addressing.PoolExhausted):
        addressing.segment_subnets(Addressing(lan="10.10.0.0/16"), lans(257))


def test_member_addresses_follow_the_listed_order_and_stop_at_the_broadcast() -> None:
    net = ipaddress.IPv4Network("10.10.3.0/24")
    assert [addressing.member_address(net, i) for i in (0, 1, 253)] == [
        "10.10.3.1/24",
        "10.10.3.2/24",
        "10.10.3.254/24",
    ]
    with pytest.raises(addressing.PoolExhausted):
        addressing.member_address(net, 254)
    p2p = ipaddress.IPv4Network("10.255.0.4/30")
    assert [addressing.member_address(p2p, i) for i in (0, 1)] == ["10.255.0.5/30", "10.255.0.6/30"]
    with pytest.raises(addressing.PoolExhausted):
        addressing.member_address(p2p, 2)


# The same limits seen through validation, which must refuse before the compiler would.


def routers_in_a_ring(count: int, p2p: str) -> str:
    nodes = ", ".join(f"r{i}: {{roles: [router]}}" for i in range(count))
    ring = ", ".join(f"[r{i}, r{(i + 1) % count}]" for i in range(count))
    return f"name: ring\nnodes: {{{nodes}}}\nlinks: [{ring}]\naddressing: {{p2p: {p2p}}}\n"


def test_validation_p2p_boundary(plan: Compiler, topology: Loader) -> None:
    assert [b.subnet for b in plan(routers_in_a_ring(4, "10.255.0.0/28")).segments] == [
        "10.255.0.0/30",
        "10.255.0.4/30",
        "10.255.0.8/30",
        "10.255.0.12/30",
    ]
    assert refusal(topology, routers_in_a_ring(5, "10.255.0.0/28")) == [
        "address pool p2p 10.255.0.0/28 is too small for 5 links (one /30 each)"
    ]


def hosts_on_lans(count: int, lan: str) -> str:
    hosts = ", ".join(f"h{i}: {{}}" for i in range(count))
    segments = ", ".join(f"s{i}: [r, h{i}]" for i in range(count))
    return (
        f"name: star\nnodes: {{r: {{roles: [router]}}, {hosts}}}\nlans: {{{segments}}}\n"
        f"addressing: {{loopback: 10.0.0.0/22, lan: {lan}}}\n"
    )


def test_validation_lan_boundary(plan: Compiler, topology: Loader) -> None:
    assert [b.subnet for b in plan(hosts_on_lans(2, "10.10.0.0/23")).segments] == ["10.10.0.0/24", "10.10.1.0/24"]
    assert refusal(topology, hosts_on_lans(3, "10.10.0.0/23")) == [
        "address pool lan 10.10.0.0/23 is too small for 3 LANs (one /24 each)"
    ]


def test_validation_loopback_boundary(plan: Compiler, topology: Loader) -> None:
    two = "name: pair\nnodes: {a: {}, b: {}}\nlinks: [[a, b]]\naddressing: {loopback: 10.0.0.0/30}\n"
    assert [n.loopback for n in plan(two).nodes] == ["10.0.0.1/32", "10.0.0.2/32"]
    three = "name: trio\nnodes: {a: {}, b: {}, c: {}}\nlans: {l: [a, b, c]}\naddressing: {loopback: 10.0.0.0/30}\n"
    assert refusal(topology, three) == ["address pool loopback 10.0.0.0/30 is too small for 3 nodes (one /32 each)"]


@pytest.mark.parametrize(("pool", "count"), [("10.0.0.7/32", 1), ("10.0.0.6/31", 2)])
def test_tiny_loopback_pools_use_every_address(plan: Compiler, pool: str, count: int) -> None:
    nodes = ", ".join(f"n{i}: {{}}" for i in range(count))
    lan = f"lans: {{l: [{', '.join(f'n{i}' for i in range(count))}]}}\n" if count > 1 else ""
    lab = plan(f"name: tiny\nnodes: {{{nodes}}}\n{lan}addressing: {{loopback: {pool}}}\n")
    net = ipaddress.IPv4Network(pool)
    assert [n.loopback for n in lab.nodes] == [f"{ip}/32" for ip in list(net)[:count]]


def test_200_lans_compile_through_the_whole_pipeline(plan: Compiler) -> None:
    lab = plan(hosts_on_lans(200, "10.10.0.0/16"))
    subnets = [b.subnet for b in lab.segments]
    assert subnets == [f"10.10.{i}.0/24" for i in range(200)]
    router = lab.node("r")
    assert len(router.interfaces) == 200
    assert router.interfaces[199].address == "10.10.199.1/24"
    assert lab.node("h199").gateway == "10.10.199.1"


def test_overlapping_pools_never_reach_the_compiler(topology: Loader) -> None:
    text = "name: lab\nnodes: {a: {}, b: {}}\nlinks: [[a, b]]\naddressing: {loopback: 10.255.0.0/24}\n"
    assert refusal(topology, text) == ["address pool p2p 10.255.0.0/24 overlaps pool loopback 10.255.0.0/24"]


def test_allocated_addresses_never_overlap_across_pools(plan: Compiler) -> None:
    lab = plan(hosts_on_lans(20, "10.10.0.0/16"))
    addresses = [n.loopback.split("/")[0] for n in lab.nodes]
    addresses += [i.ip for n in lab.nodes for i in n.interfaces]
    assert len(addresses) == len(set(addresses))


def test_lan_members_are_addressed_in_listed_order(plan: Compiler) -> None:
    lab = plan(
        """\
        name: order
        nodes: {a: {}, b: {}, c: {}, r: {roles: [router]}}
        lans:
          office: [r, c, a, b]
        """
    )
    by_node = {n.name: n.interfaces[0].address for n in lab.nodes}
    assert by_node == {"r": "10.10.0.1/24", "c": "10.10.0.2/24", "a": "10.10.0.3/24", "b": "10.10.0.4/24"}
    assert lab.segments[0].members == ("r", "c", "a", "b")


def test_link_ends_are_addressed_in_listed_order(plan: Compiler) -> None:
    lab = plan("name: pair\nnodes: {a: {roles: [router]}, b: {roles: [router]}}\nlinks: [[b, a]]\n")
    assert lab.node("b").interfaces[0].address == "10.255.0.1/30"
    assert lab.node("a").interfaces[0].address == "10.255.0.2/30"


def test_loopbacks_follow_node_order(plan: Compiler) -> None:
    lab = plan("name: lab\nnodes: {z: {}, a: {}, m: {}}\nlans: {l: [a, m, z]}\n")
    assert [(n.name, n.loopback) for n in lab.nodes] == [
        ("z", "10.0.0.1/32"),
        ("a", "10.0.0.2/32"),
        ("m", "10.0.0.3/32"),
    ]


def test_pool_exhaustion_in_the_compiler_becomes_a_topology_error(topology: Loader) -> None:
    topo = topology("name: lab\nnodes: {a: {}, b: {}}\nlinks: [[a, b]]\n")
    squeezed = dataclasses.replace(topo, addressing=Addressing(p2p="10.255.0.0/31"))
    with pytest.raises(TopologyError) as caught:
        compile_topology(squeezed)
    assert caught.value.lines() == ["test.yaml:1: address pool p2p 10.255.0.0/31 is smaller than one /30"]
