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

from labctl.cli.output import console, err_console, literal
from labctl.compile import compile_topology
from labctl.compile.dot import plan_to_dot
from labctl.compile.plan import LabPlan
from labctl.errors import FileError, LabctlError
from labctl.paths import data_dir, resolve_named
from labctl.topology.model import Topology
from labctl.topology.runnable import Host, check_runnable
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


def load_runnable(name_or_path: str) -> tuple[Topology, LabPlan]:
    """The topology and its plan, refused unless `up` could run it on this host (demo, images, size)."""
    topo = load(name_or_path)
    plan = compile_topology(topo)
    check_runnable(topo, plan, Host.this())
    return topo, plan


def validate(topology: TopologyArg) -> None:
    """Check a topology, its demo and images, and that it fits this host; print problems as file:line: message."""
    topo, plan = load_runnable(topology)
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
    lab = load_plan(topology)
    if as_json:
        print(lab.to_json() if show_secrets else json.dumps(redact(lab.to_dict()), indent=2) + "\n", end="")
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
    dot = plan_to_dot(load_plan(topology))
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
    for path in sorted(data_dir("topologies").glob("*.yaml")):
        try:
            topo = load_topology(path)
            console.print(
                f"{literal(f'{path.stem:<16}')} {len(topo.nodes):>3} nodes  {literal(topo.description)}",
                highlight=False,
            )
        except FileError as exc:
            console.print(
                f"{literal(f'{path.stem:<16}')} [red]invalid[/red]: {literal(exc.lines()[0])}", highlight=False
            )


def register(app: typer.Typer) -> None:
    app.command()(validate)
    app.command()(plan)
    app.command()(graph)
    app.command("list")(list_topologies)
