"""Check types: each module registers a function (plan, params) -> probes.

A factory reads its parameters only through Params' typed getters, so a demo with a wrong value
is refused with one line (the demo's file:line is added by labctl.demo.spec.validate_demo)
before anything runs, never with a traceback or a check that cannot fail.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable
from typing import Any, TypedDict

from labctl.compile.plan import LabPlan
from labctl.demo.model import Probe
from labctl.errors import LabctlError
from labctl.suggest import unknown

CheckFactory = Callable[[LabPlan, "Params"], list[Probe]]
REGISTRY: dict[str, CheckFactory] = {}
COMMON = ("timeout", "interval")
TIMEOUT_RANGE = (1.0, 3600.0)
INTERVAL_RANGE = (0.1, 600.0)  # zero or negative would busy-loop the retries


class Timing(TypedDict):
    timeout: float
    interval: float


def _shown(value: object) -> str:
    text = repr(value) if not isinstance(value, str) else f"'{value}'"
    return text if len(text) <= 40 else text[:37] + "..."


def _number(value: float) -> str:
    return f"{value:g}"


class Params:
    """A check's parameters, with unknown names refused, defaults applied and types checked."""

    def __init__(self, check: str, values: dict[str, Any], allowed: tuple[str, ...]) -> None:
        self.check = check
        self.values = values
        for name in values:
            if name not in allowed + COMMON:
                raise LabctlError(f"check {check}: " + unknown("parameter", name, allowed + COMMON))

    def error(self, message: str) -> LabctlError:
        return LabctlError(f"check {self.check}: {message}")

    def get(self, name: str, default: Any = None) -> Any:
        """The raw value; factories should prefer the typed getters below."""
        return self.values.get(name, default)

    def number(self, name: str, default: float, low: float, high: float) -> float:
        """A finite number with low <= value <= high (YAML may give an int, a float or a string)."""
        value = self.values.get(name, default)
        number: float | None = None
        if isinstance(value, int | float) and not isinstance(value, bool):
            number = float(value)
        if number is None or not math.isfinite(number) or not low <= number <= high:
            raise self.error(f"'{name}' must be a number from {_number(low)} to {_number(high)}, not {_shown(value)}")
        return number

    def string(self, name: str, default: str | None = None, pattern: str | None = None, what: str = "") -> str:
        """A non-empty string (required when there is no default), fully matching `pattern` if given."""
        value = self.values.get(name, default)
        if value is None:
            raise self.error(f"needs '{name}'")
        if not isinstance(value, str) or not value:
            raise self.error(f"'{name}' must be {what or 'a non-empty string'}, not {_shown(value)}")
        if pattern is not None and not re.fullmatch(pattern, value):
            raise self.error(f"'{name}' must be {what or 'a string matching ' + pattern}, not {_shown(value)}")
        return value

    def choice(self, name: str, default: str, options: Iterable[str]) -> str:
        """One string of `options`."""
        options = tuple(options)
        value = self.values.get(name, default)
        if not isinstance(value, str) or value not in options:
            raise self.error(f"'{name}' must be one of {', '.join(options)}, not {_shown(value)}")
        return value

    def timing(self, timeout: float, interval: float) -> Timing:
        """Probe timeout and retry interval, with the check's defaults unless the demo sets them."""
        return Timing(
            timeout=self.number("timeout", timeout, *TIMEOUT_RANGE),
            interval=self.number("interval", interval, *INTERVAL_RANGE),
        )

    def nodes(self, plan: LabPlan, name: str, default: list[str]) -> list[str]:
        """A node name or a list of them, each a node of the plan. An explicit empty list is refused:
        a check over nothing proves nothing."""
        value = self.values.get(name, default)
        names = [value] if isinstance(value, str) else value
        if not isinstance(names, list) or not all(isinstance(item, str) for item in names):
            raise self.error(f"'{name}' must be a node name or a list of node names, not {_shown(value)}")
        if name in self.values and not names:
            raise self.error(f"'{name}' is empty: nothing to check")
        known = [n.name for n in plan.nodes]
        for item in names:
            if item not in known:
                raise self.error(unknown(f"node in '{name}'", item, known))
        return list(names)

    def node(self, plan: LabPlan, name: str, default: str | None = None) -> str:
        """Exactly one node of the plan (required when there is no default)."""
        if name not in self.values and default is None:
            raise self.error(f"needs '{name}'")
        value = self.values.get(name, default)
        if not isinstance(value, str):
            raise self.error(f"'{name}' must be one node name, not {_shown(value)}")
        return self.nodes(plan, name, [value])[0]


def register(name: str, params: tuple[str, ...]) -> Callable[[CheckFactory], CheckFactory]:
    """Register `factory` as check type `name` taking `params` (plus COMMON); returns it unchanged."""

    def wrap(factory: CheckFactory) -> CheckFactory:
        REGISTRY[name] = lambda plan, p: factory(plan, Params(name, p.values, params))
        return factory

    return wrap


def probes_for(check: str, plan: LabPlan, values: dict[str, Any]) -> list[Probe]:
    return REGISTRY[check](plan, Params(check, values, tuple(str(k) for k in values)))


def check_types() -> tuple[str, ...]:
    from labctl.demo.checks import desktop, dns, ospf, ping, sip  # noqa: F401  (registration)

    return tuple(sorted(REGISTRY))
