"""labctl.demo.checks.ping: ping_by_name probes and the judge of their output."""

from __future__ import annotations

import pytest

from labctl.backends.base import ExecResult
from labctl.demo.checks.ping import _judge
from labctl.demo.model import FAIL, PASS
from labctl.errors import LabctlError
from tests.unit.demo.checks.outputs import PING_H1, PING_H1_NAMED_DOWN, err
from tests.unit.demo.conftest import Judge, Probes


def test_one_probe_per_source_towards_every_other_node(probes: Probes) -> None:
    found = probes("ping_by_name")
    assert [p.node for p in found] == ["r1", "r2", "r3", "ns", "h1", "h2"]
    h1 = found[4]
    assert h1.subject == "h1 -> 5 nodes"
    assert h1.command.split("for t in ")[1].split(";")[0].split() == ["r1", "r2", "r3", "ns", "h2"]
    assert h1.timeout == 90 and h1.interval == 2


def test_from_and_to_narrow_the_probes_and_timeout_is_passed_on(probes: Probes) -> None:
    (probe,) = probes("ping_by_name", **{"from": "h1", "to": ["h2", "ns"], "timeout": 5})
    assert (probe.node, probe.subject, probe.timeout) == ("h1", "h1 -> h2, ns", 5.0)


def test_every_name_answering_passes(probes: Probes, judge: Judge) -> None:
    (probe,) = probes("ping_by_name", **{"from": "h1"})
    verdict = judge(probe, "r1 ok\nr2 ok\nr3 ok\nns ok\nh2 ok\n")
    assert verdict.status == PASS
    assert verdict.detail == "5 names reached"


def test_silent_and_unresolved_names_fail_with_the_reason(probes: Probes, judge: Judge) -> None:
    (probe,) = probes("ping_by_name", **{"from": "h1"})
    verdict = judge(probe, "r1 ok\nr2 ok\nr3 FAIL 10.0.0.3\nns ok\nh2 FAIL unresolved\n")
    assert verdict.status == FAIL
    assert verdict.detail == "unreachable: r3 (no reply from 10.0.0.3), h2 (unresolved)"


@pytest.mark.parametrize(
    ("exit_code", "stdout", "stderr", "detail"),
    [
        (127, "", "ping is not installed\n", "the ping script exited 127: ping is not installed"),
        (127, "", "sh: 1: ping: not found\n", "the ping script exited 127: sh: 1: ping: not found"),
        (1, "h1 ok\nns ok\n", "", "the ping script exited 1: h1 ok"),
        (-1, "", "", "the ping script exited -1: no output"),
    ],
)
def test_an_unexpected_exit_fails_even_with_good_lines(
    probes: Probes, judge: Judge, exit_code: int, stdout: str, stderr: str, detail: str
) -> None:
    (probe,) = probes("ping_by_name", **{"from": "h2", "to": ["h1", "ns"]})
    verdict = judge(probe, stdout, exit_code=exit_code, stderr=stderr)
    assert (verdict.status, verdict.detail) == (FAIL, detail)


def test_no_output_at_all_fails_naming_every_target(probes: Probes, judge: Judge) -> None:
    (probe,) = probes("ping_by_name", **{"from": "h2", "to": ["h1", "ns"]})
    verdict = judge(probe, "")
    assert (verdict.status, verdict.detail) == (FAIL, "unreachable: h1 (no result), ns (no result)")


@pytest.mark.parametrize(
    "stdout",
    [
        "h1 ok\nns ok\nPING h1 (10.0.0.5) 56(84) bytes of data.\n",
        "h1 ok\nns ok\nzz ok\n",
        "h1 ok\nns ok extra\n",
        "\x00\xff garbage\n",
    ],
)
def test_lines_the_script_never_prints_fail(probes: Probes, judge: Judge, stdout: str) -> None:
    (probe,) = probes("ping_by_name", **{"from": "h2", "to": ["h1", "ns"]})
    verdict = judge(probe, stdout)
    assert verdict.status == FAIL and verdict.detail.startswith("unexpected output from the ping script: ")


def test_a_target_both_ok_and_failed_fails(probes: Probes, judge: Judge) -> None:
    (probe,) = probes("ping_by_name", **{"from": "h2", "to": ["h1", "ns"]})
    assert judge(probe, "h1 ok\nns ok\nns FAIL 10.0.0.4\n").detail == "unreachable: ns (no reply from 10.0.0.4)"


def test_a_source_is_never_its_own_target_and_targets_are_not_repeated(probes: Probes) -> None:
    (probe,) = probes("ping_by_name", **{"from": ["h1", "h2"], "to": ["h1", "h1"]})
    assert (probe.node, probe.subject) == ("h2", "h2 -> h1")
    assert probe.command.endswith("fi; done") and "for t in h1; do" in probe.command


def test_the_script_says_when_ping_or_getent_is_missing(probes: Probes) -> None:
    (probe,) = probes("ping_by_name", **{"from": "h2", "to": "h1"})
    assert probe.command.startswith('for c in ping getent; do command -v "$c" >/dev/null || {')


def test_a_name_that_merely_contains_ok_is_not_taken_for_a_reply(probes: Probes, judge: Judge) -> None:
    (probe,) = probes("ping_by_name", **{"from": "r1", "to": ["h1", "h2"]})
    assert judge(probe, "h1 ok\nh2 FAIL 10.0.0.6\n").status == FAIL
    assert judge(probe, "h1 ok\n").status == FAIL


def test_unknown_nodes_are_refused_with_a_hint(probes: Probes) -> None:
    with pytest.raises(LabctlError, match=r"check ping_by_name: unknown node in 'from' 'h11' \(did you mean 'h1'\?\)"):
        probes("ping_by_name", **{"from": "h11"})
    with pytest.raises(LabctlError, match=r"unknown node in 'to' 'zz' \(expected one of: h1, h2, ns, r1, r2, r3\)"):
        probes("ping_by_name", to=["h1", "zz"])


def test_real_outputs_from_the_lab(probes: Probes, judge: Judge) -> None:
    script = _judge(["r1", "r2", "r3", "ns", "h2", "nosuchhost"])
    seen = script(ExecResult(0, PING_H1, ""))
    assert (seen.status, seen.detail) == (FAIL, "unreachable: nosuchhost (unresolved)")
    (probe,) = probes("ping_by_name", **{"from": "h1", "to": ["r1", "h2"]})
    named_down = judge(probe, PING_H1_NAMED_DOWN)
    assert (named_down.status, named_down.detail) == (FAIL, "unreachable: r1 (unresolved), h2 (unresolved)")
    missing = judge(probe, "", exit_code=127, stderr=err("ping_missing"))
    assert (missing.status, missing.detail) == (FAIL, "the ping script exited 127: /bin/sh: 1: ping: not found")
