"""The SIP directory: accounts, servers, the LDAP tree they live in, and each phone's settings."""

from __future__ import annotations

from labctl.compile.plan import NodePlan, PhonePlan, SipAccount, SipPlan, SipServer
from labctl.roles import catalogue
from labctl.topology.model import SIP_REGISTRAR, NodeSpec, SipSpec


def registrar_roles(node: NodePlan, registrars: tuple[str, ...]) -> list[str]:
    """The node's roles among `registrars` (the roles that provide sip-registrar), in the node's own order."""
    return [role for role in node.roles if role in registrars]


def sip_registrars() -> tuple[str, ...]:
    return catalogue().providers(SIP_REGISTRAR)


def _dn_value(text: str) -> str:
    """RFC 4514: an attribute value inside a DN, escaped (a validated domain needs none)."""
    out = ["\\" + c if c in '\\,+"<>;=' else f"\\{ord(c):02x}" if ord(c) < 32 or c == "\x7f" else c for c in text]
    if out and out[0] in (" ", "#"):
        out[0] = "\\" + out[0]
    if out and out[-1] == " ":
        out[-1] = "\\ "
    return "".join(out)


def base_dn(domain: str) -> str:
    return ",".join(f"dc={_dn_value(part)}" for part in domain.split("."))


def sip_plan(sip: SipSpec | None, nodes: tuple[NodePlan, ...]) -> SipPlan | None:
    ldap = next((n for n in nodes if n.has("ldap")), None)
    if sip is None or ldap is None:
        return None
    base = base_dn(sip.domain)
    registrars = sip_registrars()
    homes = _homes(nodes)
    return SipPlan(
        domain=sip.domain,
        ldap_node=ldap.name,
        ldap_address=ldap.address,
        base_dn=base,
        people_dn=f"ou=people,{base}",
        accounts=tuple(
            SipAccount(u.name, u.password, u.extension, *homes.get(u.name, (None, None))) for u in sip.users
        ),
        servers=tuple(
            SipServer(node=n.name, kind=role, address=n.address, fqdn=n.fqdn, addresses=n.addresses())
            for n in nodes
            for role in registrar_roles(n, registrars)
        ),
    )


def _homes(nodes: tuple[NodePlan, ...]) -> dict[str, tuple[str, str]]:
    """user -> (home server, its FQDN): the registrar the user's phones name (validation makes them
    agree). Calls to the user are routed there, whichever SIP server they reach first."""
    return {n.phone.user: (n.phone.registrar, n.phone.registrar_fqdn) for n in nodes if n.phone is not None}


def phone_plan(node: NodeSpec, sip: SipSpec | None, registrar: NodePlan | None) -> PhonePlan | None:
    if node.phone is None or sip is None or registrar is None:
        return None
    user = next(u for u in sip.users if u.name == node.phone.user)
    kind = registrar_roles(registrar, sip_registrars())[0]
    return PhonePlan(
        user=user.name,
        extension=user.extension,
        password=user.password,
        registrar=registrar.name,
        registrar_kind=kind,
        registrar_fqdn=registrar.fqdn,
        registrar_address=registrar.address,
    )
