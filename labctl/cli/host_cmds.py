"""host: prepare this machine (KVM probe, libvirtd)."""

from __future__ import annotations

from typing import Annotated

import typer

from labctl.cli.output import console, print_json
from labctl.service import host

host_app = typer.Typer(help="Prepare and inspect this host.", no_args_is_help=True)


@host_app.command("start")
def start(
    reprobe: Annotated[bool, typer.Option(help="Probe KVM again instead of using the cached verdict.")] = False,
) -> None:
    """Probe KVM, then make sure libvirtd runs (started by hand on hosts without systemd)."""
    started = host.start(reprobe)
    console.print(f"accelerator: {started.accelerator}", highlight=False)
    console.print(started.daemon, highlight=False)


@host_app.command("info")
def info(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """What labctl knows about this host."""
    data = host.info()
    if as_json:
        print_json(data)
        return
    for key, value in data.items():
        console.print(f"{key:<20} {value}", highlight=False)


def register(app: typer.Typer) -> None:
    app.add_typer(host_app, name="host")
