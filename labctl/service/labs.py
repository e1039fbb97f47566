"""Running labs: bring one up, take it down, inspect it, act on its nodes.

Every verb takes names as a person types them (a lab name or its topology's path, NODE or
LAB/NODE), checks them before use, and reports progress through a Listener."""

from __future__ import annotations

import os
import shlex
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from labctl.backends.base import SPICE_SECRET, Backend, ExecResult
from labctl.backends.registry import DEFAULT_BACKEND, backend_for, create_backend
from labctl.compile.plan import LabPlan
from labctl.errors import LabctlError
from labctl.images import ImageArtifacts
from labctl.lab import lifecycle
from labctl.lab.configure import check_renders
from labctl.paths import data_dir, demo_reference, resolve_named
from labctl.service import topologies
from labctl.service.events import QUIET, Listener
from labctl.service.images import build_images
from labctl.state import (
    LabState,
    check_lab_name,
    check_node_name,
    lab_exists,
    lab_folder,
    lab_folders,
    load_state,
    read_secrets,
    running_labs,
)
from labctl.state.lab_record import save_images, save_sources
from labctl.state.saved_plan import plan_from_dict
from labctl.state.snapshots import list_snapshots
from labctl.suggest import did_you_mean

__all__ = [
    "LabState",
    "Launched",
    "Removed",
    "Secrets",
    "Statuses",
    "console",
    "down",
    "down_all",
    "exec_on",
    "lab_name",
    "leftovers",
    "ls",
    "readable_states",
    "reconfigure",
    "require_state",
    "resolve_node",
    "secrets",
    "status",
    "status_data",
    "up",
]


def lab_name(name_or_path: str) -> str:
    """Accept a lab name or the topology file that defines it; anything else is refused before use."""
    if "/" in name_or_path or name_or_path.endswith((".yaml", ".yml")):
        if not os.path.isfile(name_or_path):
            raise LabctlError(f"{name_or_path!r} is not a lab name, and no topology file has that path")
        return check_lab_name(topologies.load(name_or_path).name)
    return check_lab_name(name_or_path)


def _running_hint(lab: str) -> str:
    running = running_labs()
    return did_you_mean(lab, running) or (f" (running: {', '.join(running)})" if running else " (no lab is running)")


def require_state(lab: str) -> LabState:
    """The state of a running lab, by name or topology path."""
    name = lab_name(lab)
    state = load_state(name)
    if state is None:
        raise LabctlError(f"lab '{name}' is not running{_running_hint(name)}")
    return state


def readable_states() -> tuple[list[LabState], list[str]]:
    """The state of every running lab, and the names of those whose state is damaged (skipped, so
    that one broken lab does not stop commands aimed at the others; `ls` lists them too)."""
    states, damaged = [], []
    for lab in running_labs():
        try:
            state = load_state(lab)
        except LabctlError:
            damaged.append(lab)
            continue
        if state is not None:
            states.append(state)
    return states, damaged


def resolve_node(ref: str) -> tuple[LabState, str]:
    """NODE or LAB/NODE -> (state, node)."""
    if "/" in ref:
        lab, node = ref.split("/", 1)
        state = require_state(check_lab_name(lab))
        if check_node_name(node) not in state.nodes:
            hint = did_you_mean(node, state.nodes) or f" (nodes: {', '.join(sorted(state.nodes))})"
            raise LabctlError(f"lab '{state.lab}' has no node '{node}'{hint}")
        return state, node
    check_node_name(ref)
    states, damaged = readable_states()
    found = [s for s in states if ref in s.nodes]
    if not found:
        skipped = f" (not searched, state damaged: {', '.join(damaged)})" if damaged else ""
        raise LabctlError(f"no running lab has a node '{ref}'{skipped}")
    if len(found) > 1:
        raise LabctlError(f"node '{ref}' exists in labs {', '.join(s.lab for s in found)}; say LAB/{ref}")
    return found[0], ref


