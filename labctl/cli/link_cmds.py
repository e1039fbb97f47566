"""link: take links and LAN attachments down or up, and impair them with netem."""

from __future__ import annotations

from typing import Annotated

import typer

from labctl.backends.registry import backend_for
from labctl.cli.lab_cmds import resolve_node
from labctl.cli.output import console
from labctl.compile.plan import NetemPlan
from labctl.errors import LabctlError
from labctl.lab.links import attachments
from labctl.state import LabState, saved_plan

link_app = typer.Typer(help="Fail and impair links (A B) or LAN attachments (NODE LAN).", no_args_is_help=True)
First = Annotated[str, typer.Argument(help="A node (or LAB/NODE).")]
Second = Annotated[str, typer.Argument(help="The node at the other end of a link, or a LAN.")]


def _resolve(first: str, second: str) -> tuple[LabState, list[tuple[str, str]]]:
    state, node = resolve_node(first)
    return state, attachments(saved_plan(state), node, second)


def _set_state(first: str, second: str, up: bool) -> None:
    state, ends = _resolve(first, second)
    backend = backend_for(state)
    for node, iface in ends:
        backend.set_link(state, node, iface, up)
        if up and [node, iface] in state.links_down:
            state.links_down.remove([node, iface])
        elif not up and [node, iface] not in state.links_down:
            state.links_down.append([node, iface])
    state.save()
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
    from labctl.topology.schema import netem_problem

    for name, value in (("delay", delay), ("jitter", jitter), ("loss", loss)):
        problem = netem_problem(name, value) if value is not None else None
        if problem is not None:  # the same rules (and 60 s limit) as a topology's links and LANs
            raise LabctlError(f"--{name}: {problem}")
    if jitter and not delay:
        raise LabctlError("--jitter needs --delay as well")
    netem = None if clear or not (delay or loss) else NetemPlan(delay=delay, jitter=jitter, loss=loss)
    state, ends = _resolve(first, second)
    backend = backend_for(state)
    for node, iface in ends:
        backend.set_netem(state, node, iface, netem)
    console.print(f"{first} {second}: {'cleared' if netem is None else netem}")


def register(app: typer.Typer) -> None:
    app.add_typer(link_app, name="link")
