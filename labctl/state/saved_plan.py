"""Rebuild the LabPlan saved in a lab's state, so later commands act on what was deployed
even if the topology file has changed since."""

from __future__ import annotations

import dataclasses
import types
import typing
from typing import Any

from labctl.compile.plan import PLAN_FORMAT, LabPlan
from labctl.errors import LabctlError
from labctl.state.formats import check_format
from labctl.state.lab_state import LabState


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


def saved_plan(state: LabState) -> LabPlan:
    what = f"the plan saved in lab '{state.lab}'"
    try:
        check_format(what, state.plan.get("format"), PLAN_FORMAT)
    except ValueError as exc:
        raise LabctlError(f"{what} is damaged ({exc}); `labctl down {state.lab}` removes the lab") from None
    plan = _build(LabPlan, state.plan)
    assert isinstance(plan, LabPlan)
    return plan
