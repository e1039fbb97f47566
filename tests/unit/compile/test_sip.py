"""labctl.compile.sip: the SIP directory and each phone's settings."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from labctl.compile.plan import LabPlan, PhonePlan, SipAccount, SipServer
from labctl.compile.sip import base_dn

Compiler = Callable[[str], LabPlan]

VOIP = """\
name: voip
domain: voip.lab
nodes:
  r1: {roles: [router]}
  dir: {roles: [ldap]}
  proxy: {roles: [kamailio]}
  pbx: {roles: [freeswitch]}
  alice: {roles: [phone], phone: {user: alice, registrar: proxy}}
  bob: {roles: [phone], phone: {user: bob, registrar: pbx}}
lans:
  core: [r1, dir, proxy, pbx]
  desk: [r1, alice, bob]
sip:
  domain: corp.example.org
  users:
    alice: {password: alice-secret, extension: 1001}
    bob: {password: bob-secret, extension: "0042"}
"""


@pytest.mark.parametrize(
    ("domain", "expected"),
    [("voip.lab", "dc=voip,dc=lab"), ("corp.example.org", "dc=corp,dc=example,dc=org")],
)
def test_base_dn_comes_from_the_sip_domain(domain: str, expected: str) -> None:
    assert base_dn(domain) == expected


def test_sip_plan(plan: Compiler) -> None:
    sip = plan(VOIP).sip
    assert sip is not None
    assert (sip.domain, sip.base_dn, sip.people_dn) == (
        "corp.example.org",
        "dc=corp,dc=example,dc=org",
        "ou=people,dc=corp,dc=example,dc=org",
    )
    assert (sip.ldap_node, sip.ldap_address) == ("dir", "10.0.0.2")
    assert sip.accounts == (
        SipAccount("alice", "alice-secret", "1001", "proxy", "proxy.voip.lab"),
        SipAccount("bob", "bob-secret", "0042", "pbx", "pbx.voip.lab"),
    )
    assert sip.servers == (
        SipServer("proxy", "kamailio", "10.0.0.3", "proxy.voip.lab", ("10.0.0.3", "10.10.0.3")),
        SipServer("pbx", "freeswitch", "10.0.0.4", "pbx.voip.lab", ("10.0.0.4", "10.10.0.4")),
    )


def test_a_user_without_a_phone_has_no_home(plan: Compiler) -> None:
    """Calls to such a user stay with the server they reach (the user can still register anywhere)."""
    sip = plan(
        VOIP.replace(
            '    bob: {password: bob-secret, extension: "0042"}',
            '    bob: {password: bob-secret, extension: "0042"}\n    eve: {password: eve-secret, extension: 1009}',
        )
    ).sip
    assert sip is not None
    assert sip.accounts[-1] == SipAccount("eve", "eve-secret", "1009", None, None)


def test_a_router_registrar_trusts_every_address_it_may_send_from(plan: Compiler) -> None:
    lab = plan(VOIP.replace("proxy: {roles: [kamailio]}", "proxy: {roles: [kamailio, router]}"))
    assert lab.sip is not None
    proxy = lab.sip.servers[0]
    node = lab.node("proxy")
    assert proxy.addresses[0] == node.address == node.loopback.split("/")[0]
    assert set(proxy.addresses) == {node.address, *(i.ip for i in node.interfaces)}


def test_each_phone_knows_its_account_and_registrar(plan: Compiler) -> None:
    lab = plan(VOIP)
    assert lab.node("alice").phone == PhonePlan(
        user="alice",
        extension="1001",
        password="alice-secret",
        registrar="proxy",
        registrar_kind="kamailio",
        registrar_fqdn="proxy.voip.lab",
        registrar_address="10.0.0.3",
    )
    bob = lab.node("bob").phone
    assert bob is not None
    assert (bob.registrar, bob.registrar_kind, bob.extension) == ("pbx", "freeswitch", "0042")
    assert [n.name for n in lab.nodes if n.phone is not None] == ["alice", "bob"]


def test_no_sip_section_means_no_sip_plan(plan: Compiler) -> None:
    assert plan("name: flat\nnodes: {a: {}, b: {}}\nlinks: [[a, b]]\n").sip is None
