"""The VoIP platform: `labctl up voip-demo` ends green with every check run, FreeSWITCH's
included (the default image compiles it from ../shared/vendor/freeswitch or LABCTL_FREESWITCH_SRC;
an image without it, which makes its checks SKIPPED, is the unit tests' business), the same holds
on a differently shaped topology, and the negative checks are shown to catch real failures."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from labctl.state import lab_folder
from tests.integration.lab import ROOT, labctl, running_lab

SIPNET = str(ROOT / "tests" / "integration" / "data" / "sipnet.yaml")


@pytest.fixture(scope="module")
def voip() -> Iterator[dict[str, Any]]:
    with running_lab("voip-demo", "--junit", "/tmp/labctl-voip.junit.xml") as (plan, up):
        yield {"plan": plan, "up": up}


def junit_cases() -> list[tuple[str, str, ET.Element | None, ET.Element | None]]:
    """(check, subject, failure, skipped) of every result in the JUnit report `up` wrote."""
    cases = ET.parse("/tmp/labctl-voip.junit.xml").getroot().iter("testcase")
    return [
        (c.get("classname", "").partition(".")[2], c.get("name", ""), c.find("failure"), c.find("skipped"))
        for c in cases
    ]


def test_voip_demo_is_green(voip: dict[str, Any]) -> None:
    """Exit 0: every check ran and passed. A skipped check (no FreeSWITCH in the image) would make
    the proof incomplete (exit 3): here that is a failure, and the reasons are shown."""
    up = voip["up"]
    cases = junit_cases()
    skipped = [f"{check} {subject}: {s.get('message', '')}" for check, subject, _, s in cases if s is not None]
    assert not skipped, "checks were skipped (is FreeSWITCH in the image?):\n" + "\n".join(skipped)
    assert up.returncode == 0, f"{up.stdout}\n{up.stderr}"
    assert f"demo voip-demo: PASS: {len(cases)} passed, 0 failed, 0 skipped" in up.stdout
    assert "total time" in up.stdout


def test_freeswitch_phones_pass_every_kind_of_check(voip: dict[str, Any]) -> None:
    """Read the JUnit report `up` wrote: the FreeSWITCH phones' checks ran against the real PBX and
    passed, registration, calls, sipp and the negative checks alike, as did everyone else's."""
    nodes = voip["plan"]["nodes"]
    fs_phones = {n["name"] for n in nodes if n["phone"] and n["phone"]["registrar_kind"] == "freeswitch"}
    assert fs_phones, "voip-demo has no FreeSWITCH phones"
    results = junit_cases()
    assert results and all(f is None and s is None for _, _, f, s in results), results
    fs_checks = {check for check, subject, _, _ in results if subject.split()[0] in fs_phones}
    kinds = {
        "sip_register",
        "sip_invite",
        "sipp_register",
        "sipp_invite",
        "sip_register_rejected",
        "sip_invite_unknown",
    }
    assert kinds <= fs_checks, fs_checks


def test_calls_cross_the_two_platforms_both_ways(voip: dict[str, Any]) -> None:
    """Kamailio phones call FreeSWITCH phones and back, by user and by extension, and passed: the
    media went through the PBX's relay (the address its SDP answer named)."""
    nodes = {n["name"]: n for n in voip["plan"]["nodes"]}
    kind = {name: n["phone"]["registrar_kind"] for name, n in nodes.items() if n["phone"]}
    crossing = [
        (subject, failure, skipped)
        for check, subject, failure, skipped in junit_cases()
        if check == "sip_invite" and len({kind[p] for p in subject.split()[0:3:2]}) == 2
    ]
    directions = {(kind[s.split()[0]], "sip:1" in s) for s, _, _ in crossing}  # (caller's platform, by extension)
    assert {k for k, _ in directions} == {"kamailio", "freeswitch"}, crossing
    assert {e for _, e in directions} == {True, False}, crossing
    assert all(f is None and s is None for _, f, s in crossing), crossing


# Sets labeledURI (the home server) of uid=$1 under $2 to $3, bound as the directory's admin ($4's
# rootDN, whose password only the LDAP node's root can read): the SIP servers may only read.
LDAP_HOME = (
    "umask 077; sed -n 's/^olcRootPW: //p' /etc/labctl/ldap/config.ldif | tr -d '\\n' > /run/labctl-admin.pw && "
    'printf \'dn: uid=%s,%s\\nchangetype: modify\\nreplace: labeledURI\\nlabeledURI: %s\\n\' "$1" "$2" "$3" '
    '| ldapmodify -x -H ldapi:/// -D "cn=admin,$4" -y /run/labctl-admin.pw; '
    "rc=$?; rm -f /run/labctl-admin.pw; exit $rc"
)


