"""Per-node interfaces and the segments they attach to."""

from __future__ import annotations

from labctl.compile import addressing, naming
from labctl.compile.plan import Interface, NetemPlan, SegmentPlan
from labctl.topology.graph import Segment, interfaces_of, segments
from labctl.topology.model import Netem, Topology


def _netem(topo: Topology, seg: Segment) -> NetemPlan | None:
    source: Netem
    if seg.kind == "lan":
        source = next(lan.netem for lan in topo.lans if lan.name == seg.name)
    else:
        source = topo.links[seg.index].netem
    if source.is_empty():
        return None
    return NetemPlan(delay=source.delay, jitter=source.jitter, loss=source.loss)


def interfaces(topo: Topology) -> dict[str, tuple[Interface, ...]]:
    """node -> its interfaces, with unique MACs across the lab."""
    subnets = addressing.segment_subnets(topo.addressing, segments(topo))
    used_macs: set[str] = set()
    result: dict[str, tuple[Interface, ...]] = {}
    for node in topo.nodes:
        items = []
        for label, seg in interfaces_of(topo, node.name):
            salt = 0
            mac = naming.mac_address(topo.name, node.name, label)
            while mac in used_macs:
                salt += 1
                mac = naming.mac_address(topo.name, node.name, label, salt)
            used_macs.add(mac)
            items.append(
                Interface(
                    name=label,
                    segment=seg.name,
                    kind=seg.kind,
                    mac=mac,
                    address=addressing.member_address(subnets[seg.name], seg.members.index(node.name)),
                    dns_name=f"{node.name}-{label}",
                    netem=_netem(topo, seg),
                )
            )
        result[node.name] = tuple(items)
    return result


def segment_plans(topo: Topology) -> tuple[SegmentPlan, ...]:
    subnets = addressing.segment_subnets(topo.addressing, segments(topo))
    return tuple(
        SegmentPlan(
            name=seg.name,
            kind=seg.kind,
            subnet=str(subnets[seg.name]),
            members=seg.members,
        )
        for seg in segments(topo)
    )
