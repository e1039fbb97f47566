"""Run a demo's checks, reported in order; within a check, probes run in parallel and each is retried
until it passes or its timeout runs out. Checks that change nothing another uses run at once
(labctl.demo.schedule). A probe that cannot reach its node is that probe's FAIL,
never the end of the run: every result is reported."""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from itertools import accumulate

from labctl import cancel
from labctl.backends.base import Backend, ExecResult
from labctl.compile.plan import LabPlan
from labctl.demo.evidence import Keep, fetch_evidence
from labctl.demo.model import FAIL, PASS, SKIPPED, Probe, Report, Result, Verdict, first_line
from labctl.demo.schedule import check_access, startable, waits_for
from labctl.demo.spec import DemoSpec, validate_demo
from labctl.errors import LabctlError
from labctl.state import LabState

MAX_PARALLEL = 6
SKIP_PREFIX = "SKIP: "
GO_ON = Verdict(PASS, "")


def judge_gate(node: str, result: ExecResult) -> Verdict:
    """The gate contract: exit 0 with a first line "SKIP: <reason>" skips; exit 0 otherwise goes on
    (GO_ON); any other exit is a FAIL saying what was seen."""
    if result.exit_code == 0:
        lines = result.stdout.splitlines()
        if lines and lines[0].startswith(SKIP_PREFIX):
            return Verdict(SKIPPED, lines[0].removeprefix(SKIP_PREFIX).strip() or f"skipped by {node}")
        return GO_ON
    seen = first_line(result.stderr) or first_line(result.stdout) or "no output"
    return Verdict(FAIL, f"precondition on {node} exited {result.exit_code}: {seen}")


def _judged(probe: Probe, result: ExecResult) -> Verdict:
    try:
        return probe.judge(result)
    except Exception as exc:  # a judge's bug must not end the run without a report
        return Verdict(FAIL, f"cannot judge the output ({type(exc).__name__}: {exc})")


def run_probe(backend: Backend, state: LabState, probe: Probe) -> Result:
    """Each try runs the gate (until it has once let the probe go on), then the command and its
    judge. `attempts` counts the runs of the command."""
    start = time.monotonic()
    attempts = 0
    gate_open = probe.skip_unless is None
    while True:
        try:
            if probe.skip_unless is not None and not gate_open:
                node, command = probe.skip_unless
                verdict = judge_gate(node, backend.exec(state, node, command, timeout=probe.command_timeout))
                gate_open = verdict is GO_ON
            if gate_open:
                attempts += 1
                verdict = _judged(probe, backend.exec(state, probe.node, probe.command, timeout=probe.command_timeout))
        except cancel.Cancelled:
            raise
        except LabctlError as exc:
            verdict = Verdict(FAIL, first_line(str(exc)) or type(exc).__name__)
        if verdict.status != FAIL or time.monotonic() - start + probe.interval > probe.timeout:
            break
        cancel.sleep(probe.interval)
    return Result(probe.check, probe.subject, verdict.status, verdict.detail, time.monotonic() - start, attempts)


def run_demo(
    backend: Backend,
    state: LabState,
    plan: LabPlan,
    demo: DemoSpec,
    on_result: Callable[[Result], None],
    keep: Keep | None = None,
) -> Report:
    """Every check's parameters are validated before the first probe runs. With `keep`, each probe's
    evidence files are fetched after it has run and handed to `keep` (labctl.demo.evidence)."""
    expanded = validate_demo(demo, plan)
    report = Report(demo=demo.name, lab=state.lab)
    start = time.monotonic()

    def run(number: int, probe: Probe) -> Result:
        result = run_probe(backend, state, probe)
        if keep is not None:
            fetch_evidence(backend, state, probe, number, result, keep)
        return result

    everyone = [node.name for node in plan.nodes]
    waits = waits_for([check_access(probes, everyone) for probes in expanded])
    firsts = list(accumulate((len(probes) for probes in expanded), initial=1))  # each check's first number
    done: dict[int, list[Result]] = {}
    running: dict[int, list[Future[Result]]] = {}
    finished: set[int] = set()
    reported = 0  # checks whose results are in the report
    with ThreadPoolExecutor(max_workers=MAX_PARALLEL) as pool:
        try:
            while reported < len(expanded):
                for check in startable(waits, running.keys() | finished, frozenset(finished)):
                    running[check] = [pool.submit(run, firsts[check] + k, p) for k, p in enumerate(expanded[check])]
                wait([f for futures in running.values() for f in futures], return_when=FIRST_COMPLETED)
                for check, futures in list(running.items()):
                    if all(f.done() for f in futures):
                        done[check] = [f.result() for f in futures]
                        finished.add(check)
                        del running[check]
                while reported in done:
                    for result in done.pop(reported):
                        report.results.append(result)
                        on_result(result)
                    reported += 1
        except BaseException:
            for futures in running.values():  # probes not started yet never start
                for future in futures:
                    future.cancel()
            raise
    report.seconds = time.monotonic() - start
    return report


__all__ = ["PASS", "run_demo", "run_probe"]
