"""image: build, list and remove cached Debian images."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from labctl.cli.output import console, print_json
from labctl.cli.progress import PhaseReporter
from labctl.service import images

image_app = typer.Typer(help="Build and manage node images.", no_args_is_help=True)


@image_app.command("build")
def build(
    name: Annotated[str, typer.Argument(help="Image recipe in vm-recipes/images/.")] = "debian12-lab",
    rebuild: Annotated[bool, typer.Option(help="Build even if the cache has these inputs.")] = False,
) -> None:
    """Build an image (mmdebstrap -> ext4 -> qcow2) unless its inputs are already cached."""
    artifacts = images.build_image(name, PhaseReporter(), rebuild)
    console.print(f"{artifacts.name} {artifacts.digest[:12]} {artifacts.disk}", highlight=False)


@image_app.command("list")
def list_cmd(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Images in the cache."""
    cached = images.list_images()
    if as_json:
        print_json(
            [
                {
                    "name": i.name,
                    "digest": i.digest,
                    "folder": str(i.folder),
                    "size_bytes": i.size_bytes,
                    "built": i.built,
                    "current": i.current,
                    "damaged": i.damaged,
                    "freeswitch": list(i.freeswitch),  # "<source> <commit>" of a FreeSWITCH built from source
                }
                for i in cached
            ]
        )
        return
    table = Table("image", "digest", "size", "built", "current")
    for i in cached:
        state = "damaged (image rm removes it)" if i.damaged else "yes" if i.current else "stale"
        table.add_row(escape(i.name), escape(i.digest[:12]), f"{i.size_bytes / 2**20:.0f} MiB", escape(i.built), state)
    console.print(table)
    for i in cached:  # below the table: three commits would not fit in a column of an 80-column terminal
        if i.freeswitch:
            sources = ", ".join(_short_commit(s) for s in i.freeswitch)
            console.print(
                f"{escape(i.name)} {escape(i.digest[:12])}: FreeSWITCH built from {escape(sources)}", highlight=False
            )


def _short_commit(source: str) -> str:
    """`freeswitch <40 hex digits>` -> `freeswitch <12 hex digits>`; the JSON keeps the full commit."""
    name, _, commit = source.rpartition(" ")
    return f"{name} {commit[:12]}" if name else source


@image_app.command("rm")
def rm(
    name: Annotated[str | None, typer.Argument(help="Remove only this image's builds.")] = None,
    stale: Annotated[bool, typer.Option(help="Keep the build matching today's recipe.")] = False,
) -> None:
    """Remove cached images."""
    for folder in images.remove_images(name, stale):
        console.print(f"removed {folder}", highlight=False)


def register(app: typer.Typer) -> None:
    app.add_typer(image_app, name="image")
