"""up, down, status, exec, console, ls, reconfigure, secrets: the verbs that act on running labs."""

from __future__ import annotations

import math
import os
import sys
import time
from typing import Annotated, Any

import typer
from rich.table import Table

from labctl.backends.base import Backend
from labctl.backends.registry import DEFAULT_BACKEND, backend_for, create_backend
from labctl.cli.image_cmds import build_with_progress
from labctl.cli.output import console, err_console, print_json
from labctl.cli.progress import PhaseReporter
from labctl.cli.topology_cmds import TopologyArg, load
from labctl.compile import compile_topology
from labctl.compile.plan import LabPlan
from labctl.errors import LabctlError
from labctl.lab import lifecycle
from labctl.lab.configure import configure
from labctl.paths import demo_reference
from labctl.state import (
    LabState,
    check_lab_name,
    check_node_name,
    lab_exists,
    lab_folder,
    lab_folders,
    load_state,
    read_secrets,
    running_labs,
    saved_plan,
)
from labctl.suggest import did_you_mean

LabArg = Annotated[str, typer.Argument(help="Lab name (or its topology name/path).")]


def backend_to_build(plan: LabPlan, reporter: PhaseReporter) -> Backend:
    """The default backend, with the plan's images built first (only those missing take time)."""
    images = {name: build_with_progress(name, reporter) for name in sorted({n.image for n in plan.nodes})}
    return create_backend(DEFAULT_BACKEND, images)


def lab_name(name_or_path: str) -> str:
    """Accept a lab name or the topology file that defines it; anything else is refused before use."""
    if "/" in name_or_path or name_or_path.endswith((".yaml", ".yml")):
        if not os.path.isfile(name_or_path):
            raise LabctlError(f"{name_or_path!r} is not a lab name, and no topology file has that path")
        return check_lab_name(load(name_or_path).name)
    return check_lab_name(name_or_path)


def _running_hint(lab: str) -> str:
    running = running_labs()
    return did_you_mean(lab, running) or (f" (running: {', '.join(running)})" if running else " (no lab is running)")


def require_state(lab: str) -> LabState:
    state = load_state(check_lab_name(lab))
    if state is None:
        raise LabctlError(f"lab '{lab}' is not running{_running_hint(lab)}")
    return state


def readable_states() -> tuple[list[LabState], list[str]]:
    """The state of every running lab, and the names of those whose state is damaged (skipped, so
    that one broken lab does not stop commands aimed at the others; `ls` lists them too)."""
    states, damaged = [], []
    for lab in running_labs():
        try:
            state = load_state(lab)
        except LabctlError:
            damaged.append(lab)
            continue
        if state is not None:
            states.append(state)
    return states, damaged


def resolve_node(ref: str) -> tuple[LabState, str]:
    """NODE or LAB/NODE -> (state, node)."""
    if "/" in ref:
        lab, node = ref.split("/", 1)
        return require_state(lab), check_node_name(node)
    check_node_name(ref)
    states, damaged = readable_states()
    found = [s for s in states if ref in s.nodes]
    if not found:
        skipped = f" (not searched, state damaged: {', '.join(damaged)})" if damaged else ""
        raise LabctlError(f"no running lab has a node '{ref}'{skipped}")
    if len(found) > 1:
        raise LabctlError(f"node '{ref}' exists in labs {', '.join(s.lab for s in found)}; say LAB/{ref}")
    return found[0], ref


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
    if junit is not None:
        from labctl.cli.demo_cmds import junit_target

        junit_target(junit)  # a report that cannot be written is refused now, not after the lab is built
    reporter = PhaseReporter()
    backend = backend_to_build(plan, reporter)
    with reporter.live(f"bringing up {plan.lab}"):
        result = lifecycle.up(backend, plan, str(topo.source), reporter.event, reporter.phase, keep_on_failure=keep)
    reporter.phase(f"lab {plan.lab} is up")
    show_status(result.state, backend)
    code = 0
    if verify and plan.demo:
        from labctl.cli.demo_cmds import run_demo

        code = run_demo(backend, result.state, demo_reference(plan.demo, topo.source), as_json=False, junit=junit)
    console.print(f"total time {time.monotonic() - start:.0f} s", highlight=False)
    raise typer.Exit(code)


