"""Demo definitions: demos/<name>.yaml, a list of checks, each `- <check type>: {params}`."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from labctl.compile.plan import LabPlan
from labctl.demo.checks import check_types, probes_for
from labctl.demo.model import Probe
from labctl.errors import DemoError, LabctlError, Problem
from labctl.paths import resolve_named
from labctl.suggest import quoted, unknown
from labctl.topology.schema import RECIPE_NAME
from labctl.versions import FORMAT_KEY, Migration
from labctl.yamlsource import check_version, load_yaml

DEMO_FORMAT = 1
"""The demo format this labctl writes and reads (`format:` at the top; none means 1)."""
DEMO_MIGRATIONS: dict[int, Migration] = {}
"""n -> the function that turns a format-n demo mapping into format n+1 (none yet)."""
DEMO_KEYS = (FORMAT_KEY, "name", "description", "checks")


@dataclass(frozen=True)
class CheckSpec:
    type: str
    params: dict[str, Any]
    line: int


@dataclass(frozen=True)
class DemoSpec:
    name: str
    description: str
    checks: tuple[CheckSpec, ...]
    source: Path


NAME_RULE = "must be a lowercase letter, then up to 63 letters, digits or '-'"


def _shown(value: Any) -> str:
    return "empty" if value is None or value == "" else quoted(value)


def load_demo(name_or_path: str, check_types: tuple[str, ...]) -> DemoSpec:
    path = resolve_named("demo", "demos", name_or_path)
    doc = check_version(load_yaml(path), "this demo", DEMO_FORMAT, DEMO_MIGRATIONS, DemoError)
    problems: list[Problem] = []
    spec = doc.value if isinstance(doc.value, dict) else {}
    if not isinstance(doc.value, dict) or not isinstance(spec.get("checks"), list):
        raise DemoError([Problem(path, 1, "a demo is a mapping with a 'checks' list")])
    for key in spec:
        if key not in DEMO_KEYS:
            problems.append(Problem(path, doc.line((key,)), unknown("key in demo", key, DEMO_KEYS)))
    name = spec.get("name", path.stem)
    if "name" in spec and not (isinstance(name, str) and RECIPE_NAME.fullmatch(name)):
        problems.append(Problem(path, doc.line(("name",)), f"demo name {_shown(name)} {NAME_RULE}"))
    checks = []
    for i, entry in enumerate(spec["checks"]):
        line = doc.line(("checks", i))
        if not isinstance(entry, dict) or len(entry) != 1:
            problems.append(Problem(path, line, "each check is one mapping: `- <check type>: {parameters}`"))
            continue
        ((kind, params),) = entry.items()
        if kind not in check_types:
            problems.append(Problem(path, line, unknown("check type", kind, check_types)))
            continue
        if params is not None and not isinstance(params, dict):
            problems.append(Problem(path, line, f"parameters of {kind} must be a mapping"))
            continue
        checks.append(CheckSpec(type=kind, params=params or {}, line=line))
    if problems:
        raise DemoError(problems)
    return DemoSpec(
        name=str(name),
        description=str(spec.get("description", "")),
        checks=tuple(checks),
        source=path,
    )


def validate_demo(demo: DemoSpec, plan: LabPlan) -> list[list[Probe]]:
    """Expand every check of `demo` against `plan`, without a lab: the probes of each check, in order.

    Pure (no I/O), so `labctl validate` can run it. Every check whose parameters are wrong, or that
    expands to nothing to check, is a Problem at the check's line; all are raised together.
    """
    check_types()
    problems: list[Problem] = []
    expanded: list[list[Probe]] = []
    if not demo.checks:
        problems.append(Problem(demo.source, 1, "the demo has no checks: it would prove nothing"))
    for check in demo.checks:
        try:
            probes = probes_for(check.type, plan, check.params)
        except LabctlError as exc:
            problems.append(Problem(demo.source, check.line, str(exc).splitlines()[0]))
            continue
        except (TypeError, ValueError, KeyError, AttributeError, IndexError) as exc:  # a factory's bug, not a hang
            problems.append(Problem(demo.source, check.line, f"check {check.type}: cannot use its parameters ({exc})"))
            continue
        if not probes:
            problems.append(Problem(demo.source, check.line, f"check {check.type}: nothing to check in this lab"))
        expanded.append(probes)
    if problems:
        raise DemoError(problems)
    return expanded