def set_home(plan: dict[str, Any], user: str, home: str) -> None:
    sip = plan["sip"]
    labctl("exec", "voip-demo/infra", "--", "sh", "-c", LDAP_HOME, "sh", user, sip["people_dn"], home, sip["base_dn"])


def test_calls_follow_the_home_server_ldap_names(voip: dict[str, Any], tmp_path: Path) -> None:
    """Negative control for the routing: with carol's home in LDAP pointed at Kamailio, where she is
    not registered, alice's call to her fails; restored, it passes again. No routing is written per
    user anywhere else."""
    plan = voip["plan"]
    nodes = {n["name"]: n for n in plan["nodes"]}
    set_home(plan, "carol", f"sip:{nodes['proxy']['fqdn']}")
    try:
        code, result = demo_report(tmp_path, "voip-demo", "moved", "sip_invite: {from: alice, to: carol, timeout: 5}")
        assert code == 1 and result["status"] == "fail", result
        assert "no 200 OK to the INVITE (saw 407 480)" in result["detail"], result
    finally:
        set_home(plan, "carol", f"sip:{nodes['pbx']['fqdn']}")
    code, result = demo_report(tmp_path, "voip-demo", "home", "sip_invite: {from: alice, to: carol, timeout: 5}")
    assert code == 0 and result["status"] == "pass", f"the call did not recover with carol's home restored: {result}"


def demo_report(tmp_path: Path, lab: str, name: str, check: str) -> tuple[int, dict[str, Any]]:
    """`demo run` of a one-check demo against a running lab: its exit code and its one result."""
    demo = tmp_path / f"{name}.yaml"
    demo.write_text(f"name: {name}\nchecks:\n  - {check}\n")
    result = labctl("demo", "run", str(demo), "--lab", lab, "--json", check=False)
    report: dict[str, Any] = json.loads(result.stdout)
    return result.returncode, report["results"][0]


@pytest.mark.parametrize(
    "check",
    [
        "sip_invite_unknown: {from: carol, to: dave, timeout: 5}",  # a user FreeSWITCH routes
        "sip_register_rejected: {from: dave, password: dave-secret-1, timeout: 5}",  # the right password
    ],
)
def test_negative_checks_catch_real_failures_on_freeswitch(voip: dict[str, Any], tmp_path: Path, check: str) -> None:
    """Against the real FreeSWITCH, where the expected refusal does not happen, each check must fail.
    (Last on this lab: the right password leaves sipp's binding for dave behind.)"""
    code, result = demo_report(tmp_path, "voip-demo", "control", check)
    assert code == 1 and result["status"] == "fail", result


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
    try:
        code, result = demo_report(tmp_path, "sipnet", "control", check)
        assert code == 1 and result["status"] == "fail", result
    finally:
        if check.startswith("sip_register:"):
            labctl("exec", "sipnet/ann", "--", "sh", "-c", f"cp /tmp/rc.bak {template} && labctl-phone-restart")


def test_calls_carry_voice_both_ways(sipnet: dict[str, Any], tmp_path: Path) -> None:
    """A real call: the tone each phone plays is heard at the other end, with RTP at the ptime's rate."""
    code, result = demo_report(tmp_path, "sipnet", "voice", "sip_invite: {from: ann, to: ben, timeout: 5}")
    assert code == 0 and result["status"] == "pass", result
    detail = result["detail"]
    assert "voice heard both ways: " in detail and " Hz at " in detail and " pkt/s (" in detail, detail
    # its evidence: the SIP and RTP pcaps, kept beside the lab's last report
    assert [path.rsplit("-", 1)[-1] for path in result["evidence"]] == ["sip.pcap", "rtp.pcap"], result
    assert result["evidence_missing"] == [], result
    sip_pcap, rtp_pcap = (lab_folder("sipnet") / "reports" / path for path in result["evidence"])
    assert sip_pcap.read_bytes()[:4] in PCAP_MAGIC and rtp_pcap.read_bytes()[:4] in PCAP_MAGIC
    assert b"INVITE sip:" in sip_pcap.read_bytes() and b"SIP/2.0 200" in sip_pcap.read_bytes()
    assert rtp_pcap.stat().st_size > 100 * 60  # 100 RTP packets at least (headers: -s 96)


