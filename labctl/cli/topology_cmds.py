"""validate, plan, graph, list: the verbs that only read topologies."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from labctl.cli.output import console, err_console, literal
from labctl.errors import LabctlError
from labctl.service import topologies
from labctl.service.topologies import REDACTED

TopologyArg = Annotated[str, typer.Argument(help="Topology name (topologies/NAME.yaml) or path.")]


def validate(topology: TopologyArg) -> None:
    """Check a topology, its demo and images, and that it fits this host; print problems as file:line: message."""
    topo, plan = topologies.load_runnable(topology)
    summary = f"lab '{plan.lab}', {len(plan.nodes)} nodes, {len(plan.segments)} segments"
    console.print(f"[green]ok[/green] {literal(topo.source)}: {summary}", highlight=False)


def plan(
    topology: TopologyArg,
    as_json: Annotated[bool, typer.Option("--json", help="Print the full plan as JSON.")] = False,
    show_secrets: Annotated[
        bool, typer.Option("--show-secrets", help=f"Print passwords instead of {REDACTED}.")
    ] = False,
) -> None:
    """Show what `up` would build: nodes, addresses, segments, SIP accounts (passwords redacted)."""
    lab = topologies.load_plan(topology)
    if as_json:
        print(json.dumps(topologies.plan_dict(lab, show_secrets), indent=2))
        return
    console.print(f"[bold]{lab.lab}[/bold] ({lab.domain}) {literal(lab.description)}")
    nodes = Table("node", "roles", "address", "interfaces", "memory", title="nodes")
    for node in lab.nodes:
        ifaces = "\n".join(f"{i.name} {i.address} {i.mac}" for i in node.interfaces) or "-"
        nodes.add_row(node.name, ", ".join(node.roles), node.address, ifaces, f"{node.memory} MiB")
    console.print(nodes)
    segments = Table("segment", "kind", "subnet", "members", title="segments")
    for segment in lab.segments:
        segments.add_row(segment.name, segment.kind, segment.subnet, ", ".join(segment.members))
    console.print(segments)
    if lab.sip is not None and lab.sip.accounts:
        accounts = Table("user", "extension", "password", title=f"SIP accounts ({lab.sip.domain})")
        for account in lab.sip.accounts:
            accounts.add_row(
                escape(account.user), account.extension, escape(account.password) if show_secrets else REDACTED
            )
        console.print(accounts)


GRAPH_FORMATS = ("svg", "png", "pdf", "dot")


def graph(
    topology: TopologyArg,
    output: Annotated[Path, typer.Option("-o", "--output", help="lab.svg, lab.png or lab.dot")] = Path("lab.svg"),
) -> None:
    """Draw the lab: nodes coloured by role, LANs as hubs."""
    fmt = output.suffix.lstrip(".").lower() or "dot"
    if fmt not in GRAPH_FORMATS:  # dot -T also knows x11, gtk...: formats that open a window and block
        raise LabctlError(
            f"cannot write {output}: the file name must end in {', '.join('.' + f for f in GRAPH_FORMATS)}"
        )
    dot = topologies.graph_dot(topology)
    if fmt == "dot":
        _write(output, dot)
        console.print(f"wrote {literal(output)}", highlight=False)
        return
    _check_writable(output)
    if shutil.which("dot") is None:
        fallback = output.with_suffix(".dot")
        _write(fallback, dot)
        err_console.print(
            f"Graphviz 'dot' is not installed; wrote {literal(fallback)} instead (apt install graphviz)",
            highlight=False,
        )
        return
    result = subprocess.run(["dot", f"-T{fmt}", "-o", str(output)], input=dot, text=True, capture_output=True)
    if result.returncode != 0:
        raise LabctlError(f"graphviz failed to write {output}: {result.stderr.strip()}")
    console.print(f"wrote {literal(output)}", highlight=False)


def _check_writable(output: Path) -> None:
    """One clear line for an output path that cannot be written, before any work."""
    folder = output.parent
    if not folder.is_dir():
        raise LabctlError(f"cannot write {output}: folder {folder} does not exist")
    if output.is_dir():
        raise LabctlError(f"cannot write {output}: it is a directory")
    if output.exists() and not output.is_file():
        raise LabctlError(f"cannot write {output}: it is not a regular file")


def _write(output: Path, text: str) -> None:
    _check_writable(output)
    try:
        output.write_text(text)
    except OSError as exc:
        raise LabctlError(f"cannot write {output}: {exc.strerror or exc}") from None


def list_topologies() -> None:
    """The topologies shipped in topologies/."""
    for listed in topologies.shipped_topologies():
        if listed.value is None:
            console.print(
                f"{literal(f'{listed.name:<16}')} [red]invalid[/red]: {literal(listed.problem)}", highlight=False
            )
            continue
        topo = listed.value
        console.print(
            f"{literal(f'{listed.name:<16}')} {len(topo.nodes):>3} nodes  {literal(topo.description)}", highlight=False
        )


def register(app: typer.Typer) -> None:
    app.command()(validate)
    app.command()(plan)
    app.command()(graph)
    app.command("list")(list_topologies)
