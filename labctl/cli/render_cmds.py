"""render: write what `up` would push to every node of a topology, with no VM and no root."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from labctl.cli.output import console, err_console, literal, print_json
from labctl.cli.topology_cmds import TopologyArg
from labctl.service import rendering


def render(
    topology: TopologyArg,
    output: Annotated[Path, typer.Option("-o", "--output", help="Folder to write (new or empty).")],
    force: Annotated[
        bool, typer.Option("--force", help="Write into a folder that is not empty (overwrites, deletes nothing).")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print a summary as JSON.")] = False,
) -> None:
    """Render every node's files, commands and probes into OUTPUT/<node>/ (files/ and steps.json)."""
    summary = rendering.render(topology, output, force)
    if summary.placeholders:
        err_console.print(
            f"lab {summary.lab} is not running here: secrets {', '.join(summary.placeholders)} are "
            "placeholders (placeholder-<name>), not a lab's",
            highlight=False,
            markup=False,
        )
    if as_json:
        print_json(summary.to_dict())
        return
    files = sum(summary.files.values())
    console.print(
        f"wrote {files} files for {len(summary.files)} nodes of lab {summary.lab} into {literal(output)}",
        highlight=False,
    )


def register(app: typer.Typer) -> None:
    app.command()(render)
