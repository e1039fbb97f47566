"""snapshot, snapshots, reset: whole-lab snapshots of running labs."""

from __future__ import annotations

from typing import Annotated

import typer

from labctl.cli.output import console, print_json
from labctl.cli.progress import PhaseReporter
from labctl.service import snapshots

LabArg = Annotated[str, typer.Argument(help="Lab name (or its topology path).", metavar="LAB")]
JsonOpt = Annotated[bool, typer.Option("--json")]


def snapshot(
    lab: LabArg,
    name: Annotated[
        str | None, typer.Argument(help="Snapshot name (default: snap-N, the next free N).", metavar="NAME")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Save every node of a running lab (memory and disk) at one moment; `reset --to` goes back to it."""
    record = snapshots.take(lab, name, PhaseReporter(quiet=as_json))
    if as_json:
        print_json({"lab": record.lab, "snapshot": record.name, "nodes": record.nodes, "seconds": record.seconds})
        return
    count = len(record.nodes)
    console.print(
        f"lab {record.lab}: snapshot {record.name} ({count} node{'s' if count != 1 else ''}, {record.seconds:.1f} s)",
        highlight=False,
        markup=False,
    )


def reset(
    lab: LabArg,
    to: Annotated[str | None, typer.Option("--to", help="The snapshot to go back to.", metavar="NAME")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Bring every node of a lab back to the moment of one of its snapshots."""
    reporter = PhaseReporter(quiet=as_json)
    record = snapshots.reset(lab, to, reporter)
    if as_json:
        print_json({"lab": record.lab, "snapshot": record.name, "nodes": record.nodes})
        return
    console.print(f"lab {record.lab}: reset to snapshot {record.name}", highlight=False, markup=False)


def list_snapshots(lab: LabArg, as_json: JsonOpt = False) -> None:
    """The snapshots of a running lab."""
    rows = snapshots.listing(lab)
    if as_json:
        print_json(rows)
        return
    for row in rows:
        size = f"{row['bytes'] / 2**20:.0f} MiB"
        text = f"{row['created']}  {len(row['nodes'])} nodes" if row["complete"] else row["problem"]
        console.print(f"{row['name']:<20} {size:>9}  {text}", highlight=False, markup=False)
    if not rows:
        console.print("no snapshot")


def register(app: typer.Typer) -> None:
    app.command()(snapshot)
    app.command("snapshots")(list_snapshots)
    app.command()(reset)