# -- up and down ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Launched:
    """A lab that `up` brought up, and the demo that proves it (a name or a path), if any."""

    state: LabState
    plan: LabPlan
    demo: str | None
    seconds: float


def up(
    topology: str,
    listener: Listener = QUIET,
    keep_on_failure: bool = False,
    backend: str = DEFAULT_BACKEND,
    name: str | None = None,
    images: dict[str, ImageArtifacts] | None = None,
    disks: dict[str, Path] | None = None,
    cold: bool = False,
) -> Launched:
    """Build what is missing, boot every node, configure it. Everything a person could get wrong
    (the topology, its demo, images, host limits) is refused before the first image is built.
    `name` runs the lab under another name than its topology's, `images` gives images already at
    hand instead of building them, `disks` the saved disks some nodes boot from (a replay), and
    `cold` boots every node from scratch instead of restoring it from a booted template."""
    start = time.monotonic()
    topo, plan = topologies.load_runnable(topology, name)
    check_renders(plan)  # a wrong template or recipe too (file:line), in a moment, before any image build
    given = images or {}
    images = {**build_images({n.image for n in plan.nodes} - set(given), listener), **given}
    chosen = create_backend(backend, images, disks, cold)
    with listener.live(f"bringing up {plan.lab}"):
        result = lifecycle.up(
            chosen, plan, str(topo.source), listener.event, listener.phase, keep_on_failure=keep_on_failure
        )
    demo = demo_reference(plan.demo, topo.source) if plan.demo else None
    demo_file = load_demo_path(demo) if demo else None
    save_sources(result.state, topo.source, demo_file, plan.demo, data_dir("vm-recipes"))
    save_images(result.state, {name: artifacts.manifest for name, artifacts in images.items()})
    listener.phase(f"lab {plan.lab} is up")
    return Launched(result.state, plan, demo, time.monotonic() - start)


def load_demo_path(demo: str) -> Path:
    """The file of a demo a topology names (a name in demos/, or a path)."""
    return resolve_named("demo", "demos", demo)


@dataclass(frozen=True)
class Removed:
    lab: str
    removed: list[str] = field(default_factory=list)
    error: str | None = None


def down(lab: str, listener: Listener = QUIET, missing_ok: bool = False) -> Removed:
    """Remove every VM, bridge, overlay and state file of a lab; safe to repeat, works after a crash.
    A lab that does not exist (nothing recorded, nothing found) is an error unless `missing_ok`."""
    name = lab_name(lab)
    result = _remove(name, listener)
    if not result.removed and not missing_ok:
        raise LabctlError(f"lab '{name}' does not exist{_running_hint(name)}")
    return result


def down_all(listener: Listener = QUIET) -> list[Removed]:
    """Remove every lab in the state folder; a lab that cannot be removed is reported, the others go."""
    results = []
    for name in lab_folders():
        try:
            results.append(_remove(name, listener))
        except LabctlError as exc:
            results.append(Removed(name, error=str(exc)))
    return results


def _remove(name: str, listener: Listener) -> Removed:
    existed = lab_exists(name)
    removed = lifecycle.down(create_backend(_backend_name(name)), name, listener.event)
    if existed:
        removed.append(f"state folder {lab_folder(name)}")
    return Removed(name, removed)


def _backend_name(lab: str) -> str:
    """The backend a lab was made with; the default one for a lab whose state is gone or damaged
    (it still finds the lab's objects by their labels)."""
    try:
        state = load_state(lab)
    except LabctlError:
        return DEFAULT_BACKEND
    return state.backend if state is not None else DEFAULT_BACKEND


def leftovers(topology: str | LabPlan | dict[str, Any], backend: str = DEFAULT_BACKEND) -> list[str]:
    """Whatever of a lab is still on the host (domains, bridges, taps, its state folder): nothing,
    after `down`. The lab is named by its topology, its plan, or its plan as JSON (`plan --json`)."""
    if isinstance(topology, str):
        plan = topologies.load_plan(topology)
    elif isinstance(topology, dict):
        plan = plan_from_dict("the plan", topology)
    else:
        plan = topology
    found = create_backend(backend).leftovers(plan)
    if lab_exists(plan.lab):
        found.append(f"state folder {lab_folder(plan.lab)}")
    return found


