"""labctl.cli.demo_cmds: listing demos, and running one where no lab runs."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import cast
from xml.etree import ElementTree as ET

import pytest

from labctl.backends import registry
from labctl.backends.base import Backend, ExecResult
from labctl.cli import reports
from labctl.compile import compile_topology
from labctl.compile.plan import LabPlan
from labctl.demo.checks import REGISTRY, Params, check_types
from labctl.demo.model import Probe
from labctl.demo.spec import load_demo
from labctl.errors import LabctlError
from labctl.state import LabState
from labctl.topology.schema import load_topology
from tests.unit.cli.conftest import REPO, Cli
from tests.unit.demo.checks.outputs import DIG_DOWN, DIG_H2, R3_FULL, out


def run_demo(backend: Backend, state: LabState, demo: str, as_json: bool, junit: str | None) -> int:
    """The CLI's demo run, with `backend` as the lab's backend (registered as 'fake')."""
    assert state.backend == "fake"
    registry.register("fake", lambda _images, _disks, _cold: backend)
    try:
        return reports.run_demo(state, demo, as_json, junit)
    finally:
        registry._FACTORIES.pop("fake")


def test_demo_list_shows_every_demo_with_its_checks(cli: Cli) -> None:
    run = cli("demo", "list")
    assert run.code == 0
    demos = sorted((REPO / "demos").glob("*.yaml"))
    # Rich wraps long descriptions onto lines of their own, so look for each demo's first line.
    starts = [line.split()[:3] for line in run.stdout.splitlines() if line.split()[1:3][-1:] == ["checks"]]
    assert starts == [[p.stem, str(len(load_demo(str(p), check_types()).checks)), "checks"] for p in demos]


def test_demo_run_without_the_lab(cli: Cli) -> None:
    run = cli("demo", "run", "ospf-dns")
    assert run.code == 1
    assert run.stderr == "error: lab 'ospf-dns' is not running (no lab is running)\n"


def test_demo_run_of_an_unknown_demo_suggests_one(cli: Cli) -> None:
    LabState(lab="ring", backend="libvirt", topology="t", plan={"nodes": []}).save()
    run = cli("demo", "run", "ospf-dsn", "--lab", "ring")
    assert run.code == 1
    assert run.stderr.startswith("error: no demo named 'ospf-dsn' in ")
    assert run.stderr.endswith("(did you mean 'ospf-dns'?)\n") and run.stderr.count("\n") == 1


def test_demo_without_a_verb_shows_help(cli: Cli) -> None:
    run = cli("demo")
    assert run.code in (0, 2)
    assert "run" in run.stdout + run.stderr and "list" in run.stdout + run.stderr


class Answers:
    """A backend whose exec answers by command: `outputs` maps a command's start to an ExecResult."""

    def __init__(self, outputs: dict[str, ExecResult]) -> None:
        self.outputs = outputs

    def exec(self, state: LabState, node: str, command: str, timeout: float) -> ExecResult:
        for start, result in self.outputs.items():
            if command.startswith(start):
                return result
        raise LabctlError(f"guest agent on {node} is not responding")


def ran(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, checks: str, outputs: dict[str, ExecResult], as_json: bool
) -> tuple[int, str, str]:
    demo = tmp_path / "d.yaml"
    demo.write_text("name: d\nchecks:\n" + checks)
    plan = compile_topology(load_topology(REPO / "topologies" / "ospf-dns.yaml"))
    state = LabState(lab="ring", backend="fake", topology="t", plan=plan.to_dict())
    code = run_demo(cast(Backend, Answers(outputs)), state, str(demo), as_json, None)
    out = capsys.readouterr()
    return code, out.out, out.err


GATE = ExecResult(0, "SKIP: not in this image\n", "")
ROUTERS = "  - ospf_neighbors: {routers: r3, timeout: 1}\n"
DIG = "  - dns: {from: h1, name: h2, timeout: 1}\n"


