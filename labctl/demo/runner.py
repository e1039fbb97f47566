"""Run a demo's checks in order; within a check, probes run in parallel and each is retried
until it passes or its timeout runs out."""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from labctl import cancel
from labctl.backends.base import Backend
from labctl.compile.plan import LabPlan
from labctl.demo.checks import check_types, probes_for
from labctl.demo.model import FAIL, PASS, SKIPPED, Probe, Report, Result, Verdict
from labctl.demo.spec import DemoSpec
from labctl.errors import LabctlError
from labctl.lab.state import LabState

MAX_PARALLEL = 6


def run_probe(backend: Backend, state: LabState, probe: Probe) -> Result:
    start = time.monotonic()
    if probe.skip_unless is not None:
        node, command = probe.skip_unless
        gate = backend.exec(state, node, command, timeout=probe.command_timeout)
        if not gate.ok:
            reason = (gate.stdout.strip() or gate.stderr.strip() or f"precondition failed on {node}").splitlines()[0]
            return Result(probe.check, probe.subject, SKIPPED, reason, time.monotonic() - start, 0)
    attempts = 0
    verdict = Verdict(FAIL, "not run")
    while True:
        attempts += 1
        try:
            result = backend.exec(state, probe.node, probe.command, timeout=probe.command_timeout)
            verdict = probe.judge(result)
        except LabctlError as exc:
            verdict = Verdict(FAIL, str(exc).splitlines()[0])
        if verdict.status != FAIL or time.monotonic() - start + probe.interval > probe.timeout:
            break
        cancel.sleep(probe.interval)
    return Result(probe.check, probe.subject, verdict.status, verdict.detail, time.monotonic() - start, attempts)


def run_demo(
    backend: Backend, state: LabState, plan: LabPlan, demo: DemoSpec, on_result: Callable[[Result], None]
) -> Report:
    check_types()
    report = Report(demo=demo.name, lab=state.lab)
    start = time.monotonic()
    for spec in demo.checks:
        probes = probes_for(spec.type, plan, spec.params)
        with ThreadPoolExecutor(max_workers=min(MAX_PARALLEL, max(1, len(probes)))) as pool:
            results = list(pool.map(lambda p: run_probe(backend, state, p), probes))
        for result in results:
            report.results.append(result)
            on_result(result)
    report.seconds = time.monotonic() - start
    return report


__all__ = ["PASS", "run_demo"]
