"""labctl.compile.dns: the lab zone."""

from __future__ import annotations

from collections.abc import Callable

from labctl.compile.plan import DnsRecord, LabPlan

Compiler = Callable[[str], LabPlan]

VOIP = """\
name: voip
domain: voip.lab
nodes:
  r1: {roles: [router]}
  infra: {roles: [dns, ldap]}
  proxy: {roles: [kamailio]}
  pbx: {roles: [freeswitch]}
  both: {roles: [kamailio, freeswitch]}
  phone: {roles: [phone], phone: {user: alice, registrar: both}}
lans:
  core: [r1, infra, proxy, pbx, both]
  desk: [r1, phone]
sip:
  domain: voice.voip.lab
  users:
    alice: {password: alice-secret, extension: 1001}
"""


def test_an_a_record_for_every_node_and_every_interface(plan: Compiler) -> None:
    lab = plan(VOIP)
    a_records = {r.name: r.value for r in lab.dns.records if r.type == "A"}
    expected = {n.name: n.address for n in lab.nodes}
    expected |= {i.dns_name: i.ip for n in lab.nodes for i in n.interfaces}
    assert a_records == expected
    assert a_records["r1-core"] == "10.10.0.1"
    assert a_records["r1-desk"] == "10.10.1.1"
    assert a_records["infra"] == "10.0.0.2"
    assert len([r for r in lab.dns.records if r.type == "A"]) == len(expected)


def test_srv_records_for_every_sip_server_in_node_order(plan: Compiler) -> None:
    srv = [r for r in plan(VOIP).dns.records if r.type == "SRV"]
    assert srv == [
        DnsRecord("_sip._udp", "SRV", "10 0 5060 proxy.voip.lab."),
        DnsRecord("_sip._udp.proxy", "SRV", "10 0 5060 proxy.voip.lab."),
        DnsRecord("_sip._udp", "SRV", "20 0 5060 pbx.voip.lab."),
        DnsRecord("_sip._udp.pbx", "SRV", "10 0 5060 pbx.voip.lab."),
        DnsRecord("_sip._udp", "SRV", "30 0 5060 both.voip.lab."),
        DnsRecord("_sip._udp.both", "SRV", "10 0 5060 both.voip.lab."),
    ]


def test_zone_and_servers(plan: Compiler) -> None:
    dns = plan(VOIP).dns
    assert (dns.zone, dns.servers, dns.server_addresses) == ("voip.lab", ("infra",), ("10.0.0.2",))


def test_a_lab_without_dns_or_sip_has_a_records_only(plan: Compiler) -> None:
    lab = plan("name: flat\nnodes: {a: {}, b: {}}\nlinks: [[a, b]]\n")
    assert lab.dns.servers == ()
    assert {r.type for r in lab.dns.records} == {"A"}
    assert [r.name for r in lab.dns.records] == ["a", "a-b", "b", "b-a"]
    assert lab.dns.zone == "flat.lab"


def test_fqdns_use_the_lab_domain(plan: Compiler) -> None:
    assert [n.fqdn for n in plan(VOIP).nodes][:2] == ["r1.voip.lab", "infra.voip.lab"]