@pytest.mark.parametrize(
    ("outputs", "code", "verdict", "counts"),
    [
        (
            {"birdc": ExecResult(0, R3_FULL, ""), "s=": ExecResult(0, DIG_H2, "")},
            0,
            "PASS",
            "2 passed, 0 failed, 0 skipped",
        ),
        (
            {"birdc": ExecResult(0, R3_FULL, ""), "s=": ExecResult(9, DIG_DOWN, "")},
            1,
            "FAIL",
            "1 passed, 1 failed, 0 skipped",
        ),
        ({"birdc": ExecResult(0, R3_FULL, "")}, 1, "FAIL", "1 passed, 1 failed, 0 skipped"),  # h1 unreachable
        ({}, 1, "FAIL", "0 passed, 2 failed, 0 skipped"),
    ],
)
def test_exit_code_and_summary_line(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    outputs: dict[str, ExecResult],
    code: int,
    verdict: str,
    counts: str,
) -> None:
    got, out, _ = ran(capsys, tmp_path, ROUTERS + DIG, outputs, as_json=False)
    assert got == code
    assert out.splitlines()[-1] == f"demo d: {verdict}: {counts}"
    assert f"demo d on ring: {counts} in " in out
    data_code, data, summary = ran(capsys, tmp_path, ROUTERS + DIG, outputs, as_json=True)
    assert data_code == code and json.loads(data)["verdict"] == verdict.lower()
    assert summary.splitlines()[-1] == f"demo d: {verdict}: {counts}"


