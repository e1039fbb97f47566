"""Fail, restore and impair links (A B) or LAN attachments (NODE LAN) of a running lab."""

from __future__ import annotations

from labctl.backends.registry import backend_for
from labctl.compile.plan import NetemPlan
from labctl.errors import LabctlError
from labctl.lab.links import attachments
from labctl.service.labs import resolve_node
from labctl.state import LabState
from labctl.state.saved_plan import saved_plan
from labctl.topology.schema import netem_problem

Ends = list[tuple[str, str]]
"""(node, interface) pairs: both ends of a link, or one node's port on a LAN."""


def _resolve(first: str, second: str) -> tuple[LabState, Ends]:
    state, node = resolve_node(first)
    return state, attachments(saved_plan(state), node, second)


def set_link(first: str, second: str, up: bool) -> Ends:
    """Take a link (both ends) or a LAN attachment down or up; the lab's state remembers what is
    down, so that demos judge the lab as it is."""
    state, ends = _resolve(first, second)
    backend = backend_for(state)
    for node, iface in ends:
        backend.set_link(state, node, iface, up)
        if up and [node, iface] in state.links_down:
            state.links_down.remove([node, iface])
        elif not up and [node, iface] not in state.links_down:
            state.links_down.append([node, iface])
    state.save()
    return ends


def netem(delay: str | None, jitter: str | None, loss: str | None) -> NetemPlan | None:
    """The impairment asked for, checked by the same rules (and 60 s limit) as a topology's; None clears."""
    for name, value in (("delay", delay), ("jitter", jitter), ("loss", loss)):
        problem = netem_problem(name, value) if value is not None else None
        if problem is not None:
            raise LabctlError(f"--{name}: {problem}")
    if jitter and not delay:
        raise LabctlError("--jitter needs --delay as well")
    return NetemPlan(delay=delay, jitter=jitter, loss=loss) if delay or loss else None


def set_netem(first: str, second: str, impairment: NetemPlan | None) -> Ends:
    """Impair (or, with None, clear) traffic leaving each end (netem inside the nodes)."""
    state, ends = _resolve(first, second)
    backend = backend_for(state)
    for node, iface in ends:
        backend.set_netem(state, node, iface, impairment)
    return ends