def down(
    lab: Annotated[str | None, typer.Argument(help="Lab name (or its topology path).", metavar="LAB")] = None,
    every: Annotated[bool, typer.Option("--all", help="Remove every lab in the state folder.")] = False,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Remove every VM, bridge, overlay and state file of a lab (safe to repeat, works after a crash)."""
    if every == (lab is not None):
        raise typer.BadParameter("give a LAB or --all, not both" if every else "give a LAB, or --all for every lab")
    names = lab_folders() if every else [lab_name(lab or "")]
    backend = create_backend(DEFAULT_BACKEND)  # also for a lab whose state (and so its backend's name) is damaged
    reporter = PhaseReporter(quiet=as_json)
    results: list[dict[str, Any]] = []
    failed = []
    for name in names:
        existed = lab_exists(name)
        try:
            removed = lifecycle.down(backend, name, reporter.event)
        except LabctlError as exc:
            if not every:
                raise
            failed.append(name)  # --all goes on with the other labs, and fails at the end
            results.append({"lab": name, "error": str(exc)})
            err_console.print(f"error: lab {name}: {exc}", highlight=False, markup=False)
            continue
        if not (existed or removed or every):
            raise LabctlError(f"lab '{name}' does not exist{_running_hint(name)}")
        if existed:
            removed.append(f"state folder {lab_folder(name)}")
        results.append({"lab": name, "removed": removed})
        if not as_json:
            console.print(
                f"lab {name}: removed {len(removed)} object{'s' if len(removed) != 1 else ''}"
                if removed
                else f"lab {name}: nothing left to remove",
                highlight=False,
                markup=False,
            )
    if as_json:
        print_json(results if every else results[0])
    elif every and not names:
        console.print("no lab to remove")
    if failed:
        raise LabctlError(f"could not remove {len(failed)} of {len(names)} labs: {', '.join(failed)}")


def status_data(state: LabState, backend: Backend) -> dict[str, Any]:
    nodes = []
    for node in state.plan["nodes"]:
        info = backend.node_info(state, node["name"])
        nodes.append(
            {
                "name": node["name"],
                "roles": node["roles"],
                "state": info.status,
                "address": node["address"],
                "interfaces": {i["name"]: i["address"] for i in node["interfaces"]},
                "spice": info.display,
                "console": f"labctl console {state.lab}/{node['name']}",
                **info.details,
            }
        )
    return {
        "lab": state.lab,
        "phase": state.phase,
        "accel": state.accel,
        "topology": state.topology,
        "nodes": nodes,
        "password_shown_by": f"labctl secrets {state.lab}",
    }


def show_status(state: LabState, backend: Backend) -> None:
    data = status_data(state, backend)
    table = Table(
        "node",
        "roles",
        "state",
        "address",
        "interfaces",
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
        )
    console.print(table)
    # Below the table, whole: a table squeezed to 80 columns (no TTY) would cut the URIs.
    width = max((len(n["name"]) for n in data["nodes"]), default=0)
    lines = [
        f"  {n['name']:<{width}}  {n['spice'] or 'no display'}  serial console: {n['console']}" for n in data["nodes"]
    ]
    console.print(
        "\n".join(
            [
                "connect: a SPICE viewer (remote-viewer URI) with the lab's password, "
                f"which `{data['password_shown_by']}` prints (root only); or the serial console",
                *lines,
            ]
        ),
        highlight=False,
        markup=False,
    )


def status(
    lab: Annotated[str | None, typer.Argument(help="Lab name; all running labs when omitted.")] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Per node: state, addresses and SPICE port."""
    damaged: list[str] = []
    if lab is not None:
        states = [require_state(lab_name(lab))]
    else:
        states, damaged = readable_states()
    if as_json:
        data = [status_data(s, backend_for(s)) for s in states]
        data += [{"lab": name, "phase": "damaged", "nodes": []} for name in damaged]
        print_json(data[0] if lab is not None else sorted(data, key=lambda d: str(d["lab"])))
        return
    if not states and not damaged:
        console.print("no lab is running")
    for state in states:
        show_status(state, backend_for(state))
    for name in damaged:
        err_console.print(
            f"lab {name}: its state is damaged; `labctl down {name}` removes the lab", highlight=False, markup=False
        )


def ls(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """The running labs."""
    states, damaged = readable_states()
    rows: list[dict[str, Any]] = [
        {
            "lab": state.lab,
            "phase": state.phase,
            "nodes": len(state.nodes),
            "accel": state.accel,
            "topology": state.topology,
            "started": time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(state.started)),
        }
        for state in states
    ]
    # a damaged lab is listed too, so that `down` can be found for it
    rows += [{"lab": n, "phase": "damaged", "nodes": 0, "accel": "-", "topology": "-", "started": "-"} for n in damaged]
    rows.sort(key=lambda row: str(row["lab"]))
    if as_json:
        print_json(rows)
        return
    for row in rows:
        console.print(
            f"{row['lab']:<16} {row['phase']:<12} {row['nodes']:>3} nodes  {row['accel']}  "
            f"since {row['started']}  {row['topology']}",
            highlight=False,
            markup=False,
        )
    if not rows:
        console.print("no lab is running")


EXEC_TIMEOUT_MAX = 86400.0  # a day: longer is a mistake, and nan or inf would never time out


def _exec_timeout(value: float) -> float:
    if not math.isfinite(value) or not 0 < value <= EXEC_TIMEOUT_MAX:
        raise typer.BadParameter(f"{value} is not a number of seconds above 0 and at most {EXEC_TIMEOUT_MAX:.0f}")
    return value


def exec_cmd(
    node: Annotated[str, typer.Argument(help="NODE or LAB/NODE")],
    command: Annotated[list[str], typer.Argument(help="Command and arguments (after --).")],
    timeout: Annotated[
        float, typer.Option(help="Seconds before giving up (at most a day).", callback=_exec_timeout)
    ] = 60.0,
) -> None:
    """Run a command on a node through its guest agent; exits with the command's exit code."""
    import shlex

    if command and command[0] == "--":
        command = command[1:]
    if not command:
        raise LabctlError("no command given: labctl exec NODE -- CMD...")
    state, name = resolve_node(node)
    result = backend_for(state).exec(state, name, shlex.join(command), timeout)
    sys.stdout.write(result.stdout)
    sys.stderr.write(result.stderr)
    raise typer.Exit(result.exit_code)


def console_cmd(node: Annotated[str, typer.Argument(help="NODE or LAB/NODE")]) -> None:
    """Attach to a node's serial console (Ctrl-] leaves)."""
    state, name = resolve_node(node)
    err_console.print(f"connecting to {state.lab}/{name}; Ctrl-] to leave")
    backend_for(state).console(state, name)


def reconfigure(lab: LabArg) -> None:
    """Push every node's configuration again (idempotent)."""
    state = require_state(lab_name(lab))
    plan = saved_plan(state)
    reporter = PhaseReporter()
    configure(backend_for(state), plan, state, reporter.event)
    reporter.phase(f"lab {state.lab} reconfigured")


EXPECTED_SECRETS = ("spice_password", "root_password")  # every lab's `up` makes these


def secrets(
    lab: LabArg,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Print a lab's passwords (SPICE, root in every node, LDAP...); root only."""
    if os.geteuid() != 0:
        raise LabctlError("`labctl secrets` prints the lab's passwords and is for root only; run it with sudo")
    state = require_state(lab_name(lab))
    data = read_secrets(state.lab)  # read only: a secret the lab never made is reported, not invented
    missing = [name for name in EXPECTED_SECRETS if name not in data]
    if as_json:
        print_json({"lab": state.lab, "secrets": dict(sorted(data.items())), "missing": missing})
        return
    for name, value in sorted(data.items()):
        console.print(f"{name:<16} {value}", highlight=False, markup=False)
    if missing:
        err_console.print(
            f"lab {state.lab} has no {', '.join(missing)} (not made by `up` yet, or removed)",
            highlight=False,
            markup=False,
        )


def register(app: typer.Typer) -> None:
    app.command()(up)
    app.command()(down)
    app.command()(status)
    app.command()(ls)
    app.command("exec", context_settings={"allow_interspersed_args": False})(exec_cmd)
    app.command("console")(console_cmd)
    app.command()(reconfigure)
    app.command()(secrets)