PCAP_MAGIC = (b"\xd4\xc3\xb2\xa1", b"\xa1\xb2\xc3\xd4")


def start_capture(*args: str) -> subprocess.Popen[str]:
    """`labctl capture ARGS` in the background, once it has said where it listens."""
    argv = [sys.executable, "-m", "labctl", "capture", *args]
    capture = subprocess.Popen(argv, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert capture.stderr is not None and capture.stderr.readline().startswith("capturing "), capture.communicate()
    return capture


def read_back(pcap: Path, bpf: str, ascii_too: bool = False) -> str:
    """What tcpdump -r reads of a pcap: one line per packet (and its payload as text with -A)."""
    argv = ["tcpdump", "-nn", "-r", str(pcap), *(["-A"] if ascii_too else []), bpf]
    return subprocess.run(argv, capture_output=True, text=True, timeout=60, check=True).stdout


def test_a_capture_on_the_callee_s_port_holds_the_call_s_invite_and_rtp(sipnet: dict[str, Any], tmp_path: Path) -> None:
    """`labctl capture` on the host side of ben's LAN port during a call from ann: the pcap, read back
    with tcpdump -r, holds the INVITE to ben and the call's RTP both ways. Negative control: the same
    capture on cy's port (another LAN) holds neither. And `-w -` streams a pcap that tcpdump -r - reads."""
    ben, cy = tmp_path / "ben.pcap", tmp_path / "cy.pcap"
    running = [
        start_capture("sipnet/ben", "east", "-w", str(ben)),
        start_capture("sipnet", "cy", "south", "-w", str(cy)),
    ]
    try:
        code, result = demo_report(tmp_path, "sipnet", "captured", "sip_invite: {from: ann, to: ben, timeout: 5}")
    finally:
        for capture in running:
            capture.send_signal(signal.SIGINT)  # labctl hands it on to tcpdump, which flushes and stops
            _, said = capture.communicate(timeout=60)
            assert capture.returncode == 0 and " packets captured into " in said, said
    assert code == 0 and result["status"] == "pass", result
    assert ben.read_bytes()[:4] in PCAP_MAGIC and (ben.stat().st_mode & 0o777) == 0o600
    assert "INVITE sip:ben@" in read_back(ben, "udp port 5060", ascii_too=True)
    rtp = read_back(ben, "udp port 7078").splitlines()
    (ben_node,) = [n for n in sipnet["plan"]["nodes"] if n["name"] == "ben"]
    mine = {ben_node["address"], *(i["address"].split("/")[0] for i in ben_node["interfaces"])}
    towards = sum(1 for line in rtp if any(f" > {a}." in line for a in mine))
    back = sum(1 for line in rtp if any(f"IP {a}." in line for a in mine))
    assert towards > 100 and back > 100, (towards, back)  # 3 s of voice at 50 packets a second, each way
    assert "INVITE" not in read_back(cy, "udp port 5060", ascii_too=True) and read_back(cy, "udp port 7078") == ""
    # a stream: two pings from ben, captured as they pass and read from the pipe by tcpdump
    stream = subprocess.Popen(
        [sys.executable, "-m", "labctl", "capture", "sipnet/ben", "east", "-w", "-", "-c", "2", "-f", "icmp"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    time.sleep(3)
    gw = next(n for n in sipnet["plan"]["nodes"] if n["name"] == "gw")
    labctl("exec", "sipnet/ben", "--", "ping", "-c", "3", "-W", "2", gw["address"], check=False)
    piped = subprocess.run(
        ["tcpdump", "-nn", "-r", "-"], stdin=stream.stdout, capture_output=True, text=True, timeout=60
    )
    assert stream.wait(60) == 0 and len(piped.stdout.splitlines()) == 2 and "ICMP echo" in piped.stdout, piped


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
        code, result = demo_report(tmp_path, "sipnet", "blocked", "sip_invite: {from: ann, to: ben, timeout: 5}")
        assert code == 1 and result["status"] == "fail", result
        assert expected in result["detail"] and "no 200 OK" not in result["detail"], result
    finally:
        labctl("exec", "sipnet/ben", "--", "sh", "-c", UNBLOCK.format(dev=dev))
    code, result = demo_report(tmp_path, "sipnet", "unblocked", "sip_invite: {from: ann, to: ben, timeout: 5}")
    assert code == 0 and result["status"] == "pass", f"the call did not recover once unblocked: {result}"
