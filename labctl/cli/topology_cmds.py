"""validate, plan, graph, list: the verbs that only read topologies."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from labctl.cli.output import console, err_console
from labctl.compile import compile_topology
from labctl.compile.dot import plan_to_dot
from labctl.compile.plan import LabPlan
from labctl.errors import LabctlError, TopologyError
from labctl.paths import data_dir, resolve_named
from labctl.topology.model import Topology
from labctl.topology.schema import load_topology

TopologyArg = Annotated[str, typer.Argument(help="Topology name (topologies/NAME.yaml) or path.")]
REDACTED = "********"


def is_secret_key(key: str) -> bool:
    return key.lower().endswith(("password", "secret", "passwd", "token"))


def redact(value: Any) -> Any:
    """A copy of a plan's dict with every secret value (SIP passwords...) replaced by REDACTED."""
    if isinstance(value, dict):
        return {k: REDACTED if isinstance(k, str) and is_secret_key(k) else redact(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [redact(v) for v in value]
    return value


def load(name_or_path: str) -> Topology:
    return load_topology(resolve_named("topology", "topologies", name_or_path))


def load_plan(name_or_path: str) -> LabPlan:
    return compile_topology(load(name_or_path))


def validate(topology: TopologyArg) -> None:
    """Check a topology file; print every problem as file:line: message."""
    topo = load(topology)
    plan = compile_topology(topo)
    console.print(
        f"[green]ok[/green] {topo.source}: lab '{plan.lab}', {len(plan.nodes)} nodes, {len(plan.bridges)} segments",
        highlight=False,
    )


def plan(
    topology: TopologyArg,
    as_json: Annotated[bool, typer.Option("--json", help="Print the full plan as JSON.")] = False,
    show_secrets: Annotated[
        bool, typer.Option("--show-secrets", help=f"Print passwords instead of {REDACTED}.")
    ] = False,
) -> None:
    """Show what `up` would build: nodes, addresses, bridges, SIP accounts (passwords redacted)."""
    lab = load_plan(topology)
    if as_json:
        print(lab.to_json() if show_secrets else json.dumps(redact(lab.to_dict()), indent=2) + "\n", end="")
        return
    console.print(f"[bold]{lab.lab}[/bold] ({lab.domain}) {lab.description}")
    nodes = Table("node", "roles", "address", "interfaces", "memory", title="nodes")
    for node in lab.nodes:
        ifaces = "\n".join(f"{i.name} {i.address} {i.mac}" for i in node.interfaces) or "-"
        nodes.add_row(node.name, ", ".join(node.roles), node.address, ifaces, f"{node.memory} MiB")
    console.print(nodes)
    bridges = Table("segment", "kind", "subnet", "bridge", "members", title="segments")
    for bridge in lab.bridges:
        bridges.add_row(bridge.segment, bridge.kind, bridge.subnet, bridge.name, ", ".join(bridge.members))
    console.print(bridges)
    if lab.sip is not None and lab.sip.accounts:
        accounts = Table("user", "extension", "password", title=f"SIP accounts ({lab.sip.domain})")
        for account in lab.sip.accounts:
            accounts.add_row(
                escape(account.user), account.extension, escape(account.password) if show_secrets else REDACTED
            )
        console.print(accounts)


def graph(
    topology: TopologyArg,
    output: Annotated[Path, typer.Option("-o", "--output", help="lab.svg, lab.png or lab.dot")] = Path("lab.svg"),
) -> None:
    """Draw the lab: nodes coloured by role, LANs as hubs."""
    dot = plan_to_dot(load_plan(topology))
    fmt = output.suffix.lstrip(".") or "dot"
    if fmt == "dot":
        output.write_text(dot)
        console.print(f"wrote {output}")
        return
    if shutil.which("dot") is None:
        fallback = output.with_suffix(".dot")
        fallback.write_text(dot)
        err_console.print(f"Graphviz 'dot' is not installed; wrote {fallback} instead (apt install graphviz)")
        return
    result = subprocess.run(["dot", f"-T{fmt}", "-o", str(output)], input=dot, text=True, capture_output=True)
    if result.returncode != 0:
        raise LabctlError(f"graphviz failed to write {output}: {result.stderr.strip()}")
    console.print(f"wrote {output}")


def list_topologies() -> None:
    """The topologies shipped in topologies/."""
    for path in sorted(data_dir("topologies").glob("*.yaml")):
        try:
            topo = load_topology(path)
            console.print(f"{path.stem:<16} {len(topo.nodes):>3} nodes  {topo.description}", highlight=False)
        except TopologyError as exc:
            console.print(f"{path.stem:<16} [red]invalid[/red]: {exc.lines()[0]}", highlight=False)


def register(app: typer.Typer) -> None:
    app.command()(validate)
    app.command()(plan)
    app.command()(graph)
    app.command("list")(list_topologies)
