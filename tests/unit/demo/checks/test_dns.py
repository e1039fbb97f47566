"""labctl.demo.checks.dns: dig probes, `expect` resolution and the judge of dig's answers, fed
with dig's real outputs (tests/unit/demo/checks/outputs.py)."""

from __future__ import annotations

import re

import pytest

from labctl.compile.plan import LabPlan
from labctl.demo.checks.dns import expected_answer
from labctl.demo.model import FAIL, PASS, Probe
from labctl.errors import LabctlError
from tests.unit.demo.checks.outputs import (
    CAPTURED,
    DIG_APEX,
    DIG_BARE_NOSUCH,
    DIG_DOWN,
    DIG_H2,
    DIG_MISSING,
    DIG_NXDOMAIN,
    DIG_R3LAN2,
    DIG_WWW,
    dig,
    out,
)
from tests.unit.demo.conftest import Judge, Probes


def test_expect_plan_takes_the_address_from_the_plan(ospf_dns: LabPlan) -> None:
    assert expected_answer(ospf_dns, "h2") == "10.0.0.6"
    assert expected_answer(ospf_dns, "r3-lan2.ring.lab") == "10.10.1.1"
    with pytest.raises(LabctlError, match=r"no A record for 'www\.example\.com'"):
        expected_answer(ospf_dns, "www.example.com")


def test_one_probe_per_source_whose_command_exits_with_digs_code(probes: Probes) -> None:
    found = probes("dns", **{"from": ["h1", "h2"], "name": "h2"})
    assert [(p.node, p.subject) for p in found] == [("h1", "h1: h2"), ("h2", "h2: h2")]
    assert "dig +search +time=2 +tries=1 h2 A; rc=$?;" in found[0].command
    assert found[0].command.endswith("exit $rc")
    (quoted,) = probes("dns", **{"from": "h1", "name": "h2", "expect": "10.0.0.6"})
    assert quoted.command.count("dig ") == 1


def test_a_name_is_required(probes: Probes) -> None:
    with pytest.raises(LabctlError, match="check dns: needs 'name'"):
        probes("dns", **{"from": "h1"})


def test_the_expected_answer_passes(probes: Probes, judge: Judge) -> None:
    (probe,) = probes("dns", **{"from": "h1", "name": "h2", "expect": "plan"})
    verdict = judge(probe, DIG_H2)
    assert (verdict.status, verdict.detail) == (PASS, "h2 = 10.0.0.6")
    (lan,) = probes("dns", **{"from": "h1", "name": "r3-lan2", "expect": "plan"})
    assert judge(lan, DIG_R3LAN2).status == PASS


def test_a_wrong_or_missing_answer_fails_saying_both(probes: Probes, judge: Judge) -> None:
    (probe,) = probes("dns", **{"from": "h1", "name": "h2"})
    wrong = judge(probe, DIG_H2.replace("10.0.0.6", "10.0.0.5"))
    assert (wrong.status, wrong.detail) == (FAIL, "h2 = 10.0.0.5 (NOERROR from 10.0.0.4); expected 10.0.0.6")
    nxdomain = judge(probe, DIG_NXDOMAIN)
    assert (nxdomain.status, nxdomain.detail) == (FAIL, "h2 = no answer (NXDOMAIN from 10.0.0.4); expected 10.0.0.6")
    two = DIG_H2.replace("\tA\t10.0.0.6\n", "\tA\t10.0.0.6\nh2.ring.lab.\t\t60\tIN\tA\t10.0.0.7\n")
    assert judge(probe, two).detail == "h2 = 10.0.0.6, 10.0.0.7 (NOERROR from 10.0.0.4); expected 10.0.0.6"
    assert judge(probe, DIG_WWW).detail == "h2 = no answer (REFUSED from 10.0.0.4); expected 10.0.0.6"


def test_an_explicit_address_is_expected_as_given(probes: Probes, judge: Judge) -> None:
    (probe,) = probes("dns", **{"from": "h1", "name": "h2", "expect": "10.0.0.6"})
    assert judge(probe, DIG_H2).status == PASS
    (other,) = probes("dns", **{"from": "h1", "name": "h2", "expect": "10.0.0.7"})
    assert judge(other, DIG_H2).status == FAIL


def none(probes: Probes, name: str = "www.example.com") -> Probe:
    (probe,) = probes("dns", **{"from": "h2", "name": name, "expect": "none", "fail_within": 3})
    return probe


def test_expect_none_passes_on_the_servers_own_fast_no(probes: Probes, judge: Judge) -> None:
    refused = judge(none(probes), DIG_WWW)  # outside the zone: no recursion, REFUSED at once
    assert (refused.status, refused.detail) == (PASS, "www.example.com has no address: REFUSED from 10.0.0.4 in 0.62 s")
    nxdomain = judge(none(probes, "nosuch"), DIG_NXDOMAIN)
    assert (nxdomain.status, nxdomain.detail) == (PASS, "nosuch has no address: NXDOMAIN from 10.0.0.4 in 0.02 s")
    no_a = judge(none(probes, "ring.lab"), DIG_APEX)
    assert (no_a.status, no_a.detail) == (PASS, "ring.lab has no address: NOERROR from 10.0.0.4 in 0.02 s")


