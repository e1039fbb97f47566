"""Verify a running lab with a demo: every check is a command on a node plus a pure judge."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from labctl.backends.registry import backend_for
from labctl.demo.checks import check_types
from labctl.demo.model import FAIL, INCOMPLETE, PASS, Report, Result
from labctl.demo.report import junit_xml, result_line, summary_line, table
from labctl.demo.runner import run_demo
from labctl.demo.spec import DemoSpec, load_demo, validate_demo
from labctl.errors import LabctlError
from labctl.lab.links import effective_plan
from labctl.paths import data_dir
from labctl.state import LabState
from labctl.state.saved_plan import saved_plan

EXIT_CODES = {PASS: 0, FAIL: 1, INCOMPLETE: 3}
"""A demo's exit code by its verdict: 0 every check passed; 1 a check failed, or there were none;
3 none failed but some were skipped (an incomplete proof). 2 stays the command line's usage error."""


@dataclass(frozen=True)
class Prepared:
    """A demo loaded and checked against the lab's plan, ready to run."""

    state: LabState
    spec: DemoSpec


def prepare(state: LabState, demo: str) -> Prepared:
    """Load `demo` (a name in demos/ or a path) and refuse wrong parameters (one line at the check)
    before anything runs. The lab is judged as it is now: attachments taken down are left out."""
    spec = load_demo(demo, check_types())
    validate_demo(spec, effective_plan(saved_plan(state), state.links_down))
    return Prepared(state, spec)


def run(prepared: Prepared, on_result: Callable[[Result], None] = lambda _r: None) -> Report:
    state = prepared.state
    plan = effective_plan(saved_plan(state), state.links_down)
    return run_demo(backend_for(state), state, plan, prepared.spec, on_result)


def verify(state: LabState, demo: str, on_result: Callable[[Result], None] = lambda _r: None) -> Report:
    return run(prepare(state, demo), on_result)


@dataclass(frozen=True)
class Listed:
    name: str
    spec: DemoSpec | None
    problem: str | None


def shipped_demos() -> list[Listed]:
    listed = []
    for path in sorted(data_dir("demos").glob("*.yaml")):
        try:
            listed.append(Listed(path.stem, load_demo(str(path), check_types()), None))
        except LabctlError as exc:
            listed.append(Listed(path.stem, None, exc.lines()[0]))
    return listed


__all__ = [
    "EXIT_CODES",
    "Prepared",
    "Report",
    "Result",
    "junit_xml",
    "prepare",
    "result_line",
    "run",
    "shipped_demos",
    "summary_line",
    "table",
    "verify",
]
