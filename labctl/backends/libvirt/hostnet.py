"""Host-side networking with pyroute2: lab bridges and tap state.

Bridges carry no IP, STP off, forward delay 0, and never pass through the host's
iptables (br_netfilter would otherwise let a host firewall drop lab traffic). Each bridge's
ifalias names its lab, so `down` finds them even without saved state.
"""

from __future__ import annotations

import errno

from pyroute2 import IPRoute
from pyroute2.netlink.exceptions import NetlinkError

from labctl.errors import LabctlError

ALIAS_PREFIX = "labctl:"


def bridge_alias(lab: str, segment: str) -> str:
    return f"{ALIAS_PREFIX}{lab}:{segment}"


def _index(ipr: IPRoute, name: str) -> int | None:
    found = ipr.link_lookup(ifname=name)
    return found[0] if found else None


def create_bridge(name: str, alias: str) -> None:
    with IPRoute() as ipr:
        if _index(ipr, name) is None:
            try:
                ipr.link(
                    "add",
                    ifname=name,
                    kind="bridge",
                    br_stp_state=0,
                    br_forward_delay=0,
                    br_nf_call_iptables=0,
                    br_nf_call_arptables=0,
                    br_nf_call_ip6tables=0,
                )
            except NetlinkError as exc:
                raise LabctlError(f"cannot create bridge {name}: {exc.args[1] if len(exc.args) > 1 else exc}") from None
        index = _index(ipr, name)
        ipr.link("set", index=index, ifalias=alias)
        ipr.link("set", index=index, state="up")


def delete_link(name: str) -> bool:
    """Delete a bridge or tap; False when it is not there (or went meanwhile)."""
    with IPRoute() as ipr:
        index = _index(ipr, name)
        if index is None:
            return False
        try:
            ipr.link("del", index=index)
        except NetlinkError as exc:
            if exc.code == errno.ENODEV:
                return False
            raise LabctlError(f"cannot delete {name}: {exc.args[1] if len(exc.args) > 1 else exc}") from None
        return True


def bridges_of(lab: str) -> list[str]:
    """Bridges whose alias says they belong to `lab`."""
    prefix = f"{ALIAS_PREFIX}{lab}:"
    with IPRoute() as ipr:
        return sorted(
            link.get_attr("IFLA_IFNAME")
            for link in ipr.get_links()
            if (link.get_attr("IFLA_IFALIAS") or "").startswith(prefix)
        )


def set_state(name: str, up: bool) -> None:
    with IPRoute() as ipr:
        index = _index(ipr, name)
        if index is None:
            raise LabctlError(f"host interface {name} does not exist (is the lab running?)")
        ipr.link("set", index=index, state="up" if up else "down")


def link_names() -> set[str]:
    """Every network interface on the host."""
    with IPRoute() as ipr:
        return {link.get_attr("IFLA_IFNAME") for link in ipr.get_links()}
