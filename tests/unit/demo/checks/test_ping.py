"""labctl.demo.checks.ping: ping_by_name probes and the judge of their output."""

from __future__ import annotations

import pytest

from labctl.demo.model import FAIL, PASS
from labctl.errors import LabctlError
from tests.unit.demo.conftest import Judge, Probes


def test_one_probe_per_source_towards_every_other_node(probes: Probes) -> None:
    found = probes("ping_by_name")
    assert [p.node for p in found] == ["r1", "r2", "r3", "ns", "h1", "h2"]
    h1 = found[4]
    assert h1.subject == "h1 -> 5 nodes"
    assert h1.command.split(";")[0].removeprefix("for t in ").split() == ["r1", "r2", "r3", "ns", "h2"]
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


def test_no_output_at_all_fails_naming_every_target(probes: Probes, judge: Judge) -> None:
    (probe,) = probes("ping_by_name", **{"from": "h2", "to": ["h1", "ns"]})
    verdict = judge(probe, "", exit_code=127, stderr="sh: 1: ping: not found")
    assert verdict.status == FAIL
    assert verdict.detail == "unreachable: h1, ns"


def test_a_name_that_merely_contains_ok_is_not_taken_for_a_reply(probes: Probes, judge: Judge) -> None:
    (probe,) = probes("ping_by_name", **{"from": "r1", "to": ["h1", "h2"]})
    assert judge(probe, "h1 ok\nh2 FAIL 10.0.0.6\n").status == FAIL
    assert judge(probe, "h1 ok\n").status == FAIL


def test_unknown_nodes_are_refused_with_a_hint(probes: Probes) -> None:
    with pytest.raises(LabctlError, match=r"check ping_by_name: unknown node in 'from' 'h11' \(did you mean 'h1'\?\)"):
        probes("ping_by_name", **{"from": "h11"})
    with pytest.raises(LabctlError, match=r"unknown node in 'to' 'zz' \(expected one of: h1, h2, ns, r1, r2, r3\)"):
        probes("ping_by_name", to=["h1", "zz"])
