"""link: take links and LAN attachments down or up, and impair them with netem."""

from __future__ import annotations

from typing import Annotated

import typer

from labctl.cli.output import console
from labctl.service import links

link_app = typer.Typer(help="Fail and impair links (A B) or LAN attachments (NODE LAN).", no_args_is_help=True)
First = Annotated[str, typer.Argument(help="A node (or LAB/NODE).")]
Second = Annotated[str, typer.Argument(help="The node at the other end of a link, or a LAN.")]


def _set_state(first: str, second: str, up: bool) -> None:
    ends = links.set_link(first, second, up)
    console.print(f"{first} {second}: {'up' if up else 'down'} ({', '.join(f'{n}:{i}' for n, i in ends)})")


@link_app.command("down")
def down(first: First, second: Second) -> None:
    """Cut a link (both ends) or one node's LAN attachment."""
    _set_state(first, second, False)


@link_app.command("up")
def up(first: First, second: Second) -> None:
    """Restore a link or LAN attachment."""
    _set_state(first, second, True)


@link_app.command("set")
def set_netem(
    first: First,
    second: Second,
    delay: Annotated[str | None, typer.Option(help="e.g. 50ms")] = None,
    jitter: Annotated[str | None, typer.Option(help="e.g. 5ms (needs --delay)")] = None,
    loss: Annotated[str | None, typer.Option(help="e.g. 1%")] = None,
    clear: Annotated[bool, typer.Option(help="Remove every impairment.")] = False,
) -> None:
    """Impair traffic leaving each end (netem inside the nodes)."""
    netem = links.netem(delay, jitter, loss)
    if clear:
        netem = None
    links.set_netem(first, second, netem)
    console.print(f"{first} {second}: {'cleared' if netem is None else netem}")


def register(app: typer.Typer) -> None:
    app.add_typer(link_app, name="link")
