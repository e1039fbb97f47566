"""LabPlan: everything needed to realise a lab, computed once, purely, from a Topology."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from typing import Any

PLAN_FORMAT = 4
"""Bumped whenever the plan's shape changes; saved lab state records it (2: no host names,
which are the backend's business; 3: each SIP user's home server; 4: each node's desktop; labctl.state.saved_plan
migrates older plans)."""


@dataclass(frozen=True)
class NetemPlan:
    delay: str | None = None
    jitter: str | None = None
    loss: str | None = None

    def tc_args(self) -> tuple[str, ...]:
        """The netem part of a tc command line: delay [jitter] and loss."""
        delay = ("delay", self.delay, *((self.jitter,) if self.jitter else ())) if self.delay else ()
        return (*delay, *(("loss", self.loss) if self.loss else ()))


@dataclass(frozen=True)
class Interface:
    """One NIC of a node, `name` inside the guest, which finds it by its MAC."""

    name: str  # guest interface name (LAN name or link peer)
    segment: str
    kind: str  # "lan" | "p2p"
    mac: str
    address: str  # a.b.c.d/prefix
    dns_name: str  # <node>-<name>
    netem: NetemPlan | None = None

    @property
    def ip(self) -> str:
        return self.address.split("/")[0]


@dataclass(frozen=True)
class OspfInterface:
    name: str
    type: str  # "ptp" | "broadcast"
    stub: bool  # no routers to talk to there: advertise the prefix, send no hellos


@dataclass(frozen=True)
class StaticRoute:
    prefix: str
    via: str


@dataclass(frozen=True)
class OspfPlan:
    router_id: str
    area: str
    hello: int
    dead: int
    interfaces: tuple[OspfInterface, ...]
    stub_routes: tuple[StaticRoute, ...]  # hosts' loopbacks, announced on their behalf


@dataclass(frozen=True)
class PhonePlan:
    user: str
    extension: str
    password: str
    registrar: str  # node name
    registrar_kind: str  # "kamailio" | "freeswitch"
    registrar_fqdn: str
    registrar_address: str


@dataclass(frozen=True)
class DesktopPlan:
    """The node's graphical session: its hardware (sound card, vdagent channel, tablet) is the backend's."""

    sound: str  # "spice" | "file" (labctl.topology.model.DesktopSpec)


@dataclass(frozen=True)
class NodePlan:
    name: str
    fqdn: str
    roles: tuple[str, ...]
    memory: int
    vcpus: int
    image: str
    loopback: str  # a.b.c.d/32
    router_id: str
    address: str  # the address the node's name resolves to
    gateway: str | None  # default route, for nodes that do not route
    interfaces: tuple[Interface, ...]
    ospf: OspfPlan | None = None
    phone: PhonePlan | None = None
    desktop: DesktopPlan | None = None

    def has(self, role: str) -> bool:
        return role in self.roles

    def addresses(self) -> tuple[str, ...]:
        """Every address the node has (its name's first, then its interfaces'), each once."""
        return tuple(dict.fromkeys((self.address, *(i.ip for i in self.interfaces))))


@dataclass(frozen=True)
class SegmentPlan:
    """One LAN or point-to-point link; how it is made on the host is the backend's business."""

    name: str  # the segment's name in the topology
    kind: str  # "lan" | "p2p"
    subnet: str
    members: tuple[str, ...]


@dataclass(frozen=True)
class DnsRecord:
    name: str  # relative to the zone
    type: str  # "A" | "SRV"
    value: str


@dataclass(frozen=True)
class DnsPlan:
    zone: str
    servers: tuple[str, ...]  # node names
    server_addresses: tuple[str, ...]
    records: tuple[DnsRecord, ...]


@dataclass(frozen=True)
class SipServer:
    node: str
    kind: str
    address: str
    fqdn: str
    addresses: tuple[str, ...]  # every address it may send from (its name's, its interfaces'): peers trust these


@dataclass(frozen=True)
class SipAccount:
    user: str
    password: str
    extension: str
    home: str | None  # the registrar node of the user's phones (its home server), None without a phone
    home_fqdn: str | None


@dataclass(frozen=True)
class SipPlan:
    domain: str
    ldap_node: str
    ldap_address: str
    base_dn: str
    people_dn: str
    accounts: tuple[SipAccount, ...]
    servers: tuple[SipServer, ...]


@dataclass(frozen=True)
class LabPlan:
    lab: str
    description: str
    domain: str
    source: str
    nodes: tuple[NodePlan, ...]
    segments: tuple[SegmentPlan, ...]
    dns: DnsPlan
    sip: SipPlan | None
    demo: str | None
    format: int = PLAN_FORMAT
    hosts: tuple[tuple[str, str], ...] = field(default=())  # (name, address) for /etc/hosts

    def node(self, name: str) -> NodePlan:
        for node in self.nodes:
            if node.name == name:
                return node
        raise KeyError(name)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=False) + "\n"
