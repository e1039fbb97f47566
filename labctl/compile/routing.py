"""Who routes how: OSPF for routers, a default route for everyone else.

Non-routers do not run OSPF (a multi-homed host would otherwise attract transit traffic it
does not forward). They take a default route via a router on their first routed segment,
and that router announces the host's loopback into OSPF, so every name is reachable.
"""

from __future__ import annotations

from labctl.compile.plan import Interface, OspfInterface, OspfPlan, StaticRoute
from labctl.topology.model import Topology

HELLO_SECONDS = 1
DEAD_SECONDS = 4
AREA = "0.0.0.0"


def gateways(topo: Topology, ifaces: dict[str, tuple[Interface, ...]]) -> dict[str, tuple[str, str] | None]:
    """non-router node -> (router name, router address) of its default route, or None."""
    routers = {n.name for n in topo.with_role("router")}
    address_of = {(node, iface.segment): iface.ip for node, items in ifaces.items() for iface in items}
    members = {seg: [n for n, s in address_of if s == seg] for _, seg in address_of}
    result: dict[str, tuple[str, str] | None] = {}
    for node in topo.nodes:
        if node.name in routers:
            continue
        result[node.name] = None
        for iface in ifaces[node.name]:
            seg_routers = [m for m in members[iface.segment] if m in routers]
            if seg_routers:
                router = seg_routers[0]
                result[node.name] = (router, address_of[(router, iface.segment)])
                break
    return result


def ospf(
    topo: Topology,
    node: str,
    loopback: str,
    ifaces: dict[str, tuple[Interface, ...]],
    gateway_of: dict[str, tuple[str, str] | None],
    loopbacks: dict[str, str],
) -> OspfPlan:
    routers = {n.name for n in topo.with_role("router")}
    segment_routers: dict[str, set[str]] = {}
    for member, items in ifaces.items():
        for iface in items:
            if member in routers:
                segment_routers.setdefault(iface.segment, set()).add(member)
    host_address = {(n, i.segment): i.ip for n, items in ifaces.items() for i in items}
    stub_routes = []
    for host, gateway in gateway_of.items():
        if gateway is None or gateway[0] != node:
            continue
        segment = next(i.segment for i in ifaces[host] if (node, i.segment) in host_address)
        stub_routes.append(StaticRoute(prefix=loopbacks[host], via=host_address[(host, segment)]))
    return OspfPlan(
        router_id=loopback.split("/")[0],
        area=AREA,
        hello=HELLO_SECONDS,
        dead=DEAD_SECONDS,
        interfaces=tuple(
            OspfInterface(
                name=iface.name,
                type="ptp" if iface.kind == "p2p" else "broadcast",
                stub=segment_routers.get(iface.segment, set()) == {node},
            )
            for iface in ifaces[node]
        ),
        stub_routes=tuple(stub_routes),
    )
