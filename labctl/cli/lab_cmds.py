"""up, down, status, exec, console, desktop, web, ls, reconfigure, secrets: the verbs that act on running labs."""

from __future__ import annotations

import math
import signal
import sys
import time
from typing import Annotated, Any

import typer
from rich.table import Table

from labctl.cli.output import console, err_console, print_json
from labctl.cli.progress import PhaseReporter
from labctl.cli.reports import junit_target, run_demo
from labctl.cli.topology_cmds import TopologyArg
from labctl.errors import LabctlError
from labctl.service import desktops, labs, web

LabArg = Annotated[str, typer.Argument(help="Lab name (or its topology name/path).")]


def up(
    topology: TopologyArg,
    verify: Annotated[bool, typer.Option("--verify/--no-verify", help="Run the topology's demo once up.")] = True,
    keep: Annotated[bool, typer.Option("--keep-on-failure", help="Leave a failed lab running to inspect it.")] = False,
    junit: Annotated[str | None, typer.Option("--junit", help="Write the demo report as JUnit XML.")] = None,
    cold: Annotated[
        bool, typer.Option("--cold", help="Boot every node from scratch, not from a booted template.")
    ] = False,
) -> None:
    """Build what is missing, boot every node (restored from a booted template of its image and
    memory size, built once), configure it, then verify the lab with its demo."""
    if junit is not None:
        junit_target(junit)  # a report that cannot be written is refused now, not after the lab is built
    reporter = PhaseReporter()
    launched = labs.up(topology, reporter, keep_on_failure=keep, cold=cold)
    show_status(labs.status_data(launched.state))
    code = 0
    if verify and launched.demo is not None:
        code = run_demo(launched.state, launched.demo, as_json=False, junit=junit)
    console.print(f"total time {time.monotonic() - reporter.start:.0f} s", highlight=False)
    raise typer.Exit(code)