def test_a_skipped_check_exits_3_and_says_the_proof_is_incomplete(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from labctl.demo.checks import ospf

    def gated(plan: LabPlan, p: Params) -> list[Probe]:
        probes = ospf.ospf_neighbors(plan, Params("ospf_neighbors", p.values, ("routers",)))
        return [dataclasses.replace(probe, skip_unless=("r3", "gate")) for probe in probes]

    monkeypatch.setitem(REGISTRY, "ospf_neighbors", gated)
    outputs = {"birdc": ExecResult(0, R3_FULL, ""), "s=": ExecResult(0, DIG_H2, ""), "gate": GATE}
    code, out, _ = ran(capsys, tmp_path, ROUTERS + DIG, outputs, as_json=False)
    assert code == 3
    assert out.splitlines()[-1] == "demo d: INCOMPLETE (a skipped check proves nothing): 1 passed, 0 failed, 1 skipped"
    code, data, _ = ran(capsys, tmp_path, ROUTERS + DIG, outputs, as_json=True)
    assert code == 3 and json.loads(data)["verdict"] == "incomplete" and json.loads(data)["passed"] is False
    outputs["gate"] = ExecResult(1, "FreeSWITCH is not installed\n", "")
    assert ran(capsys, tmp_path, ROUTERS + DIG, outputs, as_json=False)[0] == 1


def test_wrong_parameters_are_refused_before_anything_runs(cli: Cli, tmp_path: Path) -> None:
    plan = compile_topology(load_topology(REPO / "topologies" / "ospf-dns.yaml"))
    LabState(lab="ring", backend="libvirt", topology="t", plan=plan.to_dict()).save()
    demo = tmp_path / "bad.yaml"
    demo.write_text("checks:\n  - ping_by_name: {}\n  - dns: {name: h2, timeout: abc}\n")
    run = cli("demo", "run", str(demo), "--lab", "ring")
    assert run.code == 1
    assert run.stderr == f"error: {demo}:3: check dns: 'timeout' must be a number from 1 to 3600, not 'abc'\n"


@pytest.mark.parametrize(
    ("where", "message"),
    [
        ("missing/report.xml", "folder missing does not exist"),
        (".", "is a folder; give a file name"),
    ],
)
def test_a_junit_path_that_cannot_be_written_is_refused_before_the_demo_runs(
    cli: Cli, tmp_path: Path, where: str, message: str
) -> None:
    plan = compile_topology(load_topology(REPO / "topologies" / "ospf-dns.yaml"))
    LabState(lab="ring", backend="libvirt", topology="t", plan=plan.to_dict()).save()
    run = cli("demo", "run", "ospf-dns", "--lab", "ring", "--junit", where)
    assert (run.code, run.stderr) == (1, f"error: --junit {where}: {message}\n")


def test_a_demo_name_that_looks_like_markup_is_printed_as_is(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """A demo file's own name (the default demo name) is not a checked label: it is shown as it is."""
    demo = tmp_path / "[red].yaml"
    demo.write_text("checks:\n" + DIG)
    plan = compile_topology(load_topology(REPO / "topologies" / "ospf-dns.yaml"))
    state = LabState(lab="ring", backend="fake", topology="t", plan=plan.to_dict())
    code = run_demo(cast(Backend, Answers({"s=": ExecResult(0, DIG_H2, "")})), state, str(demo), False, None)
    out = capsys.readouterr()
    assert code == 0 and "running demo [red] (1 checks)" in out.err
    assert out.out.splitlines()[-1] == "demo [red]: PASS: 1 passed, 0 failed, 0 skipped"


def test_a_demo_name_with_control_characters_is_refused(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    demo = tmp_path / "d.yaml"
    demo.write_text('name: "evil\\e[31mRED\\x01"\nchecks:\n' + DIG)
    plan = compile_topology(load_topology(REPO / "topologies" / "ospf-dns.yaml"))
    state = LabState(lab="ring", backend="fake", topology="t", plan=plan.to_dict())
    with pytest.raises(LabctlError, match=r"d.yaml:1: demo name 'evil\\x1b\[31mRED\\x01' must be"):
        run_demo(cast(Backend, Answers({})), state, str(demo), False, None)
    out = capsys.readouterr()
    assert "\x1b" not in out.out + out.err


def test_guest_output_never_reaches_the_terminal_raw(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    """birdc's error line (a guest's text) in a result: ESC and BEL are shown as escapes, ANSI colours dropped."""
    hostile = ExecResult(1, "", "\x1b]0;pwned\x07\x1b[31mboom\x1b[0m\x01 [/red]\n")
    junit = tmp_path / "report.xml"
    demo = tmp_path / "d.yaml"
    demo.write_text("name: d\nchecks:\n" + ROUTERS)
    plan = compile_topology(load_topology(REPO / "topologies" / "ospf-dns.yaml"))
    state = LabState(lab="ring", backend="fake", topology="t", plan=plan.to_dict())
    code = run_demo(cast(Backend, Answers({"birdc": hostile})), state, str(demo), False, str(junit))
    out = capsys.readouterr()
    assert code == 1
    for stream in (out.out, out.err):
        assert "\x1b" not in stream and "\x07" not in stream and "\x01" not in stream
    assert "birdc exited 1: \\x1b]0;pwned\\x07boom\\x01 [/red]" in out.err
    ET.parse(junit)  # the same detail in the JUnit file still parses


def test_the_shipped_ospf_dns_demo_passes_on_the_labs_real_outputs(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """dig and birdc outputs captured from the running lab; the ping script's lines are its own."""

    class Lab:
        def exec(self, state: LabState, node: str, command: str, timeout: float) -> ExecResult:
            if command.startswith("birdc"):
                return ExecResult(0, out(f"birdc_{node}"), "")
            if " h2 A;" in command:
                return ExecResult(0, out("new_dns_h2"), "")
            for name in ("r3-lan2", "www.example.com"):
                if f" {name} A;" in command:
                    return ExecResult(0, out(f"new_dns_{name.split('.')[0].replace('-', '')}"), "")
            targets = command.split("for t in ")[1].split(";")[0].split()
            return ExecResult(0, "".join(f"{t} ok\n" for t in targets), "")

    plan = compile_topology(load_topology(REPO / "topologies" / "ospf-dns.yaml"))
    state = LabState(lab="ospf-dns", backend="fake", topology="t", plan=plan.to_dict())
    code = run_demo(cast(Backend, Lab()), state, "ospf-dns", False, None)
    assert (code, capsys.readouterr().out.splitlines()[-1]) == (
        0,
        "demo ospf-dns: PASS: 14 passed, 0 failed, 0 skipped",
    )
