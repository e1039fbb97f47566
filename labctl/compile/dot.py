"""The plan as a Graphviz DOT graph: nodes coloured by role, LANs drawn as hubs."""

from __future__ import annotations

from labctl.compile.plan import LabPlan
from labctl.roles import catalogue

DEFAULT_COLOUR = "#dddddd"
"""For a node whose first role declares no `colour`."""


def _quote(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{escaped}"'


def plan_to_dot(plan: LabPlan) -> str:
    lines = [
        f"graph {_quote(plan.lab)} {{",
        "  graph [overlap=false, splines=true, fontname=Helvetica];",
        "  node [fontname=Helvetica, style=filled];",
    ]
    roles = catalogue()
    for node in plan.nodes:
        colour = roles.colour(node.roles[0]) or DEFAULT_COLOUR
        label = f"{node.name}\n{', '.join(node.roles)}\n{node.address}"
        lines.append(f"  {_quote('n:' + node.name)} [label={_quote(label)}, shape=box, fillcolor={_quote(colour)}];")
    address = {(n.name, i.segment): i.address for n in plan.nodes for i in n.interfaces}
    for segment in plan.segments:
        if segment.kind == "lan":
            hub = _quote("lan:" + segment.name)
            hub_label = _quote(f"{segment.name}\n{segment.subnet}")
            lines.append(f"  {hub} [label={hub_label}, shape=ellipse, fillcolor=white];")
            for member in segment.members:
                label = _quote(address[(member, segment.name)])
                lines.append(f"  {_quote('n:' + member)} -- {hub} [label={label}, fontsize=9];")
        else:
            a, b = segment.members
            lines.append(f"  {_quote('n:' + a)} -- {_quote('n:' + b)} [label={_quote(segment.subnet)}, fontsize=9];")
    lines.append("}")
    return "\n".join(lines) + "\n"
