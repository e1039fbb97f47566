"""Verify a running lab with a demo: every check is a command on a node plus a pure judge."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from labctl.backends.registry import backend_for
from labctl.compile.plan import LabPlan
from labctl.demo.checks import check_types
from labctl.demo.model import FAIL, INCOMPLETE, PASS, Report, Result
from labctl.demo.report import junit_xml, result_line, summary_line, table
from labctl.demo.runner import run_demo
from labctl.demo.spec import DemoSpec, load_demo, validate_demo
from labctl.errors import LabctlError
from labctl.lab.links import effective_plan
from labctl.service.shipped import Listed, shipped
from labctl.state import LabState
from labctl.state.lab_record import NewEvidence, save_report
from labctl.state.saved_plan import saved_plan

EXIT_CODES = {PASS: 0, FAIL: 1, INCOMPLETE: 3}
"""A demo's exit code by its verdict: 0 every check passed; 1 a check failed, or there were none;
3 none failed but some were skipped (an incomplete proof). 2 stays the command line's usage error."""


@dataclass(frozen=True)
class Prepared:
    """A demo loaded and checked against the lab's plan, ready to run."""

    state: LabState
    spec: DemoSpec
    plan: LabPlan  # the lab as it is now: attachments taken down are left out


def prepare(state: LabState, demo: str) -> Prepared:
    """Load `demo` (a name in demos/ or a path) and refuse wrong parameters (one line at the check)
    before anything runs. The lab is judged as it is now: attachments taken down are left out."""
    spec = load_demo(demo, check_types())
    plan = effective_plan(saved_plan(state), state.links_down)
    validate_demo(spec, plan)
    return Prepared(state, spec, plan)


def run(prepared: Prepared, on_result: Callable[[Result], None] = lambda _r: None) -> Report:
    """Run the demo; the lab keeps its report and the evidence its checks left (pcaps) as its last
    ones (what `labctl save` bundles)."""
    evidence = NewEvidence(prepared.state.lab)
    try:
        report = run_demo(
            backend_for(prepared.state), prepared.state, prepared.plan, prepared.spec, on_result, evidence.keep
        )
    except BaseException:
        evidence.discard()
        raise
    save_report(prepared.state, prepared.spec.name, report.to_dict(), evidence)
    return report


def verify(state: LabState, demo: str, on_result: Callable[[Result], None] = lambda _r: None) -> Report:
    return run(prepare(state, demo), on_result)


def shipped_demos() -> list[Listed[DemoSpec]]:
    return shipped("demos", lambda path: load_demo(str(path), check_types()), LabctlError)


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
