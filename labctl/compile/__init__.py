"""compile: Topology -> LabPlan. Pure: no I/O, same input gives the same bytes."""

from __future__ import annotations

import dataclasses

from labctl.compile import addressing, interfaces, routing
from labctl.compile.dns import dns_plan
from labctl.compile.plan import DesktopPlan, LabPlan, NodePlan
from labctl.compile.sip import phone_plan, sip_plan
from labctl.errors import Problem, TopologyError
from labctl.topology.model import Topology

__all__ = ["LabPlan", "NodePlan", "compile_topology"]


def compile_topology(topo: Topology) -> LabPlan:
    try:
        return _compile(topo)
    except addressing.PoolExhausted as exc:
        raise TopologyError([Problem(topo.source, 1, str(exc))]) from None


def _compile(topo: Topology) -> LabPlan:
    loopbacks = addressing.loopbacks(topo)
    ifaces = interfaces.interfaces(topo)
    gateway_of = routing.gateways(topo, ifaces)
    nodes: list[NodePlan] = []
    for spec in topo.nodes:
        loopback = loopbacks[spec.name]
        routed = spec.has("router") or gateway_of.get(spec.name) is not None
        own = ifaces[spec.name]
        gateway = gateway_of.get(spec.name)
        nodes.append(
            NodePlan(
                name=spec.name,
                fqdn=f"{spec.name}.{topo.domain}",
                roles=spec.roles,
                memory=spec.memory,
                vcpus=spec.vcpus,
                image=spec.image,
                loopback=loopback,
                router_id=loopback.split("/")[0],
                address=loopback.split("/")[0] if routed or not own else own[0].ip,
                gateway=gateway[1] if gateway else None,
                interfaces=own,
                ospf=routing.ospf(topo, spec.name, loopback, ifaces, gateway_of, loopbacks)
                if spec.has("router")
                else None,
                desktop=DesktopPlan(sound=spec.desktop.sound) if spec.desktop else None,
            )
        )
    by_name = {n.name: n for n in nodes}
    nodes = [_with_phone(topo, n, by_name) for n in nodes]
    frozen = tuple(nodes)
    return LabPlan(
        lab=topo.name,
        description=topo.description,
        domain=topo.domain,
        source=topo.source.name,
        nodes=frozen,
        segments=interfaces.segment_plans(topo),
        dns=dns_plan(topo.domain, frozen),
        sip=sip_plan(topo.sip, frozen),
        demo=topo.demo,
        hosts=tuple((n.name, n.address) for n in frozen),
    )


def _with_phone(topo: Topology, node: NodePlan, by_name: dict[str, NodePlan]) -> NodePlan:
    spec = topo.node(node.name)
    if spec.phone is None:
        return node
    return dataclasses.replace(node, phone=phone_plan(spec, topo.sip, by_name.get(spec.phone.registrar)))
