"""up, down, status, exec, console, ls, reconfigure: the verbs that act on running labs."""

from __future__ import annotations

import sys
import time
from typing import Annotated, Any

import typer
from rich.table import Table

from labctl.backends.base import Backend
from labctl.backends.libvirt.backend import LibvirtBackend
from labctl.cli.image_cmds import build_with_progress
from labctl.cli.output import console, err_console, print_json
from labctl.cli.progress import PhaseReporter
from labctl.cli.topology_cmds import TopologyArg, load
from labctl.compile import compile_topology
from labctl.compile.plan import LabPlan
from labctl.errors import LabctlError
from labctl.lab import lifecycle
from labctl.lab.configure import configure
from labctl.lab.saved_plan import saved_plan
from labctl.lab.state import LabState, load_state, running_labs
from labctl.topology.suggest import did_you_mean

LabArg = Annotated[str, typer.Argument(help="Lab name (or its topology name/path).")]


def backend_for(plan: LabPlan, reporter: PhaseReporter) -> Backend:
    """The libvirt backend, with the plan's images built first (only those missing take time)."""
    return LibvirtBackend({name: build_with_progress(name, reporter) for name in sorted({n.image for n in plan.nodes})})


def lab_name(name_or_path: str) -> str:
    """Accept a lab name or the topology that defines it."""
    if name_or_path in running_labs() or ("/" not in name_or_path and not name_or_path.endswith((".yaml", ".yml"))):
        return name_or_path
    return load(name_or_path).name


def require_state(lab: str) -> LabState:
    state = load_state(lab)
    if state is None:
        running = running_labs()
        hint = did_you_mean(lab, running) or (
            f" (running: {', '.join(running)})" if running else " (no lab is running)"
        )
        raise LabctlError(f"lab '{lab}' is not running{hint}")
    return state


def resolve_node(ref: str) -> tuple[LabState, str]:
    """NODE or LAB/NODE -> (state, node)."""
    if "/" in ref:
        lab, node = ref.split("/", 1)
        return require_state(lab), node
    labs = [lab for lab in running_labs() if (s := load_state(lab)) is not None and ref in s.nodes]
    if not labs:
        raise LabctlError(f"no running lab has a node '{ref}'")
    if len(labs) > 1:
        raise LabctlError(f"node '{ref}' exists in labs {', '.join(labs)}; say LAB/{ref}")
    return require_state(labs[0]), ref


def up(
    topology: TopologyArg,
    verify: Annotated[bool, typer.Option("--verify/--no-verify", help="Run the topology's demo once up.")] = True,
    keep: Annotated[bool, typer.Option("--keep-on-failure", help="Leave a failed lab running to inspect it.")] = False,
    junit: Annotated[str | None, typer.Option("--junit", help="Write the demo report as JUnit XML.")] = None,
) -> None:
    """Build what is missing, boot every node, configure it, then verify the lab with its demo."""
    start = time.monotonic()
    topo = load(topology)
    plan = compile_topology(topo)
    from labctl.topology.runnable import Host, check_runnable

    check_runnable(topo, plan, Host.this())  # before any image is built or VM booted
    reporter = PhaseReporter()
    backend = backend_for(plan, reporter)
    with reporter.live(f"bringing up {plan.lab}"):
        result = lifecycle.up(backend, plan, str(topo.source), reporter.event, reporter.phase, keep_on_failure=keep)
    reporter.phase(f"lab {plan.lab} is up")
    show_status(result.state, backend)
    code = 0
    if verify and plan.demo:
        from labctl.cli.demo_cmds import run_demo

        code = run_demo(backend, result.state, plan.demo, as_json=False, junit=junit)
    console.print(f"total time {time.monotonic() - start:.0f} s", highlight=False)
    raise typer.Exit(code)


