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
    merge_pages: Annotated[
        bool,
        typer.Option(
            "--ksm",
            help="Also start the kernel's same-page merging (KSM): nodes of one image share identical "
            "memory pages, at the cost of some CPU for the scanning.",
        ),
    ] = False,
) -> None:
    """Probe KVM, then make sure libvirtd runs (started by hand on hosts without systemd)."""
    started = host.start(reprobe, merge_pages)
    console.print(f"accelerator: {started.accelerator}", highlight=False)
    console.print(started.daemon, highlight=False)
    if started.ksm is not None:
        console.print(f"KSM is running ({started.ksm.saved_bytes >> 20} MiB merged so far)", highlight=False)


@host_app.command("info")
def info(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """What labctl knows about this host."""
    data = host.info()
    if as_json:
        print_json(data)
        return
    for key, value in data.items():
        for name, shown in value.items() if isinstance(value, dict) else [("", value)]:
            console.print(f"{key + ('_' + name if name else ''):<20} {shown}", highlight=False)


def register(app: typer.Typer) -> None:
    app.add_typer(host_app, name="host")
