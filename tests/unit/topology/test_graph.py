"""labctl.topology.graph: segments, guest interface names, and who can reach whom."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from labctl.errors import TopologyError
from labctl.topology import graph
from labctl.topology.graph import Segment
from labctl.topology.model import Addressing, LanSpec, NodeSpec, Topology

Loader = Callable[[str], Topology]


def test_segments_list_lans_then_links_with_their_own_indexes(topology: Loader) -> None:
    topo = topology(
        "name: lab\nnodes: {r1: {roles: [router]}, r2: {roles: [router]}, h: {}}\n"
        "links: [[r1, r2]]\nlans: {office: [r2, h], core: [r1, r2]}\n"
    )
    assert graph.segments(topo) == [
        Segment("office", "lan", ("r2", "h"), 0),
        Segment("core", "lan", ("r1", "r2"), 1),
        Segment("r1--r2", "p2p", ("r1", "r2"), 0),
    ]
    assert [label for label, _ in graph.interfaces_of(topo, "r2")] == ["office", "core", "r1"]


@pytest.mark.parametrize(
    ("peer", "label"),
    [
        ("r2", "r2"),
        ("exactly-15-char", "exactly-15-char"),
        ("sixteen-chars-xx", "p2p7"),
        ("lo", "p2p7"),
        ("lab0", "p2p7"),
        ("labtmp3", "p2p7"),
        ("lab", "lab"),
    ],
)
def test_link_interfaces_are_named_after_the_peer_when_it_fits(peer: str, label: str) -> None:
    assert graph.interface_label("me", Segment(f"me--{peer}", "p2p", ("me", peer), 7)) == label
    assert graph.interface_label("me", Segment(f"{peer}--me", "p2p", (peer, "me"), 7)) == label


def test_lan_interfaces_are_named_after_the_lan() -> None:
    assert graph.interface_label("me", Segment("office", "lan", ("x", "me"), 3)) == "office"


def test_routers_join_segments_hosts_do_not(topology: Loader) -> None:
    joined = topology("name: lab\nnodes: {r: {roles: [router]}, a: {}, b: {}}\nlans: {x: [a, r], y: [r, b]}\n")
    assert graph.unreachable_nodes(joined) == []
    assert graph.routed_components(joined) == [{"x", "y"}]


def test_unreachable_nodes_name_the_culprit() -> None:
    """Built directly: validation would stop at the first problem. 'b' sits on both LANs but forwards nothing."""

    def node(name: str, *roles: str) -> NodeSpec:
        return NodeSpec(name=name, roles=roles or ("host",), memory=1, vcpus=1, image="i")

    topo = Topology(
        name="lab",
        description="",
        domain="lab.lab",
        nodes=(node("r", "router"), node("a"), node("b"), node("c"), node("lonely")),
        links=(),
        lans=(LanSpec("big", ("r", "a", "b")), LanSpec("small", ("c", "b"))),
        addressing=Addressing(),
        sip=None,
        demo=None,
        source=Path("t.yaml"),
    )
    found = graph.unreachable_nodes(topo)
    assert [name for name, _ in found] == ["lonely", "c"]
    assert "on no link or LAN" in found[0][1]
    assert "(on 'small') cannot reach the rest of the lab" in found[1][1]


def test_the_largest_routed_part_is_the_lab_and_the_others_are_cut_off(topology: Loader) -> None:
    with pytest.raises(TopologyError) as caught:
        topology(
            "name: lab\nnodes: {r: {roles: [router]}, a: {}, b: {}, c: {}, d: {}}\nlans: {x: [c, d], y: [r, a, b]}\n"
        )
    assert caught.value.lines() == [
        "test.yaml:2: node 'c' (on 'x') cannot reach the rest of the lab: no router joins that segment to the others"
    ]