def test_a_bare_name_is_asked_in_the_lab_domain(probes: Probes, judge: Judge) -> None:
    """dig +search shows only the last name it tried ('nosuch.', REFUSED), so ask nosuch.ring.lab."""
    assert "dig +search +time=2 +tries=1 nosuch.ring.lab A;" in none(probes, "nosuch").command
    assert "dig +search +time=2 +tries=1 www.example.com A;" in none(probes).command
    assert none(probes, "nosuch").subject == "h2: nosuch"
    assert "REFUSED" in DIG_BARE_NOSUCH and ";nosuch.\t" in DIG_BARE_NOSUCH


def test_expect_none_fails_when_failing_is_slow_or_something_answers(probes: Probes, judge: Judge) -> None:
    slow = judge(none(probes), re.sub(r"took \d+ ms", "took 4012 ms", DIG_WWW))
    assert (slow.status, slow.detail) == (FAIL, "www.example.com took 4.0 s to fail; expected under 3 s")
    answered = judge(none(probes), dig("NOERROR", answers=["93.184.216.34"]))
    assert (answered.status, answered.detail) == (FAIL, "www.example.com resolved to 93.184.216.34; expected no answer")
    servfail = judge(none(probes), dig("SERVFAIL", answers=[], flags="qr rd"))
    assert (servfail.status, servfail.detail) == (
        FAIL,
        "www.example.com: 10.0.0.4 answered SERVFAIL; expected NXDOMAIN, NOERROR or REFUSED",
    )


def test_expect_none_inside_the_zone_needs_an_authoritative_no(probes: Probes, judge: Judge) -> None:
    refused = judge(none(probes, "nosuch"), dig("REFUSED", [], "nosuch.ring.lab.", flags="qr rd"))
    assert (refused.status, refused.detail) == (
        FAIL,
        "nosuch: 10.0.0.4 refused nosuch.ring.lab., in its own zone ring.lab: is the zone loaded?",
    )
    hearsay = judge(none(probes, "nosuch"), DIG_NXDOMAIN.replace("flags: qr aa rd;", "flags: qr rd ra;"))
    assert (hearsay.status, hearsay.detail) == (
        FAIL,
        "nosuch: NXDOMAIN from 10.0.0.4 is not authoritative for nosuch.ring.lab.",
    )


@pytest.mark.parametrize("expect", ["none", "plan"])
def test_no_server_answering_is_never_a_pass(probes: Probes, judge: Judge, expect: str) -> None:
    (probe,) = probes("dns", **{"from": "h1", "name": "h2", "expect": expect})
    down = judge(probe, DIG_DOWN, exit_code=9)
    assert (down.status, down.detail) == (
        FAIL,
        "h2: no DNS server answered (exit 9): ;; communications error to 10.0.0.4#53: connection refused",
    )
    www = judge(
        none(probes), out("new_dns_www_named_down"), exit_code=int(str(CAPTURED["new_dns_www_named_down"]["exit_code"]))
    )
    assert www.status == FAIL and www.detail.startswith("www.example.com: no DNS server answered (exit 9)")
    missing = judge(probe, "", exit_code=127, stderr=DIG_MISSING)
    assert (missing.status, missing.detail) == (FAIL, f"h2: dig is not installed (exit 127): {DIG_MISSING.strip()}")


@pytest.mark.parametrize(
    ("exit_code", "stdout", "detail"),
    [
        (0, "", "h2: not dig's answer: no output"),
        (0, ";; labctl: took 12 ms\n", "h2: not dig's answer: ;; labctl: took 12 ms"),
        (0, "10.0.0.6\n12\n", "h2: not dig's answer: 10.0.0.6"),  # the old +short form
        (
            0,
            out("dig_short_www_down"),
            "h2: not dig's answer: ;; communications error to 10.0.0.4#53: connection refused",
        ),
        (0, "garbage \x00\xff\n", "h2: not dig's answer: garbage \x00\xff"),
        (1, "", "h2: dig usage error (exit 1): no output"),
        (10, "", "h2: dig internal error (exit 10): no output"),
        (3, DIG_H2, "h2: unexpected exit (exit 3): " + DIG_H2.strip().splitlines()[0]),
        (-1, "", "h2: unexpected exit (exit -1): no output"),
    ],
)
def test_garbage_and_unexpected_exits_fail(
    probes: Probes, judge: Judge, exit_code: int, stdout: str, detail: str
) -> None:
    for expect in ("none", "plan"):
        (probe,) = probes("dns", **{"from": "h1", "name": "h2", "expect": expect})
        verdict = judge(probe, stdout, exit_code=exit_code)
        assert (verdict.status, verdict.detail) == (FAIL, detail)
        assert judge(probe, DIG_H2.split(";; labctl:")[0]).status == FAIL  # dig's answer without the timing
