"""labctl.demo.runner: probes are retried until they pass or run out of time, against a fake
backend (an object with `exec`) and a fake clock, so nothing sleeps."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import cast

import pytest

from labctl import cancel
from labctl.backends.base import Backend, ExecResult
from labctl.compile.plan import LabPlan
from labctl.demo import runner
from labctl.demo.model import FAIL, PASS, SKIPPED, Access, Probe, Result, Verdict
from labctl.demo.spec import CheckSpec, DemoSpec
from labctl.errors import DemoError, LabctlError
from labctl.state import LabState
from tests.unit.demo.checks.outputs import BIRD_HEADER, DIG_H2
from tests.unit.demo.conftest import REPO

Answer = Callable[[str, str], ExecResult]
STATE = LabState(lab="ring", backend="fake", topology="ospf-dns.yaml", plan={})


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0
        self.lock = threading.Lock()

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        with self.lock:
            self.now += seconds


class FakeBackend:
    """Answers exec with `answer(node, command)`; each command takes `cost` seconds of fake time."""

    def __init__(self, answer: Answer, clock: FakeClock, cost: float = 0.0) -> None:
        self.answer = answer
        self.clock = clock
        self.cost = cost
        self.calls: list[tuple[str, str]] = []

    def exec(self, state: LabState, node: str, command: str, timeout: float) -> ExecResult:
        assert state is STATE and timeout > 0
        self.calls.append((node, command))
        self.clock.sleep(self.cost)
        return self.answer(node, command)


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> FakeClock:
    fake = FakeClock()
    monkeypatch.setattr(runner, "time", fake)
    monkeypatch.setattr(cancel, "sleep", fake.sleep)
    return fake


def backend(answer: Answer, clock: FakeClock, cost: float = 0.0) -> FakeBackend:
    return FakeBackend(answer, clock, cost)


def probe(
    judge: Callable[[ExecResult], Verdict],
    timeout: float = 10,
    interval: float = 2,
    skip_unless: tuple[str, str] | None = None,
) -> Probe:
    return Probe("c", "s", "n", "cmd", judge, timeout=timeout, interval=interval, skip_unless=skip_unless)


def by_output(result: ExecResult) -> Verdict:
    return Verdict(PASS, "up") if result.stdout == "up" else Verdict(FAIL, f"saw {result.stdout}")


def run(fake: FakeBackend, p: Probe) -> Result:
    return runner.run_probe(cast(Backend, fake), STATE, p)


def test_a_probe_is_retried_until_it_passes(clock: FakeClock) -> None:
    outputs = iter(["down", "down", "up"])
    fake = backend(lambda node, command: ExecResult(0, next(outputs), ""), clock)
    result = run(fake, probe(by_output))
    assert (result.status, result.detail, result.attempts) == (PASS, "up", 3)
    assert result.seconds == 4.0  # two intervals
    assert fake.calls == [("n", "cmd")] * 3


def test_a_probe_stops_at_its_timeout_with_the_last_reason(clock: FakeClock) -> None:
    count = iter(range(1, 100))
    fake = backend(lambda node, command: ExecResult(1, f"attempt {next(count)}", ""), clock)
    result = run(fake, probe(by_output, timeout=10, interval=2))
    assert result.status == FAIL
    assert result.attempts == 6  # at 0, 2, 4, 6, 8 and 10 s: one more wait would pass the timeout
    assert result.detail == "saw attempt 6"
    assert result.seconds == 10.0


def test_slow_commands_count_against_the_timeout(clock: FakeClock) -> None:
    fake = backend(lambda node, command: ExecResult(0, "down", ""), clock, cost=3.0)
    result = run(fake, probe(by_output, timeout=10, interval=2))
    assert result.status == FAIL and result.attempts == 3  # starting at 0, 5 and 10 s: none after the timeout
    assert result.seconds == 13.0


def test_skipped_is_final_and_not_retried(clock: FakeClock) -> None:
    fake = backend(lambda node, command: ExecResult(0, "", ""), clock)
    result = run(fake, probe(lambda r: Verdict(SKIPPED, "no freeswitch here")))
    assert (result.status, result.detail, result.attempts) == (SKIPPED, "no freeswitch here", 1)


def test_a_gate_that_says_skip_skips_without_running_the_probe(clock: FakeClock) -> None:
    def answer(node: str, command: str) -> ExecResult:
        if node == "pbx":
            return ExecResult(0, "SKIP: FreeSWITCH is not installed on pbx\nmore\n", "")
        return ExecResult(0, "up", "")

    fake = backend(answer, clock)
    result = run(fake, probe(by_output, skip_unless=("pbx", "gate")))
    assert (result.status, result.detail, result.attempts) == (SKIPPED, "FreeSWITCH is not installed on pbx", 0)
    assert fake.calls == [("pbx", "gate")]

    # exit 0 without "SKIP: " on the first line lets the probe go on; the gate is not run again
    for stdout in ("", "ok\n", "freeswitch 1.10\nSKIP: later lines do not count\n", " SKIP: x\n"):
        outputs = iter(["down", "up"])

        def go_on(node: str, command: str, gate: str = stdout, outputs: Iterator[str] = outputs) -> ExecResult:
            return ExecResult(0, gate if node == "pbx" else next(outputs), "")

        fake = backend(go_on, clock)
        result = run(fake, probe(by_output, skip_unless=("pbx", "gate")))
        assert (result.status, result.attempts) == (PASS, 2)
        assert fake.calls == [("pbx", "gate"), ("n", "cmd"), ("n", "cmd")]


@pytest.mark.parametrize(
    ("gate", "detail"),
    [
        (ExecResult(1, "FreeSWITCH is not installed on pbx\n", ""), "exited 1: FreeSWITCH is not installed on pbx"),
        (ExecResult(1, "SKIP: not installed\n", ""), "exited 1: SKIP: not installed"),
        (ExecResult(127, "", "sh: 1: command: not found\n"), "exited 127: sh: 1: command: not found"),
        (ExecResult(2, "", ""), "exited 2: no output"),
        (ExecResult(-1, "", ""), "exited -1: no output"),
    ],
)
def test_a_gate_that_fails_is_a_failure_saying_what_was_seen(clock: FakeClock, gate: ExecResult, detail: str) -> None:
    fake = backend(lambda node, command: gate if node == "pbx" else ExecResult(0, "up", ""), clock)
    result = run(fake, probe(by_output, timeout=4, interval=2, skip_unless=("pbx", "gate")))
    assert (result.status, result.detail) == (FAIL, f"precondition on pbx {detail}")
    assert result.attempts == 0 and set(fake.calls) == {("pbx", "gate")} and len(fake.calls) == 3  # retried


def test_a_gate_that_cannot_reach_its_node_is_a_failure(clock: FakeClock) -> None:
    def answer(node: str, command: str) -> ExecResult:
        raise LabctlError("guest agent on pbx is not responding\nsecond line")

    result = run(backend(answer, clock), probe(by_output, timeout=1, skip_unless=("pbx", "gate")))
    assert (result.status, result.detail, result.attempts) == (FAIL, "guest agent on pbx is not responding", 0)


def test_a_judge_that_breaks_is_a_failure_not_a_crash(clock: FakeClock) -> None:
    def broken(result: ExecResult) -> Verdict:
        return Verdict(PASS, str(1 / len(result.stdout)))

    result = run(backend(lambda node, command: ExecResult(0, "", ""), clock), probe(broken, timeout=1))
    assert (result.status, result.detail) == (FAIL, "cannot judge the output (ZeroDivisionError: division by zero)")


def test_cancellation_is_not_a_failure(clock: FakeClock) -> None:
    def answer(node: str, command: str) -> ExecResult:
        raise cancel.Cancelled("cancelled")

    with pytest.raises(cancel.Cancelled):
        run(backend(answer, clock), probe(by_output))


def test_backend_errors_are_failures_that_are_retried(clock: FakeClock) -> None:
    attempts: Iterator[LabctlError | ExecResult] = iter(
        [LabctlError("guest agent on n is not responding\nsecond line"), ExecResult(0, "up", "")]
    )

    def answer(node: str, command: str) -> ExecResult:
        item = next(attempts)
        if isinstance(item, LabctlError):
            raise item
        return item

    result = run(backend(answer, clock), probe(by_output))
    assert (result.status, result.attempts) == (PASS, 2)

    def gone(node: str, command: str) -> ExecResult:
        raise LabctlError("agent gone\ntrace")

    failing = backend(gone, clock)
    result = run(failing, probe(by_output, timeout=1))
    assert (result.status, result.detail) == (FAIL, "agent gone")


def test_run_demo_runs_checks_in_order_and_reports_each_result(clock: FakeClock, ospf_dns: LabPlan) -> None:
    neighbours = {
        "r1": BIRD_HEADER + "10.0.0.2 1 Full/PtP 3.5 r2 10.255.0.2\n10.0.0.3 1 Full/PtP 3.6 r3 10.255.0.9\n",
        "r2": BIRD_HEADER + "10.0.0.1 1 Full/PtP 3.5 r1 10.255.0.1\n10.0.0.3 1 Full/PtP 3.6 r3 10.255.0.6\n",
        "r3": BIRD_HEADER + "10.0.0.2 1 Full/PtP 3.5 r2 10.255.0.5\n",  # r1 missing
    }

    def answer(node: str, command: str) -> ExecResult:
        if command.startswith("birdc"):
            return ExecResult(0, neighbours[node], "")
        return ExecResult(0, DIG_H2, "")

    demo = DemoSpec(
        name="ospf-dns",
        description="",
        checks=(
            CheckSpec("ospf_neighbors", {"timeout": 4, "interval": 1}, 3),
            CheckSpec("dns", {"from": ["h1", "h2"], "name": "h2"}, 4),
        ),
        source=REPO / "demos" / "ospf-dns.yaml",
    )
    seen: list[Result] = []
    report = runner.run_demo(cast(Backend, backend(answer, clock)), STATE, ospf_dns, demo, seen.append)
    assert [(r.check, r.subject, r.status) for r in report.results] == [
        ("ospf_neighbors", "r1", PASS),
        ("ospf_neighbors", "r2", PASS),
        ("ospf_neighbors", "r3", FAIL),
        ("dns", "h1: h2", PASS),
        ("dns", "h2: h2", PASS),
    ]
    assert seen == report.results
    assert report.results[2].detail == "no Full adjacency with r1: 10.0.0.1"
    assert (report.demo, report.lab, report.passed) == ("ospf-dns", "ring", False)


def test_a_node_that_cannot_be_reached_fails_its_probes_and_the_run_goes_on(
    clock: FakeClock, ospf_dns: LabPlan
) -> None:
    def answer(node: str, command: str) -> ExecResult:
        if node == "r2":
            raise LabctlError("node 'r2' is not running")
        return ExecResult(0, DIG_H2, "")

    demo = DemoSpec(
        "d",
        "",
        (CheckSpec("ospf_neighbors", {"routers": "r2", "timeout": 1}, 3), CheckSpec("dns", {"name": "h2"}, 4)),
        REPO / "demos" / "d.yaml",
    )
    report = runner.run_demo(cast(Backend, backend(answer, clock)), STATE, ospf_dns, demo, lambda r: None)
    assert [(r.subject, r.status, r.detail) for r in report.results] == [
        ("r2", FAIL, "node 'r2' is not running"),
        ("r1: h2", PASS, "h2 = 10.0.0.6"),
    ]


def test_wrong_parameters_stop_the_demo_before_any_probe_runs(clock: FakeClock, ospf_dns: LabPlan) -> None:
    fake = backend(lambda node, command: ExecResult(0, DIG_H2, ""), clock)
    demo = DemoSpec(
        "d",
        "",
        (CheckSpec("dns", {"name": "h2"}, 3), CheckSpec("ping_by_name", {"interval": -1}, 7)),
        REPO / "demos" / "d.yaml",
    )
    with pytest.raises(DemoError) as caught:
        runner.run_demo(cast(Backend, fake), STATE, ospf_dns, demo, lambda r: None)
    assert caught.value.lines() == [
        f"{REPO}/demos/d.yaml:7: check ping_by_name: 'interval' must be a number from 0.1 to 600, not -1"
    ]
    assert fake.calls == []


def _two_checks(first: Access | None, monkeypatch: pytest.MonkeyPatch, ospf_dns: LabPlan) -> list[Result]:
    """Check 1 (on h1) waits up to `wait` s for check 2 (on h2) to have run; real threads, real time."""
    ran = threading.Event()

    def answer(node: str, command: str) -> ExecResult:
        if command == "wait":
            return ExecResult(0, "up" if ran.wait(1) else "no second check meanwhile", "")
        ran.set()
        return ExecResult(0, "up", "")

    def probe_on(node: str, command: str, access: Access | None) -> Probe:
        return Probe("c", node, node, command, by_output, timeout=0.1, interval=1, access=access)

    checks = [[probe_on("h1", "wait", first)], [probe_on("h2", "set", Access(reads=frozenset({"h2"})))]]
    monkeypatch.setattr(runner, "validate_demo", lambda demo, plan: checks)
    fake = FakeBackend(answer, FakeClock())
    seen: list[Result] = []
    demo = DemoSpec("d", "", (), REPO / "demos" / "d.yaml")
    report = runner.run_demo(cast(Backend, fake), STATE, ospf_dns, demo, seen.append)
    assert seen == report.results
    return report.results


def test_checks_that_change_nothing_the_other_uses_run_at_once_and_report_in_order(
    monkeypatch: pytest.MonkeyPatch, ospf_dns: LabPlan
) -> None:
    results = _two_checks(Access(reads=frozenset({"h1", "h2"})), monkeypatch, ospf_dns)
    assert [(r.subject, r.status) for r in results] == [("h1", PASS), ("h2", PASS)]


def test_a_check_that_may_change_any_node_runs_alone(monkeypatch: pytest.MonkeyPatch, ospf_dns: LabPlan) -> None:
    results = _two_checks(None, monkeypatch, ospf_dns)
    assert [(r.subject, r.status, r.detail) for r in results] == [
        ("h1", FAIL, "saw no second check meanwhile"),
        ("h2", PASS, "up"),
    ]