def down(
    lab: Annotated[str | None, typer.Argument(help="Lab name (or its topology path).", metavar="LAB")] = None,
    every: Annotated[bool, typer.Option("--all", help="Remove every lab in the state folder.")] = False,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Remove every VM, bridge, overlay and state file of a lab (safe to repeat, works after a crash)."""
    if every == (lab is not None):
        raise typer.BadParameter("give a LAB or --all, not both" if every else "give a LAB, or --all for every lab")
    reporter = PhaseReporter(quiet=as_json)
    results = labs.down_all(reporter) if every else [labs.down(lab or "", reporter)]
    for result in results:
        if result.error is not None:
            err_console.print(f"error: lab {result.lab}: {result.error}", highlight=False, markup=False)
        elif not as_json:
            count = len(result.removed)
            console.print(
                f"lab {result.lab}: removed {count} object{'s' if count != 1 else ''}"
                if count
                else f"lab {result.lab}: nothing left to remove",
                highlight=False,
                markup=False,
            )
    if as_json:
        data = [
            {"lab": r.lab, "error": r.error} if r.error is not None else {"lab": r.lab, "removed": r.removed}
            for r in results
        ]
        print_json(data if every else data[0])
    elif every and not results:
        console.print("no lab to remove")
    failed = [r.lab for r in results if r.error is not None]
    if failed:
        raise LabctlError(f"could not remove {len(failed)} of {len(results)} labs: {', '.join(failed)}")


def show_status(data: dict[str, Any]) -> None:
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
        f"  {n['name']:<{width}}  {n['spice'] or 'no display'} ({n['display']})  serial console: {n['console']}"
        for n in data["nodes"]
    ]
    if data.get("snapshots"):
        lines.append(f"snapshots (labctl reset {data['lab']} --to NAME): {', '.join(data['snapshots'])}")
    console.print(
        "\n".join(
            [
                "connect: a SPICE viewer (remote-viewer URI) with the lab's password, "
                f"which `{data['password_shown_by']}` prints (root only); or the serial console",
                *lines,
                *boot_lines(data["nodes"]),
            ]
        ),
        highlight=False,
        markup=False,
    )


def boot_lines(nodes: list[dict[str, Any]]) -> list[str]:
    """How the nodes started, one line per path: restored from a template, or booted cold (and why)."""
    paths: dict[str, list[str]] = {}
    for node in nodes:
        if node.get("boot"):
            note = f" ({node['boot_note']})" if node.get("boot_note") else ""
            paths.setdefault(node["boot"], []).append(node["name"] + note)
    return [f"boot: {path}: {', '.join(names)}" for path, names in paths.items()]


def status(
    lab: Annotated[str | None, typer.Argument(help="Lab name; all running labs when omitted.")] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Per node: state, addresses and SPICE port."""
    found = labs.status(lab)
    if as_json:
        data = found.labs + [{"lab": name, "phase": "damaged", "nodes": []} for name in found.damaged]
        print_json(data[0] if lab is not None else sorted(data, key=lambda d: str(d["lab"])))
        return
    if not found.labs and not found.damaged:
        console.print("no lab is running")
    for one in found.labs:
        show_status(one)
    for name in found.damaged:
        err_console.print(
            f"lab {name}: its state is damaged; `labctl down {name}` removes the lab", highlight=False, markup=False
        )


def ls(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """The running labs."""
    rows = labs.ls()
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
    if command and command[0] == "--":
        command = command[1:]
    result = labs.exec_on(node, command, timeout)
    sys.stdout.write(result.stdout)
    sys.stderr.write(result.stderr)
    raise typer.Exit(result.exit_code)


def console_cmd(node: Annotated[str, typer.Argument(help="NODE or LAB/NODE")]) -> None:
    """Attach to a node's serial console (Ctrl-] leaves)."""
    where, attach = labs.console(node)
    err_console.print(f"connecting to {where}; Ctrl-] to leave", highlight=False, markup=False)
    attach()


def desktop_cmd(
    node: Annotated[str, typer.Argument(help="NODE or LAB/NODE")],
    print_only: Annotated[bool, typer.Option("--print", help="Only say how to connect; open nothing.")] = False,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Open a node's SPICE display in remote-viewer with the lab's password (root), until its window
    closes; where no window can open, print its URI and the ssh tunnel that reaches it."""
    found = desktops.find_desktop(node)
    if as_json:
        print_json(found.to_dict())
        return
    if found.viewer is not None and not print_only:
        opening = f"opening {found.lab}/{found.node} ({found.uri}) in {found.viewer}"
        code = desktops.open_desktop(found, lambda: err_console.print(opening, highlight=False, markup=False))
        raise typer.Exit(code)
    why = "" if print_only else f"not opened here: {found.why_not}\n"
    console.print(
        f"{why}{found.lab}/{found.node}: {found.uri} (listens on this host's 127.0.0.1 only)\n"
        f"from another machine: {found.tunnel}\n"
        f"  then: remote-viewer {found.uri}, with the password `labctl secrets {found.lab}` prints (root)",
        highlight=False,
        markup=False,
    )


def web_cmd(
    lab: LabArg,
    port: Annotated[int, typer.Option("--port", help="Port on 127.0.0.1 (0: a free one).")] = 0,
) -> None:
    """Serve the lab in a browser on 127.0.0.1 (root): its picture, its nodes, the last demo's
    verdicts, and each node's desktop (spice-html5). Ctrl-C stops it."""
    with web.serving(lab, port) as site:
        console.print(
            f"lab {site.state.lab} at {site.url}\n"
            "  (127.0.0.1 only; from another machine: "
            f"ssh -N -L {site.page_port}:127.0.0.1:{site.page_port} -L {site.ws_port}:127.0.0.1:{site.ws_port} ...)\n"
            "Ctrl-C stops it",
            highlight=False,
            markup=False,
        )
        sys.stdout.flush()  # a script reading the URL from a pipe gets it now
        previous = signal.signal(signal.SIGTERM, _interrupt)  # a SIGTERM stops websockify too
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            err_console.print("stopped", highlight=False, markup=False)
        finally:
            signal.signal(signal.SIGTERM, previous)


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def reconfigure(lab: LabArg) -> None:
    """Push every node's configuration again (idempotent)."""
    labs.reconfigure(lab, PhaseReporter())


def secrets(
    lab: LabArg,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Print a lab's passwords (SPICE, root in every node, LDAP...); root only."""
    found = labs.secrets(lab)
    if as_json:
        print_json({"lab": found.lab, "secrets": found.values, "missing": found.missing})
        return
    for name, value in found.values.items():
        console.print(f"{name:<16} {value}", highlight=False, markup=False)
    if found.missing:
        err_console.print(
            f"lab {found.lab} has no {', '.join(found.missing)} (not made by `up` yet, or removed)",
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
    app.command("desktop")(desktop_cmd)
    app.command("web")(web_cmd)
    app.command()(reconfigure)
    app.command()(secrets)
