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
    return SipPlan(
        domain=sip.domain,
        ldap_node=ldap.name,
        ldap_address=ldap.address,
        base_dn=base,
        people_dn=f"ou=people,{base}",
        accounts=tuple(SipAccount(u.name, u.password, u.extension, *_home(u.name, nodes)) for u in sip.users),
        servers=tuple(
            SipServer(node=n.name, kind=role, address=n.address, fqdn=n.fqdn, addresses=_addresses(n))
            for n in nodes
            for role in registrar_roles(n, registrars)
        ),
    )


def _addresses(node: NodePlan) -> tuple[str, ...]:
    return tuple(dict.fromkeys((node.address, *(i.ip for i in node.interfaces))))


def _home(user: str, nodes: tuple[NodePlan, ...]) -> tuple[str | None, str | None]:
    """The user's home server: the registrar its phones name (validation makes them agree), and its FQDN.
    Calls to the user are routed there, whichever SIP server they reach first."""
    by_name = {n.name: n for n in nodes}
    home = next((n.phone.registrar for n in nodes if n.phone is not None and n.phone.user == user), None)
    return (home, by_name[home].fqdn) if home is not None else (None, None)


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
