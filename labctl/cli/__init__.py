"""The labctl command line: a Typer app whose verbs live in one small module per group."""

from __future__ import annotations

import sys

import typer
from rich.markup import escape

from labctl.cli import demo_cmds, host_cmds, image_cmds, lab_cmds, link_cmds, topology_cmds
from labctl.cli.output import err_console
from labctl.errors import LabctlError

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


def main() -> None:
    try:
        app()
    except LabctlError as exc:
        for line in exc.lines():
            err_console.print(f"[red]error:[/red] {escape(line)}", highlight=False, soft_wrap=True)
        sys.exit(1)
    except KeyboardInterrupt:
        err_console.print("[red]interrupted[/red]")
        sys.exit(130)
