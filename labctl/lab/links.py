"""Name an attachment the way a user does: `A B` (the link between two nodes, both ends)
or `NODE LAN` (one node's port on a LAN), and for a capture `NODE IFACE` too. Pure: plan in,
(node, interface) pairs out."""

from __future__ import annotations

import dataclasses

from labctl.compile.plan import LabPlan
from labctl.errors import LabctlError
from labctl.suggest import did_you_mean


def attachments(plan: LabPlan, first: str, second: str) -> list[tuple[str, str]]:
    nodes = {n.name: n for n in plan.nodes}
    if first not in nodes:
        raise LabctlError(f"lab '{plan.lab}' has no node '{first}'{did_you_mean(first, nodes)}")
    node = nodes[first]
    if second in nodes:
        shared = [
            (i, j)
            for i in node.interfaces
            for j in nodes[second].interfaces
            if i.segment == j.segment and i.kind == "p2p"
        ]
        if not shared:
            common = sorted(
                {i.segment for i in node.interfaces if i.kind == "lan"} & {j.segment for j in nodes[second].interfaces}
            )
            hint = f" (they share LAN '{common[0]}': say `{first} {common[0]}`)" if common else ""
            raise LabctlError(f"there is no link between '{first}' and '{second}'{hint}")
        i, j = shared[0]
        return [(first, i.name), (second, j.name)]
    lans = {i.segment: i for i in node.interfaces if i.kind == "lan"}
    if second in lans:
        return [(first, lans[second].name)]
    choices = [*lans, *(n for n in nodes if n != first)]
    raise LabctlError(
        f"'{second}' is neither a node linked to '{first}' nor a LAN it is on{did_you_mean(second, choices)}"
    )


def capture_point(plan: LabPlan, node: str, target: str) -> tuple[str, str]:
    """Where `labctl capture NODE TARGET` listens: one of the node's interfaces (by its name), its end
    of the link to another node, or its port on a LAN (as `attachments` names them)."""
    nodes = {n.name: n for n in plan.nodes}
    if node not in nodes:
        return attachments(plan, node, target)[0]  # its message names the node
    names = [i.name for i in nodes[node].interfaces]
    if target in names:
        return node, target
    lans = [i.segment for i in nodes[node].interfaces if i.kind == "lan"]
    if target not in nodes and target not in lans:
        choices = [*names, *lans, *(n for n in nodes if n != node)]
        raise LabctlError(
            f"'{target}' is none of {node}'s interfaces ({', '.join(names) or 'none'}), a node linked to it, "
            f"or a LAN it is on{did_you_mean(target, choices)}"
        )
    return attachments(plan, node, target)[0]


def effective_plan(plan: LabPlan, down: list[list[str]]) -> LabPlan:
    """The plan without the attachments the user took down, for judging what should work now."""
    cut = {(node, iface) for node, iface in down}
    if not cut:
        return plan
    nodes = tuple(
        dataclasses.replace(n, interfaces=tuple(i for i in n.interfaces if (n.name, i.name) not in cut))
        for n in plan.nodes
    )
    return dataclasses.replace(plan, nodes=nodes)
