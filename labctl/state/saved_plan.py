"""Rebuild the LabPlan saved in a lab's state, so later commands act on what was deployed
even if the topology file has changed since."""

from __future__ import annotations

import dataclasses
import types
import typing
from typing import Any

from labctl.compile.plan import PLAN_FORMAT, LabPlan
from labctl.state.formats import Migration, migrate
from labctl.state.lab_state import LabState, damaged


def _build(tp: Any, value: Any) -> Any:
    if value is None:
        return None
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        inner = [a for a in typing.get_args(tp) if a is not type(None)]
        return _build(inner[0], value)
    if origin is tuple:
        args = typing.get_args(tp)
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_build(args[0], v) for v in value)
        return tuple(_build(a, v) for a, v in zip(args, value, strict=True))
    if dataclasses.is_dataclass(tp) and isinstance(tp, type):
        hints = typing.get_type_hints(tp)
        return tp(**{f.name: _build(hints[f.name], value[f.name]) for f in dataclasses.fields(tp) if f.name in value})
    return value


def _plan_1_to_2(data: dict[str, Any]) -> dict[str, Any]:
    """Format 1 carried libvirt's host names (bridge and tap per interface, a bridge per segment);
    the libvirt backend derives the same names from the lab, segment, node and interface."""
    data["segments"] = [
        {"name": b["segment"], "kind": b["kind"], "subnet": b["subnet"], "members": b["members"]}
        for b in data.pop("bridges")
    ]
    for node in data["nodes"]:
        for interface in node["interfaces"]:
            del interface["bridge"], interface["tap"]
    return data


def _plan_2_to_3(data: dict[str, Any]) -> dict[str, Any]:
    """Format 3 records each SIP user's home server (the registrar its phone names, or none) and
    every address of each SIP server."""
    if data.get("sip"):
        nodes = {n["name"]: n for n in data["nodes"]}
        for server in data["sip"]["servers"]:
            node = nodes[server["node"]]
            server["addresses"] = list(
                dict.fromkeys([node["address"], *(i["address"].split("/")[0] for i in node["interfaces"])])
            )
        homes = {n["phone"]["user"]: n["phone"]["registrar"] for n in data["nodes"] if n.get("phone")}
        for account in data["sip"]["accounts"]:
            home = homes.get(account["user"])
            account["home"], account["home_fqdn"] = home, nodes[home]["fqdn"] if home in nodes else None
    return data


def _plan_3_to_4(data: dict[str, Any]) -> dict[str, Any]:
    """Format 4 says whether each node has a desktop: none had one before."""
    for node in data["nodes"]:
        node["desktop"] = None
    return data


PLAN_MIGRATIONS: dict[int, Migration] = {1: _plan_1_to_2, 2: _plan_2_to_3, 3: _plan_3_to_4}


def plan_from_dict(what: str, data: Any) -> LabPlan:
    """A saved plan (any format this labctl knows) as the current LabPlan; ValueError if damaged."""
    current = migrate(what, data, PLAN_FORMAT, PLAN_MIGRATIONS)
    try:
        plan = _build(LabPlan, current)
    except (KeyError, TypeError, AttributeError) as exc:
        raise ValueError(f"it does not have the expected shape ({exc!r})") from None
    assert isinstance(plan, LabPlan)
    return plan


def saved_plan(state: LabState) -> LabPlan:
    what = f"the plan saved in lab '{state.lab}'"
    try:
        return plan_from_dict(what, state.plan)
    except ValueError as exc:
        raise damaged(state.lab, what, exc) from None