def down(
    lab: LabArg,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Remove every VM, bridge, overlay and state file of a lab (safe to repeat, works after a crash)."""
    name = lab_name(lab)
    reporter = PhaseReporter(quiet=as_json)
    removed = lifecycle.down(LibvirtBackend(), name, reporter.event)
    if as_json:
        print_json({"lab": name, "removed": removed})
    else:
        console.print(f"lab {name}: removed {len(removed)} objects" if removed else f"lab {name}: nothing to remove")


def status_data(state: LabState, backend: Backend) -> dict[str, Any]:
    nodes = []
    for node in state.plan["nodes"]:
        info = state.nodes.get(node["name"])
        nodes.append(
            {
                "name": node["name"],
                "roles": node["roles"],
                "state": backend.node_status(state, node["name"]),
                "address": node["address"],
                "interfaces": {i["name"]: i["address"] for i in node["interfaces"]},
                "spice": f"spice://127.0.0.1:{info.spice_port}" if info and info.spice_port else None,
                "domain": info.domain if info else None,
            }
        )
    return {"lab": state.lab, "phase": state.phase, "accel": state.accel, "topology": state.topology, "nodes": nodes}


def show_status(state: LabState, backend: Backend) -> None:
    data = status_data(state, backend)
    table = Table(
        "node",
        "roles",
        "state",
        "address",
        "interfaces",
        "spice",
        title=f"{data['lab']} ({data['phase']}, {data['accel'].upper()})",
    )
    for node in data["nodes"]:
        ifaces = "\n".join(f"{k} {v}" for k, v in node["interfaces"].items()) or "-"
        colour = "green" if node["state"] == "running" else "red"
        table.add_row(
            node["name"],
            ", ".join(node["roles"]),
            f"[{colour}]{node['state']}[/{colour}]",
            node["address"],
            ifaces,
            node["spice"] or "-",
        )
    console.print(table)


def status(
    lab: Annotated[str | None, typer.Argument(help="Lab name; all running labs when omitted.")] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Per node: state, addresses and SPICE port."""
    labs = [lab_name(lab)] if lab else running_labs()
    backend = LibvirtBackend()
    states = [require_state(name) for name in labs]
    if as_json:
        data = [status_data(s, backend) for s in states]
        print_json(data[0] if lab else data)
        return
    if not states:
        console.print("no lab is running")
    for state in states:
        show_status(state, backend)


def ls(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """The running labs."""
    rows = []
    for name in running_labs():
        state = load_state(name)
        if state is not None:
            rows.append(
                {
                    "lab": name,
                    "phase": state.phase,
                    "nodes": len(state.nodes),
                    "accel": state.accel,
                    "topology": state.topology,
                    "started": time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(state.started)),
                }
            )
    if as_json:
        print_json(rows)
        return
    for row in rows:
        console.print(
            f"{row['lab']:<16} {row['phase']:<12} {row['nodes']:>3} nodes  {row['accel']}  "
            f"since {row['started']}  {row['topology']}",
            highlight=False,
        )
    if not rows:
        console.print("no lab is running")


def exec_cmd(
    node: Annotated[str, typer.Argument(help="NODE or LAB/NODE")],
    command: Annotated[list[str], typer.Argument(help="Command and arguments (after --).")],
    timeout: Annotated[float, typer.Option(help="Seconds before giving up.")] = 60.0,
) -> None:
    """Run a command on a node through its guest agent; exits with the command's exit code."""
    import shlex

    if command and command[0] == "--":
        command = command[1:]
    if not command:
        raise LabctlError("no command given: labctl exec NODE -- CMD...")
    state, name = resolve_node(node)
    result = LibvirtBackend().exec(state, name, shlex.join(command), timeout)
    sys.stdout.write(result.stdout)
    sys.stderr.write(result.stderr)
    raise typer.Exit(result.exit_code)


def console_cmd(node: Annotated[str, typer.Argument(help="NODE or LAB/NODE")]) -> None:
    """Attach to a node's serial console (Ctrl-] leaves)."""
    state, name = resolve_node(node)
    err_console.print(f"connecting to {state.lab}/{name}; Ctrl-] to leave")
    LibvirtBackend().console(state, name)


def reconfigure(lab: LabArg) -> None:
    """Push every node's configuration again (idempotent)."""
    state = require_state(lab_name(lab))
    plan = saved_plan(state)
    reporter = PhaseReporter()
    configure(LibvirtBackend(), plan, state, reporter.event)
    reporter.phase(f"lab {state.lab} reconfigured")


def register(app: typer.Typer) -> None:
    app.command()(up)
    app.command()(down)
    app.command()(status)
    app.command()(ls)
    app.command("exec", context_settings={"allow_interspersed_args": False})(exec_cmd)
    app.command("console")(console_cmd)
    app.command()(reconfigure)
