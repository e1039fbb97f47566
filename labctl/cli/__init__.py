"""The labctl command line: a Typer app whose verbs live in one small module per group."""

from __future__ import annotations

import sys

import typer

from labctl.cli import host_cmds, topology_cmds
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


def main() -> None:
    try:
        app(standalone_mode=False)
    except LabctlError as exc:
        for line in exc.lines():
            err_console.print(f"[red]error:[/red] {line}", highlight=False, soft_wrap=True)
        sys.exit(1)
    except KeyboardInterrupt:
        err_console.print("[red]interrupted[/red]")
        sys.exit(130)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except typer.Abort:
        err_console.print("[red]aborted[/red]")
        sys.exit(1)
    except Exception as exc:  # click usage errors arrive here in non-standalone mode
        import click

        if isinstance(exc, click.ClickException):
            exc.show()
            sys.exit(exc.exit_code)
        raise
