"""Reading topologies: load, compile, check that `up` could run them, draw them."""

from __future__ import annotations

import dataclasses
from typing import Any

from labctl.compile import compile_topology
from labctl.compile.dot import plan_to_dot
from labctl.compile.plan import LabPlan
from labctl.errors import FileError
from labctl.paths import resolve_named
from labctl.service.runnable import Host, check_runnable
from labctl.service.shipped import Listed, shipped
from labctl.state import check_lab_name
from labctl.topology.model import Topology
from labctl.topology.schema import load_topology

REDACTED = "********"


def load(name_or_path: str) -> Topology:
    """A topology by name (topologies/NAME.yaml) or path, validated."""
    return load_topology(resolve_named("topology", "topologies", name_or_path))


def load_plan(name_or_path: str) -> LabPlan:
    return compile_topology(load(name_or_path))


def load_runnable(name_or_path: str, name: str | None = None) -> tuple[Topology, LabPlan]:
    """The topology and its plan, refused unless `up` could run it on this host (demo, images, size).
    `name` renames the lab (a valid lab name, or a one-line error)."""
    topo = load(name_or_path)
    if name is not None:
        topo = dataclasses.replace(topo, name=check_lab_name(name))
    plan = compile_topology(topo)
    check_runnable(topo, plan, Host.this())
    return topo, plan


def is_secret_key(key: str) -> bool:
    return key.lower().endswith(("password", "secret", "passwd", "token"))


def redact(value: Any) -> Any:
    """A copy of a plan's dict with every secret value (SIP passwords...) replaced by REDACTED."""
    if isinstance(value, dict):
        return {k: REDACTED if isinstance(k, str) and is_secret_key(k) else redact(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [redact(v) for v in value]
    return value


def plan_dict(plan: LabPlan, show_secrets: bool) -> dict[str, Any]:
    data = plan.to_dict()
    result: dict[str, Any] = data if show_secrets else redact(data)
    return result


def graph_dot(name_or_path: str) -> str:
    """The lab as Graphviz DOT."""
    return plan_to_dot(load_plan(name_or_path))


def shipped_topologies() -> list[Listed[Topology]]:
    return shipped("topologies", load_topology, FileError)
