"""The lab zone: an A record per node and per interface, SRV records for SIP servers."""

from __future__ import annotations

from labctl.compile.plan import DnsPlan, DnsRecord, NodePlan
from labctl.compile.sip import registrar_roles, sip_registrars

SIP_PORT = 5060


def dns_plan(domain: str, nodes: tuple[NodePlan, ...]) -> DnsPlan:
    records = []
    for node in nodes:
        records.append(DnsRecord(node.name, "A", node.address))
        records += [DnsRecord(i.dns_name, "A", i.ip) for i in node.interfaces]
    registrars = sip_registrars()
    sip_servers = [n for n in nodes if registrar_roles(n, registrars)]
    for priority, server in enumerate(sip_servers, start=1):
        target = f"{server.fqdn}."
        records.append(DnsRecord("_sip._udp", "SRV", f"{priority * 10} 0 {SIP_PORT} {target}"))
        records.append(DnsRecord(f"_sip._udp.{server.name}", "SRV", f"10 0 {SIP_PORT} {target}"))
    servers = [n for n in nodes if n.has("dns")]
    return DnsPlan(
        zone=domain,
        servers=tuple(n.name for n in servers),
        server_addresses=tuple(n.address for n in servers),
        records=tuple(records),
    )
