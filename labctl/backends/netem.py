"""Impairments are applied inside the node, on the egress of the named interface: that needs
only the guest's kernel (hosts such as this CI's have no netem) and means the same thing to
every backend. A link gets it at both ends, so both directions are impaired."""

from __future__ import annotations

from labctl.compile.plan import NetemPlan


def netem_argv(interface: str, netem: NetemPlan | None) -> list[str]:
    """The tc command that puts `netem` on `interface`, or takes any qdisc off it when None."""
    if netem is None:
        return ["tc", "qdisc", "del", "dev", interface, "root"]
    return ["tc", "qdisc", "replace", "dev", interface, "root", "netem", *netem.tc_args()]
