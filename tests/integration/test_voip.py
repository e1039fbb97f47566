"""The VoIP platform: `labctl up voip-demo` ends green (FreeSWITCH checks SKIPPED with a reason
when its packages are absent), the same holds on a differently shaped topology, and the
negative checks are shown to catch real failures."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.integration.lab import ROOT, labctl, running_lab

SIPNET = str(ROOT / "tests" / "integration" / "data" / "sipnet.yaml")


@pytest.fixture(scope="module")
def voip() -> Iterator[dict[str, Any]]:
    with running_lab("voip-demo", "--junit", "/tmp/labctl-voip.junit.xml") as (plan, up):
        yield {"plan": plan, "up": up}


def test_voip_demo_is_green(voip: dict[str, Any]) -> None:
    """Exit 0 only when every check passed; a skipped check (no FreeSWITCH in the image) makes
    the proof incomplete: exit 3, and the summary line says so. Never 0 with a check skipped."""
    up = voip["up"]
    cases = list(ET.parse("/tmp/labctl-voip.junit.xml").getroot().iter("testcase"))
    skipped = sum(c.find("skipped") is not None for c in cases)
    assert up.returncode == (3 if skipped else 0), f"{up.stdout}\n{up.stderr}"
    verdict = "INCOMPLETE (a skipped check proves nothing)" if skipped else "PASS"
    assert f"demo voip-demo: {verdict}: {len(cases) - skipped} passed, 0 failed, {skipped} skipped" in up.stdout
    assert "total time" in up.stdout


def test_freeswitch_checks_are_skipped_with_a_reason_or_pass(voip: dict[str, Any]) -> None:
    """Read the JUnit report `up` wrote: FreeSWITCH phones' checks pass or say why they were skipped."""
    nodes = voip["plan"]["nodes"]
    fs_phones = {n["name"] for n in nodes if n["phone"] and n["phone"]["registrar_kind"] == "freeswitch"}
    cases = ET.parse("/tmp/labctl-voip.junit.xml").getroot().iter("testcase")
    results = [(c.get("name", ""), c.find("failure"), c.find("skipped")) for c in cases]
    fs_results = [r for r in results if r[0].split()[0] in fs_phones]
    assert fs_results, "the demo has no checks for FreeSWITCH phones"
    for name, failure, skipped in fs_results:
        assert failure is None, name
        if skipped is not None:
            assert "FreeSWITCH is not installed" in skipped.get("message", ""), name
    others = [r for r in results if r[0].split()[0] not in fs_phones]
    assert others and all(f is None and s is None for _, f, s in others), others


@pytest.fixture(scope="module")
def sipnet() -> Iterator[dict[str, Any]]:
    with running_lab(SIPNET) as (plan, up):
        yield {"plan": plan, "up": up}


def test_other_topology_is_green(sipnet: dict[str, Any]) -> None:
    up = sipnet["up"]
    assert up.returncode == 0, f"{up.stdout}\n{up.stderr}"


@pytest.mark.parametrize(
    "check",
    [
        "sip_register_rejected: {from: ben, password: ben-pass-9, timeout: 5}",  # the right password
        "sip_invite_unknown: {from: ann, to: ben, timeout: 5}",  # a user that exists
        "sip_register: {phones: [ann], timeout: 5}",
    ],
)
def test_negative_checks_catch_real_failures(sipnet: dict[str, Any], tmp_path: Path, check: str) -> None:
    """Fed a situation where the expected refusal does not happen, each check must fail."""
    template = "/var/lib/labctl-phone/linphonerc.template"
    if check.startswith("sip_register:"):
        # break registration for real: the phone's password no longer matches LDAP
        broken = f"cp {template} /tmp/rc.bak && sed -i 's/^passwd=.*/passwd=not-the-password/' {template}"
        labctl("exec", "sipnet/ann", "--", "sh", "-c", broken)
    demo = tmp_path / "control.yaml"
    demo.write_text(f"name: control\nchecks:\n  - {check}\n")
    try:
        result = labctl("demo", "run", str(demo), "--lab", "sipnet", "--json", check=False)
        report = json.loads(result.stdout)
        assert result.returncode == 1 and report["results"][0]["status"] == "fail", report
    finally:
        if check.startswith("sip_register:"):
            labctl("exec", "sipnet/ann", "--", "sh", "-c", f"cp /tmp/rc.bak {template} && labctl-phone-restart")


def sip_invite_report(tmp_path: Path, name: str, check: str) -> tuple[int, dict[str, Any]]:
    demo = tmp_path / f"{name}.yaml"
    demo.write_text(f"name: {name}\nchecks:\n  - {check}\n")
    result = labctl("demo", "run", str(demo), "--lab", "sipnet", "--json", check=False)
    report: dict[str, Any] = json.loads(result.stdout)
    return result.returncode, report["results"][0]


def test_calls_carry_voice_both_ways(sipnet: dict[str, Any], tmp_path: Path) -> None:
    """A real call: the tone each phone plays is heard at the other end, with RTP at the ptime's rate."""
    code, result = sip_invite_report(tmp_path, "voice", "sip_invite: {from: ann, to: ben, timeout: 5}")
    assert code == 0 and result["status"] == "pass", result
    detail = result["detail"]
    assert "voice heard both ways: " in detail and " Hz at " in detail and " pkt/s (" in detail, detail


# The callee's interface carries the call; `tc` (iproute2 is in the image, nftables is not) drops
# RTP on it: all of it inbound ("media blocked"), or RTP both ways but not RTCP ("RTCP alone").
INGRESS_RTP_DROP = (
    "tc qdisc add dev {dev} ingress && tc filter add dev {dev} parent ffff: protocol ip prio 1 "
    "u32 match ip protocol 17 0xff match ip dport 7078 0xffff action drop"
)
EGRESS_RTP_DROP = (
    "tc qdisc add dev {dev} root handle 1: prio && tc filter add dev {dev} parent 1: protocol ip prio 1 "
    "u32 match ip protocol 17 0xff match ip sport 7078 0xffff action drop"
)
UNBLOCK = "tc qdisc del dev {dev} ingress 2>/dev/null; tc qdisc del dev {dev} root 2>/dev/null; true"


@pytest.mark.parametrize(
    ("block", "expected"),
    [
        (INGRESS_RTP_DROP, "ben did not hear 1000 Hz"),
        (f"{INGRESS_RTP_DROP} && {EGRESS_RTP_DROP}", "no RTP back (only "),
    ],
    ids=["media-blocked", "rtcp-alone"],
)
def test_a_call_without_voice_fails(sipnet: dict[str, Any], tmp_path: Path, block: str, expected: str) -> None:
    """Negative controls: the call still connects and ends with BYE/200, but no voice gets through."""
    (ben,) = [n for n in sipnet["plan"]["nodes"] if n["name"] == "ben"]
    dev = ben["interfaces"][0]["name"]
    labctl("exec", "sipnet/ben", "--", "sh", "-c", block.format(dev=dev))
    try:
        code, result = sip_invite_report(tmp_path, "blocked", "sip_invite: {from: ann, to: ben, timeout: 5}")
        assert code == 1 and result["status"] == "fail", result
        assert expected in result["detail"] and "no 200 OK" not in result["detail"], result
    finally:
        labctl("exec", "sipnet/ben", "--", "sh", "-c", UNBLOCK.format(dev=dev))
    code, result = sip_invite_report(tmp_path, "unblocked", "sip_invite: {from: ann, to: ben, timeout: 5}")
    assert code == 0 and result["status"] == "pass", f"the call did not recover once unblocked: {result}"
