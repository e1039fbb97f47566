"""The lab as a graph of nodes and segments (links and LANs), shared by validation and compile.

Only routers forward, so reachability is judged on the graph of segments and routers:
a host is reachable when every segment in the lab sits in one routed component.
"""

from __future__ import annotations

from dataclasses import dataclass

import networkx as nx

from labctl.topology.model import Topology


@dataclass(frozen=True)
class Segment:
    """A link or a LAN, named as the node interfaces attached to it see it."""

    name: str
    kind: str  # "lan" | "p2p"
    members: tuple[str, ...]
    index: int  # position among segments of its kind


def link_segment_name(a: str, b: str) -> str:
    return f"{a}--{b}"


def segments(topo: Topology) -> list[Segment]:
    result = [Segment(lan.name, "lan", lan.members, i) for i, lan in enumerate(topo.lans)]
    result += [
        Segment(link_segment_name(link.a, link.b), "p2p", (link.a, link.b), i) for i, link in enumerate(topo.links)
    ]
    return result


def lab_graph(topo: Topology) -> nx.Graph:
    """Bipartite graph: ('node', name) -- ('seg', segment name)."""
    graph = nx.Graph()
    for node in topo.nodes:
        graph.add_node(("node", node.name), router=node.has("router"))
    for seg in segments(topo):
        graph.add_node(("seg", seg.name), kind=seg.kind)
        for member in seg.members:
            graph.add_edge(("node", member), ("seg", seg.name))
    return graph


def routed_components(topo: Topology) -> list[set[str]]:
    """Groups of segment names joined through routers."""
    graph = lab_graph(topo)
    routed = graph.subgraph(n for n, data in graph.nodes(data=True) if n[0] == "seg" or data.get("router"))
    return [
        {name for kind, name in comp if kind == "seg"}
        for comp in nx.connected_components(routed)
        if any(kind == "seg" for kind, _ in comp)
    ]


def unreachable_nodes(topo: Topology) -> list[tuple[str, str]]:
    """(node, reason) for every node that cannot reach the rest of the lab."""
    if len(topo.nodes) < 2:
        return []
    graph = lab_graph(topo)
    problems: list[tuple[str, str]] = []
    for node in topo.nodes:
        if graph.degree(("node", node.name)) == 0:
            problems.append((node.name, f"node '{node.name}' is on no link or LAN, so no other node can reach it"))
    components = routed_components(topo)
    if len(components) < 2:
        return problems
    order = {seg.name: i for i, seg in enumerate(segments(topo))}
    members = {seg.name: seg.members for seg in segments(topo)}

    def nodes_on(comp: set[str]) -> set[str]:
        return {m for seg in comp for m in members[seg]}

    components.sort(key=lambda comp: min(order[seg] for seg in comp))
    main = max(components, key=lambda comp: len(nodes_on(comp)))  # the first of the largest
    for comp in components:
        if comp is main:
            continue
        on_comp = nodes_on(comp)
        cut_off = [n.name for n in topo.nodes if n.name in on_comp and n.name not in nodes_on(main)]
        culprit = (cut_off or [n.name for n in topo.nodes if n.name in on_comp])[0]
        seg_names = sorted(comp, key=order.__getitem__)
        problems.append(
            (
                culprit,
                f"node '{culprit}' (on {', '.join(repr(s) for s in seg_names)}) cannot reach "
                f"the rest of the lab: no router joins {'that segment' if len(comp) == 1 else 'those segments'} "
                "to the others",
            )
        )
    return problems


IFNAME_MAX = 15
RESERVED_INTERFACES = ("lo", "lab0")
"""Names the guest already uses: the loopback, and the dummy carrying the node's own address."""
TEMPORARY_INTERFACE_PREFIX = "labtmp"
"""Interfaces pass through labtmp<N> while being renamed at boot, so no lab name may start so."""


def is_reserved_interface(name: str) -> bool:
    return name in RESERVED_INTERFACES or name.startswith(TEMPORARY_INTERFACE_PREFIX)


def peer(node: str, seg: Segment) -> str:
    """The other end of a link."""
    return seg.members[1] if seg.members[0] == node else seg.members[0]


def interface_label(node: str, seg: Segment) -> str:
    """The name of `node`'s interface on `seg` inside the guest: the LAN name, or the link's peer.

    A peer name that cannot be an interface name (longer than 15 characters, or one the guest
    already uses) falls back to 'p2p<index>'.
    """
    if seg.kind == "lan":
        return seg.name
    other = peer(node, seg)
    return other if len(other) <= IFNAME_MAX and not is_reserved_interface(other) else f"p2p{seg.index}"


def interfaces_of(topo: Topology, node: str) -> list[tuple[str, Segment]]:
    """(label, segment) for each attachment of `node`, LANs first, in file order."""
    return [(interface_label(node, seg), seg) for seg in segments(topo) if node in seg.members]