# -- looking at labs --------------------------------------------------------------------------


def status_data(state: LabState, backend: Backend | None = None) -> dict[str, Any]:
    chosen = backend or backend_for(state)
    nodes = []
    for node in state.plan["nodes"]:
        info = chosen.node_info(state, node["name"])
        nodes.append(
            {
                "name": node["name"],
                "roles": node["roles"],
                "state": info.status,
                "address": node["address"],
                "interfaces": {i["name"]: i["address"] for i in node["interfaces"]},
                "spice": info.display,
                "display": "desktop" if node.get("desktop") else "text console",  # what the SPICE screen shows
                "console": f"labctl console {state.lab}/{node['name']}",
                **info.details,
            }
        )
    return {
        "lab": state.lab,
        "phase": state.phase,
        "accel": state.accel,
        "topology": state.topology,
        "nodes": nodes,
        "snapshots": [s.name for s in list_snapshots(state.lab) if s.record is not None],
        "password_shown_by": f"labctl secrets {state.lab}",
    }


@dataclass(frozen=True)
class Statuses:
    labs: list[dict[str, Any]]
    damaged: list[str]  # labs whose state cannot be read; `down` removes them


def status(lab: str | None = None) -> Statuses:
    """Per node of one lab (or of every running lab): state, addresses, display, console."""
    if lab is not None:
        return Statuses([status_data(require_state(lab))], [])
    states, damaged = readable_states()
    return Statuses([status_data(s) for s in states], damaged)


def ls() -> list[dict[str, Any]]:
    """One row per running lab (a damaged one too, so that `down` can be found for it)."""
    states, damaged = readable_states()
    rows: list[dict[str, Any]] = [
        {
            "lab": state.lab,
            "phase": state.phase,
            "nodes": len(state.nodes),
            "accel": state.accel,
            "topology": state.topology,
            "started": time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(state.started)),
        }
        for state in states
    ]
    rows += [{"lab": n, "phase": "damaged", "nodes": 0, "accel": "-", "topology": "-", "started": "-"} for n in damaged]
    return sorted(rows, key=lambda row: str(row["lab"]))


# -- acting on nodes --------------------------------------------------------------------------


def exec_on(node: str, argv: list[str], timeout: float) -> ExecResult:
    """Run a command (argv, quoted for the guest's shell) on NODE or LAB/NODE."""
    if not argv:
        raise LabctlError("no command given: labctl exec NODE -- CMD...")
    state, name = resolve_node(node)
    return backend_for(state).exec(state, name, shlex.join(argv), timeout)


def console(node: str) -> tuple[str, Callable[[], None]]:
    """(LAB/NODE, attach): attach() hands the terminal to the node's serial console."""
    state, name = resolve_node(node)
    backend = backend_for(state)
    return f"{state.lab}/{name}", lambda: backend.console(state, name)


def reconfigure(lab: str, listener: Listener = QUIET) -> LabState:
    """Push every node's configuration again (idempotent)."""
    state = require_state(lab)
    lifecycle.reconfigure(backend_for(state), state, listener.event)
    listener.phase(f"lab {state.lab} reconfigured")
    return state


EXPECTED_SECRETS = (SPICE_SECRET, "root_password")  # every lab's `up` makes these


@dataclass(frozen=True)
class Secrets:
    lab: str
    values: dict[str, str]
    missing: list[str]  # expected, but not (or no longer) in the lab's secrets


def secrets(lab: str) -> Secrets:
    """A lab's passwords, read only: a secret the lab never made is reported, not invented. Root only."""
    if os.geteuid() != 0:
        raise LabctlError("`labctl secrets` prints the lab's passwords and is for root only; run it with sudo")
    state = require_state(lab)
    data = read_secrets(state.lab)
    return Secrets(state.lab, dict(sorted(data.items())), [n for n in EXPECTED_SECRETS if n not in data])
