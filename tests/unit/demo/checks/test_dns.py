"""labctl.demo.checks.dns: dig probes, `expect` resolution and the judge of dig's answers."""

from __future__ import annotations

import pytest

from labctl.compile.plan import LabPlan
from labctl.demo.checks.dns import expected_answer
from labctl.demo.model import FAIL, PASS
from labctl.errors import LabctlError
from tests.unit.demo.conftest import Judge, Probes


def test_expect_plan_takes_the_address_from_the_plan(ospf_dns: LabPlan) -> None:
    assert expected_answer(ospf_dns, "h2") == "10.0.0.6"
    assert expected_answer(ospf_dns, "r3-lan2.ring.lab") == "10.10.1.1"
    with pytest.raises(LabctlError, match=r"no A record for 'www\.example\.com'"):
        expected_answer(ospf_dns, "www.example.com")


def test_one_probe_per_source(probes: Probes) -> None:
    found = probes("dns", **{"from": ["h1", "h2"], "name": "h2"})
    assert [(p.node, p.subject) for p in found] == [("h1", "h1: h2"), ("h2", "h2: h2")]
    assert "dig +short +search" in found[0].command and " h2 A;" in found[0].command


def test_a_name_is_required(probes: Probes) -> None:
    with pytest.raises(LabctlError, match="check dns needs a 'name'"):
        probes("dns", **{"from": "h1"})


def test_the_expected_answer_passes(probes: Probes, judge: Judge) -> None:
    (probe,) = probes("dns", **{"from": "h1", "name": "h2", "expect": "plan"})
    verdict = judge(probe, "10.0.0.6\n12\n")
    assert (verdict.status, verdict.detail) == (PASS, "h2 = 10.0.0.6")


def test_a_wrong_or_missing_answer_fails_saying_both(probes: Probes, judge: Judge) -> None:
    (probe,) = probes("dns", **{"from": "h1", "name": "h2"})
    assert judge(probe, "10.0.0.5\n8\n").detail == "h2 = 10.0.0.5; expected 10.0.0.6"
    timed_out = judge(probe, ";; connection timed out; no servers could be reached\n2004\n")
    assert (timed_out.status, timed_out.detail) == (FAIL, "h2 = no answer; expected 10.0.0.6")
    assert judge(probe, "10.0.0.6\n10.0.0.7\n9\n").status == FAIL


def test_an_explicit_address_is_expected_as_given(probes: Probes, judge: Judge) -> None:
    (probe,) = probes("dns", **{"from": "r2", "name": "gw", "expect": "192.0.2.1"})
    assert judge(probe, "192.0.2.1\n3\n").status == PASS


def test_expect_none_passes_when_nothing_answers_fast(probes: Probes, judge: Judge) -> None:
    (probe,) = probes("dns", **{"from": "h2", "name": "www.example.com", "expect": "none", "fail_within": 3})
    verdict = judge(probe, "41\n")
    assert (verdict.status, verdict.detail) == (PASS, "www.example.com has no answer (0.04 s)")


def test_expect_none_fails_when_failing_is_slow_or_something_answers(probes: Probes, judge: Judge) -> None:
    (probe,) = probes("dns", **{"from": "h2", "name": "www.example.com", "expect": "none", "fail_within": 3})
    slow = judge(probe, ";; connection timed out; no servers could be reached\n4012\n")
    assert (slow.status, slow.detail) == (FAIL, "www.example.com took 4.0 s to fail; expected under 3 s")
    answered = judge(probe, "93.184.216.34\n20\n")
    assert (answered.status, answered.detail) == (FAIL, "www.example.com resolved to 93.184.216.34; expected no answer")
