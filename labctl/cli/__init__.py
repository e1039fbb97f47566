"""The labctl command line: a Typer app whose verbs live in one small module per group."""

from __future__ import annotations

import os
import sys
import traceback
from typing import Annotated

import typer

from labctl.cli import (
    bundle_cmds,
    capture_cmds,
    demo_cmds,
    host_cmds,
    image_cmds,
    lab_cmds,
    link_cmds,
    render_cmds,
    snapshot_cmds,
    topology_cmds,
)
from labctl.cli.output import err_console, literal
from labctl.errors import LabctlError

DEBUG_VAR = "LABCTL_DEBUG"

app = typer.Typer(
    name="labctl",
    help="Scriptable virtual labs: YAML topology in, verified QEMU/KVM lab out.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
topology_cmds.register(app)
host_cmds.register(app)
lab_cmds.register(app)
image_cmds.register(app)
demo_cmds.register(app)
link_cmds.register(app)
capture_cmds.register(app)
render_cmds.register(app)
bundle_cmds.register(app)
snapshot_cmds.register(app)

_debug = False


@app.callback()
def options(
    debug: Annotated[
        bool, typer.Option("--debug", help=f"Show the traceback of an unexpected error (or {DEBUG_VAR}=1).")
    ] = False,
) -> None:
    """Scriptable virtual labs: YAML topology in, verified QEMU/KVM lab out."""
    global _debug
    _debug = debug


def command_name(argv: list[str]) -> str:
    """`labctl plan`, `labctl image build`: the verb that ran, for the one-line report of a crash."""
    groups = {info.name for info in app.registered_groups}
    words: list[str] = []
    for arg in argv:
        if arg.startswith("-"):
            continue
        words.append(arg)
        if arg not in groups:
            break
    return " ".join(["labctl", *words])


def _debugging() -> bool:
    return _debug or os.environ.get(DEBUG_VAR, "").strip().lower() in ("1", "true", "yes", "on")


def main() -> None:
    try:
        app()
    except LabctlError as exc:
        for line in exc.lines():
            err_console.print(f"[red]error:[/red] {literal(line)}", highlight=False, soft_wrap=True)
        sys.exit(1)
    except KeyboardInterrupt:
        err_console.print("[red]interrupted[/red]")
        sys.exit(130)
    except Exception as exc:  # the safety net: any bug still ends in one line, not a traceback
        if _debugging():
            traceback.print_exc()
        detail = literal(f"{type(exc).__name__}: {exc}".splitlines()[0] if str(exc) else type(exc).__name__)
        err_console.print(
            f"[red]error:[/red] {literal(command_name(sys.argv[1:]))} failed unexpectedly: {detail} "
            "(run with --debug for the traceback)",
            highlight=False,
            soft_wrap=True,
        )
        sys.exit(1)
