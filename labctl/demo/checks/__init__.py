"""Check types: each module registers a function (plan, params) -> probes."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypedDict

from labctl.compile.plan import LabPlan
from labctl.demo.model import Probe
from labctl.errors import LabctlError
from labctl.topology.suggest import unknown

CheckFactory = Callable[[LabPlan, "Params"], list[Probe]]
REGISTRY: dict[str, CheckFactory] = {}
COMMON = ("timeout", "interval")


class Timing(TypedDict):
    timeout: float
    interval: float


class Params:
    """A check's parameters, with unknown names refused and defaults applied."""

    def __init__(self, check: str, values: dict[str, Any], allowed: tuple[str, ...]) -> None:
        self.check = check
        self.values = values
        for name in values:
            if name not in allowed + COMMON:
                raise LabctlError(f"check {check}: " + unknown("parameter", name, allowed + COMMON))

    def get(self, name: str, default: Any = None) -> Any:
        return self.values.get(name, default)

    def timing(self, timeout: float, interval: float) -> Timing:
        """Probe timeout and retry interval, with the check's defaults unless the demo sets them."""
        return Timing(timeout=float(self.get("timeout", timeout)), interval=float(self.get("interval", interval)))

    def nodes(self, plan: LabPlan, name: str, default: list[str]) -> list[str]:
        value = self.values.get(name, default)
        names = [value] if isinstance(value, str) else list(value)
        known = [n.name for n in plan.nodes]
        for item in names:
            if item not in known:
                raise LabctlError(f"check {self.check}: " + unknown(f"node in '{name}'", item, known))
        return names


def register(name: str, params: tuple[str, ...]) -> Callable[[Callable[[LabPlan, Params], list[Probe]]], None]:
    def wrap(factory: Callable[[LabPlan, Params], list[Probe]]) -> None:
        REGISTRY[name] = lambda plan, p: factory(plan, Params(name, p.values, params))

    return wrap


def probes_for(check: str, plan: LabPlan, values: dict[str, Any]) -> list[Probe]:
    return REGISTRY[check](plan, Params(check, values, tuple(values)))


def check_types() -> tuple[str, ...]:
    from labctl.demo.checks import dns, ospf, ping, sip  # noqa: F401  (registration)

    return tuple(sorted(REGISTRY))
