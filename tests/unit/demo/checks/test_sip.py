"""labctl.demo.checks.sip: the FreeSWITCH gate, parameters, and every SIP judge fed real outputs.

The fixtures under data/ are the stdout of the probe scripts, run by hand with `labctl exec` on
a 3-node lab (data/sipm.yaml: srv = dns + ldap + kamailio, phones pa 10.10.0.2 and pb 10.10.0.3):
- sip_invite_pass*.txt: G.711 calls (and one Opus call) that carried voice both ways;
- sip_invite_trickle.txt: the callee with no play file (the phone recipe before this fix): it
  sends no RTP at all, only ICE/STUN checks and RTCP, about 3 packets a second;
- sip_invite_late_sender.txt: Opus under TCG, the sender fell behind real time (~35 packets/s);
- sip_invite_callee_drops_rtp.txt: `tc` drops UDP to port 7078 on the callee's ingress;
- sip_invite_rtcp_only.txt: `tc` drops RTP (port 7078) both ways on the callee; RTCP (7079) passes;
- sip_register_wrong_password.txt: the phone's password no longer matches LDAP;
  (the sip_invite files above were captured before the probe kept SDP lines: the answer's
  `c=IN IP4 <callee>` and `m=audio 7078` were added by hand after its 200 OK, as the RTP shows them)
- sip_invite_kamailio_to_freeswitch.txt, sip_invite_freeswitch_to_kamailio_extension.txt,
  sip_invite_freeswitch_pass.txt: real calls on voip-demo (alice -> carol, carol -> 1001,
  dave -> carol) with FreeSWITCH (pbx 10.0.0.5) relaying the media, captured on the caller;
- sip_invite_relay_drops_rtp.txt: alice -> carol with `tc` dropping UDP to the PBX's RTP ports
  (16384-16639) on its ingress: the call connects and ends with BYE/200, but no voice;
- sip_invite_unknown_no_sdp.txt: FreeSWITCH's answer to the bodiless INVITE sipp sent to an
  unknown user before its scenarios carried SDP (480, resent: sipp gave up without an ACK),
  written from the codes of that voip-demo run.
"""

from __future__ import annotations

import dataclasses
import math
import os
import stat
import struct
import subprocess
import sys
from pathlib import Path
from xml.etree import ElementTree as ET

import pytest

from labctl.backends.base import ExecResult
from labctl.compile import compile_topology
from labctl.compile.plan import LabPlan
from labctl.demo.checks import sip
from labctl.demo.model import FAIL, PASS, Probe, Verdict
from labctl.errors import LabctlError
from labctl.topology.schema import load_topology
from tests.unit.demo.conftest import REPO, Probes, shipped_plan
from tests.unit.render.golden import rendered

DATA = Path(__file__).parent / "data"
MEDIA_SCRIPT = REPO / "vm-recipes" / "phone" / "labctl-media.py.j2"


def fixture(name: str) -> str:
    return (DATA / name).read_text()


@pytest.fixture(scope="module")
def sipm() -> LabPlan:
    return compile_topology(load_topology(DATA / "sipm.yaml"))


@pytest.fixture(scope="module")
def sipmfs() -> LabPlan:
    return compile_topology(load_topology(DATA / "sipmfs.yaml"))


def run(probe: Probe, stdout: str, exit_code: int = 0, stderr: str = "") -> Verdict:
    return probe.judge(ExecResult(exit_code, stdout, stderr))


# -- the FreeSWITCH gate -------------------------------------------------------------------
def gate(tmp_path: Path, plan: LabPlan, tools: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """Run the gate's shell command on this host with only `tools` (name -> sh body) in PATH."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    for name, body in tools.items():
        (bin_dir / name).write_text(f"#!/bin/sh\n{body}\n")
        (bin_dir / name).chmod(stat.S_IRWXU)
    ph = plan.node("carol").phone
    assert ph is not None
    found = sip.registrar_gate(plan, ph)
    assert found is not None and found[0] == "pbx"
    return subprocess.run(["/bin/sh", "-c", found[1]], env={"PATH": str(bin_dir)}, capture_output=True, text=True)


def test_the_gate_skips_on_the_positive_finding_that_freeswitch_is_absent(tmp_path: Path) -> None:
    plan = shipped_plan("voip-demo")
    absent = gate(
        tmp_path, plan, {"dpkg-query": "echo 'dpkg-query: no packages found matching freeswitch' >&2; exit 1"}
    )
    assert (absent.returncode, absent.stdout) == (0, "SKIP: FreeSWITCH is not installed in this node's image (pbx)\n")


@pytest.mark.parametrize(
    "tools",
    [
        {"freeswitch": "exit 0", "dpkg-query": "exit 1"},  # a binary in PATH
        {"dpkg-query": "printf 'install ok installed'"},  # the package
    ],
)
def test_the_gate_goes_on_when_freeswitch_is_there(tmp_path: Path, tools: dict[str, str]) -> None:
    result = gate(tmp_path, shipped_plan("voip-demo"), tools)
    assert (result.returncode, result.stdout) == (0, "")


def test_the_gate_fails_when_it_cannot_tell(tmp_path: Path) -> None:
    """No dpkg-query: not a positive finding, so not a skip (the runner makes it FAIL)."""
    result = gate(tmp_path, shipped_plan("voip-demo"), {})
    assert result.returncode != 0 and "SKIP:" not in result.stdout


@pytest.mark.parametrize(
    "dpkg_query",
    [
        "printf 'deinstall ok config-files'",  # removed, its configuration kept
        "printf 'unknown ok not-installed'",  # known to dpkg, never installed
    ],
)
def test_the_gate_skips_on_a_status_that_is_plainly_not_installed(tmp_path: Path, dpkg_query: str) -> None:
    result = gate(tmp_path, shipped_plan("voip-demo"), {"dpkg-query": dpkg_query})
    assert (result.returncode, result.stdout) == (0, "SKIP: FreeSWITCH is not installed in this node's image (pbx)\n")


@pytest.mark.parametrize(
    ("dpkg_query", "said"),
    [
        ("echo 'dpkg-query: error: cannot access archive' >&2; exit 2", "exited 2: dpkg-query: error"),
        ("echo 'dpkg-query: no packages found matching freeswitch' >&2; exit 2", "exited 2"),  # not exit 1
        ("exit 1", "exited 1: "),  # exit 1 without saying "no packages found"
        ("printf 'install ok half-installed'", "exited 0: install ok half-installed"),
        ("printf ''", "exited 0: "),  # empty
        ("printf 'garbage\\033[31m'", "exited 0: "),  # garbage
    ],
)
def test_the_gate_fails_when_the_package_check_itself_fails(tmp_path: Path, dpkg_query: str, said: str) -> None:
    result = gate(tmp_path, shipped_plan("voip-demo"), {"dpkg-query": dpkg_query})
    assert result.returncode == 1
    assert result.stdout.startswith(f"cannot tell: dpkg-query {said}")
    assert "SKIP:" not in result.stdout


def test_kamailio_phones_have_no_gate(sipm: LabPlan) -> None:
    ph = sipm.node("pa").phone
    assert ph is not None and sip.registrar_gate(sipm, ph) is None


def test_the_reason_is_written_once() -> None:
    """The role declares it (vm-recipes/freeswitch/recipe.yaml `skip`); the recipe and the gate both use that."""
    written = [
        path
        for folder in ("labctl", "vm-recipes")
        for path in sorted((REPO / folder).rglob("*"))
        if path.is_file() and path.suffix in (".py", ".yaml", ".j2") and "is not installed in this" in path.read_text()
    ]
    assert written == [REPO / "vm-recipes" / "freeswitch" / "recipe.yaml"]


def test_freeswitch_phones_are_gated_in_every_sip_check(probes: Probes) -> None:
    plan = shipped_plan("voip-demo")
    cases: list[tuple[str, dict[str, object]]] = [
        ("sip_register", {"phones": ["carol"]}),
        ("sip_invite", {"from": "carol", "to": "dave"}),
        ("sipp_register", {"from": "dave"}),
        ("sip_invite_unknown", {"from": "carol", "to": "nobody"}),
    ]
    for check, params in cases:
        (probe,) = probes(check, plan, **params)
        assert probe.skip_unless is not None and probe.skip_unless[0] == "pbx", check


# -- parameters ----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("check", "params", "message"),
    [
        ("sip_register", {"phones": []}, "check sip_register: phones is empty"),
        ("sip_register", {"phones": 5}, "check sip_register: phones must be a phone name or a list"),
        ("sip_register", {"phones": [{"a": 1}]}, "phones must be a phone name or a list"),
        ("sip_invite", {"from": "pa", "to": "pb", "media_seconds": 0}, "media_seconds must be a number from 1 to 30"),
        ("sip_invite", {"from": "pa", "to": "pb", "media_seconds": -2}, "media_seconds must be a number from 1"),
        ("sip_invite", {"from": "pa", "to": "pb", "media_seconds": 0.5}, "media_seconds must be a number from 1"),
        ("sip_invite", {"from": "pa", "to": "pb", "media_seconds": "lots"}, "not 'lots'"),
        ("sip_invite", {"from": "pa", "to": "pb", "media_seconds": True}, "media_seconds must be a number"),
        ("sip_invite", {"from": "pa", "to": "pb", "media_seconds": math.nan}, "media_seconds must be a number"),
        ("sip_invite", {"from": "pa", "to": "pb", "media_seconds": 1e308}, "media_seconds must be a number"),
        ("sip_invite", {"from": 5, "to": "pb"}, "check sip_invite needs 'from': one phone name"),
        ("sip_invite", {"from": ["pa", "pb"], "to": "pb"}, "needs 'from': one phone name"),
        ("sip_invite", {"from": "pa"}, "check sip_invite needs 'to'"),
        ("sip_invite", {"from": "pa", "to": "pa"}, "a phone cannot call itself"),
        ("sip_invite", {"from": "pa", "to": "srv"}, "node 'srv' is not a phone"),
        ("sip_invite", {"from": "pa", "to": "pb", "dial": 7}, "dial must be a non-empty string"),
        ("sipp_register", {"from": []}, "check sipp_register: from is empty"),
        ("sipp_invite", {"from": "pa", "to": ["pb"]}, "check sipp_invite: to must be a non-empty string"),
        ("sip_register_rejected", {"from": "pb", "password": 12}, "password must be a non-empty string"),
    ],
)
def test_vacuous_or_wrong_parameters_are_refused(
    probes: Probes, sipm: LabPlan, check: str, params: dict[str, object], message: str
) -> None:
    with pytest.raises(LabctlError, match=message.replace("(", r"\(")):
        probes(check, sipm, **params)


def test_sip_checks_refuse_a_lab_without_phones(probes: Probes) -> None:
    for check in ("sip_register", "sipp_register"):
        with pytest.raises(LabctlError, match=f"check {check}: the lab has no phones"):
            probes(check)  # ospf-dns


def test_one_phone_in_a_list_is_accepted(probes: Probes, sipm: LabPlan) -> None:
    (probe,) = probes("sip_invite", sipm, **{"from": ["pa"], "to": "pb", "media_seconds": 5})
    assert probe.node == "pa" and "sleep 7" in probe.command and "$M fetch 10.10.0.3 5072" in probe.command
    assert "M=/usr/local/sbin/labctl-media;" in probe.command  # the phone recipe's declared path


def test_the_sip_captures_are_pcaps_kept_as_evidence_and_read_back_for_the_judge(probes: Probes, sipm: LabPlan) -> None:
    """Each SIP capture is a bounded pcap (-c) at the path the probe declares as its evidence; the judge
    reads tcpdump -A of it; a stale one of an earlier run is removed first."""
    (register,) = probes("sip_register", sipm, phones="pa")
    (call,) = probes("sip_invite", sipm, **{"from": "pa", "to": "pb"})
    for probe, sip_pcap in ((register, "$W"), (call, "$S")):
        (sip_evidence, *_) = probe.evidence
        assert sip_evidence.label == "sip" and sip_evidence.path in probe.command
        assert f"-s0 -c {sip.MAX_SIP_PACKETS} -w {sip_pcap} 'udp port 5060'" in probe.command
        assert f"tcpdump -nn -A -r {sip_pcap} 2>/dev/null | grep -aoE" in probe.command
        assert f"rm -f {sip_pcap}" in probe.command
    assert [e.label for e in call.evidence] == ["sip", "rtp"]
    assert f"P={call.evidence[1].path}" in call.command and "-s 96 -w $P" in call.command


# -- sip_register --------------------------------------------------------------------------
@pytest.fixture
def register_probe(probes: Probes, sipm: LabPlan) -> Probe:
    (probe,) = probes("sip_register", sipm, phones="pa")
    return probe


def test_register_passes_on_a_real_registration(register_probe: Probe) -> None:
    verdict = run(register_probe, fixture("sip_register_pass.txt"))
    assert (verdict.status, verdict.detail) == (PASS, "pa: REGISTER 401 then 200 on the wire; linphone registered")


def test_register_fails_on_a_wrong_password(register_probe: Probe) -> None:
    verdict = run(register_probe, fixture("sip_register_wrong_password.txt"))
    assert verdict.status == FAIL
    assert verdict.detail == "no 401/407 then 200 for REGISTER on the wire (saw 401 403); linphone says: registered=-1"


def sipp_sends(scenario: str) -> list[list[str]]:
    """The messages a sipp scenario sends, as rendered for voip-demo's alice, each as its lines
    stripped of their indentation (as sipp reads them)."""
    step = rendered(REPO / "topologies" / "voip-demo.yaml")["alice"]["phone"]
    (content,) = [f.content for f in step.files if f.path == f"{sip.phone_role().path('sipp')}/{scenario}"]
    root = ET.fromstring(content.encode("latin-1"))
    return [[line.strip() for line in (send.text or "").strip().splitlines()] for send in root.iter("send")]


@pytest.mark.parametrize("scenario", ["uac-invite.xml", "uac-404.xml"])
def test_every_invite_sipp_sends_carries_an_sdp_offer_at_its_own_address(scenario: str) -> None:
    """FreeSWITCH refuses an INVITE without SDP (480) before it looks at the called user, so a
    bodiless INVITE to an unknown user could never get its 404 there."""
    invites = [lines for lines in sipp_sends(scenario) if lines[0].startswith("INVITE ")]
    assert len(invites) == 2  # before and after the 407 challenge
    for lines in invites:
        blank = lines.index("")
        headers, body = lines[:blank], lines[blank + 1 :]
        assert {"Content-Type: application/sdp", "Content-Length: [len]"} <= set(headers)
        assert body[0] == "v=0"
        assert "c=IN IP[media_ip_type] [media_ip]" in body  # sipp's own address (-i; no -mi)
        assert "m=audio [media_port] RTP/AVP 0 8" in body
        assert {"a=rtpmap:0 PCMU/8000", "a=rtpmap:8 PCMA/8000"} <= set(body)


@pytest.mark.parametrize(
    ("stdout", "exit_code", "detail"),
    [
        ("", 0, "cut short"),
        ("\x00\xff garbage\n--- end\n", 0, "restarting the phone failed (exit ?)"),
        (
            "--- restart\n0\n--- status\nregistered, x\n--- sip\nSIP/2.0 200 OK\nCSeq: 1 REGISTER\n--- end\n",
            0,
            "saw 200",
        ),
        (fixture("sip_register_pass.txt"), 1, "the probe script exited 1"),
        (fixture("sip_register_pass.txt").replace("--- end\n", ""), 0, "cut short"),
        (
            fixture("sip_register_pass.txt").replace("--- restart\n0", "--- restart\n1"),
            0,
            "restarting the phone failed",
        ),
        (fixture("sip_register_pass.txt").replace("registered, ", "unregistered, "), 0, "but linphone says"),
    ],
)
def test_register_fails_on_empty_garbage_or_an_unexpected_exit(
    register_probe: Probe, stdout: str, exit_code: int, detail: str
) -> None:
    verdict = run(register_probe, stdout, exit_code)
    assert verdict.status == FAIL and detail in verdict.detail, verdict


def test_transcript_pairs_status_and_method() -> None:
    wire = sip.transcript(sip.section(fixture("sip_register_pass.txt"), "sip"))
    assert wire == [("REGISTER", "REGISTER"), ("401", "REGISTER"), ("REGISTER", "REGISTER"), ("200", "REGISTER")]
    assert sip.transcript("SIP/2.0\nCSeq:\n\x00garbage\nCSeq: 3 BYE") == []


# -- sip_invite ----------------------------------------------------------------------------
@pytest.fixture
def call_probe(probes: Probes, sipm: LabPlan) -> Probe:
    (probe,) = probes("sip_invite", sipm, **{"from": "pa", "to": "pb"})
    return probe


def test_a_real_call_is_voice_heard_both_ways(call_probe: Probe) -> None:
    verdict = run(call_probe, fixture("sip_invite_pass.txt"))
    assert verdict.status == PASS, verdict.detail
    assert verdict.detail == (
        "200 OK; voice heard both ways: 999 Hz at -6 dBFS out, 600 Hz at -6 dBFS back; "
        "RTP (10.10.0.3:7078) out 50.1 pkt/s (297 pkts, 0 lost), back 49.8 pkt/s (341 pkts, 0 lost) at 20 ms; BYE/200"
    )


def test_opus_and_longer_calls_pass_too(probes: Probes, sipm: LabPlan, call_probe: Probe) -> None:
    assert run(call_probe, fixture("sip_invite_pass_opus.txt")).status == PASS
    (back,) = probes("sip_invite", sipm, **{"from": "pb", "to": "pa", "dial": "extension", "media_seconds": 5})
    assert back.subject == "pb -> pa (sip:101@m.lab)"
    verdict = run(back, fixture("sip_invite_pass_5s_extension.txt"))
    assert verdict.status == PASS and "RTP (10.10.0.2:7078) out 50.1 pkt/s (410 pkts, 0 lost)" in verdict.detail


@pytest.mark.parametrize(
    ("name", "details"),
    [
        # what the old judge passed as "RTP 5.2 s out (21 pkts)": no RTP at all, ICE checks and RTCP
        ("sip_invite_trickle.txt", ["no RTP back (only 3 RTCP packets)", "pb: no recording", "pa: no recording"]),
        ("sip_invite_rtcp_only.txt", ["no RTP back (only 4 RTCP packets)", "pb did not hear 1000 Hz (0.0 s of it"]),
        ("sip_invite_callee_drops_rtp.txt", ["pb did not hear 1000 Hz (0.0 s of it, wanted 2.4 s)"]),
        ("sip_invite_not_registered.txt", ["pa is not registered: registered=-1"]),
    ],
)
def test_calls_without_voice_fail_saying_why(call_probe: Probe, name: str, details: list[str]) -> None:
    verdict = run(call_probe, fixture(name))
    assert verdict.status == FAIL
    for detail in details:
        assert detail in verdict.detail, verdict.detail


def test_a_sender_that_falls_behind_real_time_fails(probes: Probes, sipm: LabPlan) -> None:
    """pb called pa with Opus: every sequence number arrived, but only ~35 of 50 packets a second."""
    (probe,) = probes("sip_invite", sipm, **{"from": "pb", "to": "pa", "dial": "extension"})
    verdict = run(probe, fixture("sip_invite_late_sender.txt"))
    assert verdict.status == FAIL
    assert verdict.detail == "RTP out is a trickle: 256 packets in 7.2 s (35.2/s), expected 363 at 20 ms"


def test_the_media_must_last_as_long_as_asked(probes: Probes, sipm: LabPlan) -> None:
    (probe,) = probes("sip_invite", sipm, **{"from": "pa", "to": "pb", "media_seconds": 10})
    verdict = run(probe, fixture("sip_invite_pass.txt"))
    assert verdict.status == FAIL and "RTP out lasted 5.9 s (< 10 s)" in verdict.detail


@pytest.mark.parametrize(
    ("stdout", "exit_code", "detail"),
    [
        ("", 0, "cut short"),
        ("", 124, "the probe script exited 124"),
        ("\x00\x01binary garbage\n--- end\n", 0, "no 200 OK to the INVITE (saw nothing)"),
        (fixture("sip_invite_pass.txt"), 137, "the probe script exited 137"),
        (fixture("sip_invite_pass.txt").replace("--- end\n", ""), 0, "cut short"),
        (fixture("sip_invite_pass.txt").replace("SIP/2.0 200 Ok\n", "SIP/2.0 486 Busy\n"), 0, "no 200 OK to the"),
        (fixture("sip_invite_pass.txt").replace(" connected.", " failed."), 0, "never said the call connected"),
        (fixture("sip_invite_pass.txt").replace("CSeq: 22 BYE", "CSeq: 22 OPTIONS"), 0, "no BYE answered"),
        (fixture("sip_invite_pass.txt").replace("--- far\n", "--- far\nerror: no answer\n"), 0, "pb: error"),
    ],
)
def test_a_call_fails_on_empty_garbage_or_an_unexpected_exit(
    call_probe: Probe, stdout: str, exit_code: int, detail: str
) -> None:
    verdict = run(call_probe, stdout, exit_code)
    assert verdict.status == FAIL and detail in verdict.detail, verdict.detail


def test_rtp_is_told_from_rtcp_and_ice_and_its_sequence_unwrapped() -> None:
    lines = [
        "p 10.000 10.0.0.1:7078 10.0.0.2:7078 0 1 0 554869826 1 20",  # STUN: version 0
        "p 10.001 10.0.0.1:7079 10.0.0.2:7079 129 200 44 1 7 52",  # RTCP sender report
        *(
            f"p {10 + i * 0.02:.3f} 10.0.0.1:7078 10.0.0.2:7078 128 0 {(65530 + i) % 65536} {i * 160} 9 172"
            for i in range(8)
        ),
        "p 10.500 10.0.0.1:7078 10.0.0.2:7078 128 0 4 800 9 172",  # 65530..65535, 0, 1 seen; 2, 3 lost
        "p 10.600 10.0.0.1:7078 10.0.0.2:7078 128 0 9 800 9 172",  # 5..8 lost
        "garbage line",
        "p x 10.0.0.1:7078 10.0.0.2:7078 128 0 9 800 9 172",
    ]
    rows = sip.rtp_packets("\n".join(lines))
    assert len(rows) == 12
    stream = sip.stream(rows, {"10.0.0.1"}, {"10.0.0.2"})
    assert (stream.packets, stream.rtcp, stream.lost, stream.gaps, stream.ssrcs) == (10, 1, 6, 2, 1)
    assert stream.payload_types == (0,) and stream.seconds == pytest.approx(0.6)
    assert sip.stream(rows, {"10.0.0.2"}, {"10.0.0.1"}) == sip.Stream(0, 0, 0.0, 0, 0, 0, ())


def test_a_stream_with_holes_fails() -> None:
    whole = sip.Stream(packets=300, rtcp=3, seconds=6.0, lost=0, gaps=0, ssrcs=1, payload_types=(0,))
    assert sip.judge_stream("out", whole, 20, 3) is None
    holed = sip.Stream(packets=290, rtcp=3, seconds=6.0, lost=11, gaps=4, ssrcs=1, payload_types=(0,))
    assert sip.judge_stream("out", holed, 20, 3) == "RTP out lost 11 of 301 packets in 4 gaps"
    assert "expected 61 at 100 ms" not in (sip.judge_stream("out", whole, 100, 3) or "")


# -- relayed media (FreeSWITCH) ------------------------------------------------------------
def relayed(real: str, pbx: str) -> str:
    """A Kamailio capture (pa 10.10.0.2 <-> pb 10.10.0.3) as the wire would carry it through a PBX
    at `pbx` that relays the media: pa <-> pbx, and the SDP answer naming the PBX."""
    return real.replace("10.10.0.3:", f"{pbx}:").replace("c=IN IP4 10.10.0.3", f"c=IN IP4 {pbx}")


def test_a_freeswitch_call_is_judged_on_the_media_to_the_pbx(probes: Probes, sipmfs: LabPlan) -> None:
    """In sipmfs, pa 10.10.0.3 and pb 10.10.0.4 register to pbx 10.10.0.2, which relays RTP through itself."""
    caller, callee = sipmfs.node("pa"), sipmfs.node("pb")
    assert sip.media_peer(sipmfs, caller, callee).name == "pbx"
    (probe,) = probes("sip_invite", sipmfs, **{"from": "pa", "to": "pb"})
    swapped = fixture("sip_invite_pass.txt").replace("10.10.0.2", "10.10.0.9")  # the caller pa: 10.10.0.3
    through_pbx = relayed(swapped, "10.10.0.2").replace("10.10.0.9", "10.10.0.3")
    verdict = run(probe, through_pbx)
    assert verdict.status == PASS and "RTP via pbx (10.10.0.2:7078) out 50.1 pkt/s" in verdict.detail, verdict.detail


def test_a_relayed_call_whose_answer_names_the_callee_fails(probes: Probes, sipmfs: LabPlan) -> None:
    """RTP straight between the phones is not what a relaying PBX puts on the wire."""
    (probe,) = probes("sip_invite", sipmfs, **{"from": "pa", "to": "pb"})
    direct = fixture("sip_invite_pass.txt").replace("10.10.0.3", "10.10.0.4").replace("10.10.0.2", "10.10.0.3")
    verdict = run(probe, direct)
    assert verdict.status == FAIL
    assert "the SDP answer sends the media to 10.10.0.4, not to pbx, which relays the media" in verdict.detail


def test_a_kamailio_call_whose_answer_names_someone_else_fails(call_probe: Probe) -> None:
    """Where media flows phone to phone, the answer must name the callee: RTP to a third party, even
    plenty of it, proves nothing about the callee."""
    verdict = run(call_probe, relayed(fixture("sip_invite_pass.txt"), "10.10.0.7"))
    assert verdict.status == FAIL
    assert "the SDP answer sends the media to 10.10.0.7, not to the callee pb, phone to phone" in verdict.detail


def test_rtp_to_a_port_other_than_the_answers_does_not_count(call_probe: Probe) -> None:
    moved = fixture("sip_invite_pass.txt").replace("m=audio 7078", "m=audio 7080")
    verdict = run(call_probe, moved)
    assert verdict.status == FAIL and "no RTP out" in verdict.detail and "no RTP back" in verdict.detail


@pytest.mark.parametrize(
    "sdp",
    ["", "c=IN IP4 10.10.0.3\n", "m=audio 7078\n", "c=IN IP4 10.10.0.3\nm=audio x\n"],
    ids=["none", "no-m", "no-c", "garbage-port"],
)
def test_a_call_whose_200_ok_carries_no_usable_sdp_fails(call_probe: Probe, sdp: str) -> None:
    text = fixture("sip_invite_pass.txt").replace("c=IN IP4 10.10.0.3\nm=audio 7078\n", sdp)
    verdict = run(call_probe, text)
    assert verdict.status == FAIL
    assert "the 200 OK to the INVITE carried no SDP answer (c= and m=audio) on the wire" in verdict.detail


def test_the_sdp_answer_is_the_one_in_the_200_ok_not_the_offer_or_an_early_answer() -> None:
    transcript = "\n".join(
        [
            "INVITE sip:b@x SIP/2.0", "CSeq: 1 INVITE", "c=IN IP4 10.0.0.1", "m=audio 7078",  # our offer
            "SIP/2.0 183 Session Progress", "CSeq: 1 INVITE", "c=IN IP4 10.0.0.8", "m=audio 4000",  # early media
            "SIP/2.0 200 OK", "CSeq: 1 INVITE", "c=IN IP4 10.0.0.9", "m=audio 16384",
            "ACK sip:b@x SIP/2.0", "CSeq: 1 ACK",
        ]
    )  # fmt: skip
    assert sip.sdp_answer(transcript) == ("10.0.0.9", 16384)
    assert sip.sdp_answer("") is None
    assert sip.sdp_answer("SIP/2.0 200 OK\nCSeq: 2 BYE\nc=IN IP4 10.0.0.9\nm=audio 1\n") is None


@pytest.fixture(scope="module")
def voip() -> LabPlan:
    return compile_topology(load_topology(REPO / "topologies" / "voip-demo.yaml"))


@pytest.mark.parametrize(
    ("caller", "callee", "dial", "name", "answer"),
    [
        ("alice", "carol", "user", "sip_invite_kamailio_to_freeswitch.txt", "10.0.0.5:16494"),
        ("carol", "alice", "extension", "sip_invite_freeswitch_to_kamailio_extension.txt", "10.0.0.5:16390"),
        ("dave", "carol", "user", "sip_invite_freeswitch_pass.txt", "10.0.0.5:16578"),
    ],
)
def test_real_calls_through_freeswitch_pass_on_the_media_to_the_relay(
    probes: Probes, voip: LabPlan, caller: str, callee: str, dial: str, name: str, answer: str
) -> None:
    """Real captures: whichever side FreeSWITCH is on, the caller's media goes to the PBX's relay port
    the 200 OK named, at the ptime's rate, both ways, and the tones were heard."""
    (probe,) = probes("sip_invite", voip, **{"from": caller, "to": callee, "dial": dial})
    verdict = run(probe, fixture(name))
    assert verdict.status == PASS, verdict.detail
    assert f"RTP via pbx ({answer}) out 50." in verdict.detail and "voice heard both ways" in verdict.detail


def test_a_real_relayed_call_whose_relay_drops_the_media_fails(probes: Probes, voip: LabPlan) -> None:
    (probe,) = probes("sip_invite", voip, **{"from": "alice", "to": "carol"})
    verdict = run(probe, fixture("sip_invite_relay_drops_rtp.txt"))
    assert verdict.status == FAIL
    assert "no RTP back" in verdict.detail and "carol did not hear 1000 Hz" in verdict.detail, verdict.detail


def test_a_real_relayed_call_judged_as_phone_to_phone_fails(probes: Probes, voip: LabPlan) -> None:
    """The same real capture, judged as if the call were Kamailio's (media straight to carol): the answer
    names the PBX, not carol, so the stricter check does not pass it."""
    judge = sip.judge_call(voip.node("alice"), voip.node("carol"), voip.node("carol"), 3)
    verdict = judge(ExecResult(0, fixture("sip_invite_kamailio_to_freeswitch.txt"), ""))
    assert verdict.status == FAIL and "not to the callee carol, phone to phone" in verdict.detail


def test_a_kamailio_call_expects_the_media_between_the_phones(sipm: LabPlan) -> None:
    assert sip.media_peer(sipm, sipm.node("pa"), sipm.node("pb")).name == "pb"


# -- the tone judge ------------------------------------------------------------------------
def test_the_tone_is_measured_from_the_recording_numbers() -> None:
    heard = sip.heard(sip.section(fixture("sip_invite_pass.txt"), "far"), 1000)
    assert isinstance(heard, sip.Heard)
    assert (heard.seconds, round(heard.level), round(heard.frequency)) == (5.9, -6, 999)
    other = sip.heard(sip.section(fixture("sip_invite_pass.txt"), "far"), 600)
    assert isinstance(other, sip.Heard) and other.seconds == 0


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("", "no answer"),
        ("missing /var/lib/labctl-phone/rx.wav\nend\n", "no recording"),
        ("error ValueError: not a WAV file\n", "error ValueError: not a WAV file"),
        (
            "wav rate=8000 seconds=0.20 blocks=2 level=-6.0\nzc 1000.0 1000.0\nhz 1000 -6.0/1.00 -6.0/1.00\n",
            "numbers cut short",
        ),
        ("wav rate=8000 blocks=2\nzc 1000.0\nhz 1000 -6.0/1.00 -6.0/1.00\nend\n", "unparsable numbers"),
        ("wav rate=8000 blocks=x\nend\n", "unparsable numbers"),
        ("\x00\xff\nend\n", "unparsable numbers"),
    ],
)
def test_a_recording_that_cannot_be_read_is_said_so(text: str, why: str) -> None:
    assert sip.heard(text, 1000) == why


def test_a_wrong_or_short_tone_fails() -> None:
    def numbers(freq: float, level: float, blocks: int) -> str:
        zc = " ".join(f"{freq:.1f}" for _ in range(blocks))
        cells = " ".join(f"{level:.1f}/0.99" for _ in range(blocks))
        return f"wav rate=8000 seconds={blocks / 10} blocks={blocks} level=-6\nzc {zc}\nhz 1000 {cells}\nend\n"

    assert sip.judge_heard("pb", numbers(1000, -12, 50), 1000, 3) == (None, "1000 Hz at -12 dBFS")
    assert sip.judge_heard("pb", numbers(1100, -12, 50), 1000, 3)[0] == "pb heard 1100 Hz, not 1000 Hz"
    assert (
        sip.judge_heard("pb", numbers(1000, -12, 20), 1000, 3)[0]
        == "pb did not hear 1000 Hz (2.0 s of it, wanted 2.4 s)"
    )
    assert (
        sip.judge_heard("pb", numbers(1000, -60, 50), 1000, 3)[0]
        == "pb did not hear 1000 Hz (0.0 s of it, wanted 2.4 s)"
    )


# -- the guest's instrument, run here on files it made ---------------------------------------
def media(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(MEDIA_SCRIPT), *args], capture_output=True, text=True, timeout=60)


def test_the_media_script_has_no_template_syntax() -> None:
    from labctl.render.render import Source, _render

    text = MEDIA_SCRIPT.read_text()
    assert _render(text, {}, Source(MEDIA_SCRIPT)) == text


def test_a_generated_tone_is_found_at_its_frequency_and_level(tmp_path: Path) -> None:
    wav = tmp_path / "tone.wav"
    assert media("gen", str(wav), "1000", "3").returncode == 0
    out = media("tone", str(wav), "--consume", "1000", "600")
    assert out.returncode == 0 and not wav.exists()
    found = sip.heard(out.stdout, 1000)
    assert isinstance(found, sip.Heard) and (found.seconds, round(found.level), round(found.frequency)) == (
        3.0,
        -6,
        1000,
    )
    assert sip.judge_heard("pb", out.stdout, 600, 3)[0] == "pb did not hear 600 Hz (0.0 s of it, wanted 2.4 s)"
    assert media("tone", str(wav), "1000").stdout == f"missing {wav}\nend\n"
    (tmp_path / "bad.wav").write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunk")
    bad = media("tone", str(tmp_path / "bad.wav"), "1000")
    assert bad.returncode == 1 and sip.heard(bad.stdout, 1000) == bad.stdout.strip()


def test_the_report_service_answers_one_request_and_waits_for_a_recording_being_written(tmp_path: Path) -> None:
    """labctl-media report (the callee's socket service): "report" or "arm" (which, with --arm,
    also starts a desktop phone's recorder; without it, linphonec records by itself) prints the
    recording's numbers and deletes it; anything else is an error line; a FILE.part (a desktop's
    recording still being written) is waited for."""
    wav = tmp_path / "rx.wav"

    def report(request: str) -> subprocess.CompletedProcess[str]:
        argv = [sys.executable, str(MEDIA_SCRIPT), "report", str(wav), "1000", "600"]
        return subprocess.run(argv, input=request, capture_output=True, text=True, timeout=60)

    assert media("gen", str(wav), "1000", "1").returncode == 0
    out = report("report\n")
    heard = sip.heard(out.stdout, 1000)
    assert out.returncode == 0 and not wav.exists() and isinstance(heard, sip.Heard) and heard.seconds == 1.0
    assert report("arm\n").stdout == f"missing {wav}\nend\n"
    assert report("").stdout == f"missing {wav}\nend\n"  # nothing asked: a report
    assert report("\x00rm -rf /\n").stdout == "error unknown request '\\x00rm -rf /'\nend\n"
    part = tmp_path / "rx.wav.part"
    part.write_bytes(b"")
    writer = subprocess.Popen(["sh", "-c", f"sleep 1; {sys.executable} {MEDIA_SCRIPT} gen {wav} 600 1; rm {part}"])
    heard = sip.heard(report("report\n").stdout, 600)
    assert isinstance(heard, sip.Heard) and (heard.seconds, round(heard.frequency)) == (1.0, 600)
    assert writer.wait(30) == 0
    for bad in (["fetch", "127.0.0.1", "1", "rm"], ["report"]):
        assert media(*bad).stdout.startswith("usage:")


def test_the_rtp_of_a_capture_is_listed_for_the_judge(tmp_path: Path) -> None:
    """A pcap as tcpdump -i any writes it (Linux cooked v2), with one RTP and one RTCP packet."""

    def packet(src: bytes, dst: bytes, sport: int, dport: int, body: bytes) -> bytes:
        udp = struct.pack("!HHHH", sport, dport, 8 + len(body), 0) + body
        ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 0, 0, 64, 17, 0, src, dst) + udp
        frame = b"\x08\x00" + b"\x00" * 18 + ip  # SLL2: protocol, then 18 bytes
        return struct.pack("<IIII", 100, 250000, len(frame), len(frame)) + frame

    a, b = bytes([10, 0, 0, 1]), bytes([10, 0, 0, 2])
    rtp = struct.pack("!BBHII", 0x80, 0, 7, 160, 99) + b"\xff" * 160
    rtcp = struct.pack("!BBHII", 0x81, 200, 12, 99, 0) + b"\x00" * 40
    pcap = struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 262144, 276)
    (tmp_path / "c.pcap").write_bytes(pcap + packet(a, b, 7078, 7078, rtp) + packet(b, a, 7079, 7079, rtcp))
    out = media("rtp", str(tmp_path / "c.pcap"))
    assert out.stdout.splitlines() == [
        "p 100.250000 10.0.0.1:7078 10.0.0.2:7078 128 0 7 160 99 172",
        "p 100.250000 10.0.0.2:7079 10.0.0.1:7079 129 200 12 99 0 52",
        "end",
    ]
    (tmp_path / "x.pcap").write_bytes(b"garbage, not a capture at all")
    assert media("rtp", str(tmp_path / "x.pcap")).stdout.startswith("error ValueError")
    assert os.path.exists(tmp_path / "x.pcap")


# -- sipp ----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("check", "params", "name", "detail"),
    [
        ("sipp_register", {"from": "pa"}, "sipp_register_pass.txt", "sipp saw 401 then 200 (401 200)"),
        ("sipp_invite", {"from": "pa", "to": "pb"}, "sipp_invite_pass.txt", "sipp saw 407, 200, ACK, BYE 200"),
        ("sip_register_rejected", {"from": "pb"}, "sip_register_rejected_pass.txt", "sipp saw 401 then 403"),
        ("sip_invite_unknown", {"from": "pa", "to": "nobody"}, "sip_invite_unknown_pass.txt", "sipp saw 407 then 404"),
    ],
)
def test_sipp_passes_on_real_exchanges(
    probes: Probes, sipm: LabPlan, check: str, params: dict[str, str], name: str, detail: str
) -> None:
    (probe,) = probes(check, sipm, **params)
    verdict = run(probe, fixture(name))
    assert verdict.status == PASS and verdict.detail.startswith(detail), verdict.detail


@pytest.mark.parametrize(
    ("stdout", "exit_code", "detail"),
    [
        (fixture("sip_register_rejected_right_password.txt"), 0, "sipp exited 1: expected 401 then 403"),
        ("", 0, "cut short"),
        ("\x00garbage\n--- end\n", 0, "sipp's exit status is missing or unreadable"),
        ("--- exit\nzero\n--- sip\n--- end\n", 0, "sipp's exit status is missing or unreadable (zero)"),
        (
            "--- exit\n0\n--- sip\n--- end\n",
            0,
            "sipp exited 0: expected 401 then 403 for a wrong password, saw nothing",
        ),
        (fixture("sip_register_rejected_pass.txt"), 2, "the probe script exited 2"),
        (fixture("sip_register_rejected_pass.txt").replace("--- end\n", ""), 0, "cut short"),
    ],
)
def test_sipp_fails_on_a_wrong_exchange_empty_garbage_or_exit(
    probes: Probes, sipm: LabPlan, stdout: str, exit_code: int, detail: str
) -> None:
    (probe,) = probes("sip_register_rejected", sipm, **{"from": "pb"})
    verdict = run(probe, stdout, exit_code)
    assert verdict.status == FAIL and detail in verdict.detail, verdict.detail


def test_sip_invite_unknown_fails_on_anything_but_404(probes: Probes, sipm: LabPlan) -> None:
    """The negative check stays strict: a PBX that refuses the call for another reason (here
    FreeSWITCH's 480 to an INVITE without SDP) has not shown that it knows the user is unknown."""
    (probe,) = probes("sip_invite_unknown", sipm, **{"from": "pa", "to": "nobody"})
    verdict = run(probe, fixture("sip_invite_unknown_no_sdp.txt"))
    assert verdict.status == FAIL, verdict.detail
    assert verdict.detail == "sipp exited 1: expected 407 then 404 for an unknown user, saw 407 480 480"


def test_sip_register_refuses_a_desktop_phone_in_one_line_and_sipp_runs_beside_its_gui(probes: Probes) -> None:
    desk = shipped_plan("voip-desktop")  # alice: the Linphone GUI; bob: linphonec
    assert [p.node for p in probes("sip_register", desk)] == ["bob"]
    with pytest.raises(LabctlError) as refused:
        probes("sip_register", desk, phones=["alice"])
    assert str(refused.value) == (
        "check sip_register: phone 'alice' is a desktop phone; this check restarts linphonec, and its SIP client "
        "is the Linphone GUI (desktop_phone checks that it registered, sipp_register registers as it)"
    )
    (sipp,) = probes("sipp_register", desk, **{"from": "alice"})
    assert sipp.node == "alice" and sipp.subject == "alice as alice -> alice" and "-p 5070 " in sipp.command


def test_a_call_with_a_desktop_phone_drives_it_through_its_control_script_and_waits_for_the_gui(
    probes: Probes,
) -> None:
    desk = shipped_plan("voip-desktop")
    far = {n: next(i.ip for i in desk.node(n).interfaces) for n in ("alice", "bob")}
    for caller, callee in (("bob", "alice"), ("alice", "bob")):
        (call,) = probes("sip_invite", desk, **{"from": caller, "to": callee, "media_seconds": 3})
        assert call.node == caller and call.subject == f"{caller} -> {callee} (sip:{callee}@desk.lab)"
        assert "X=/usr/local/sbin/labctl-phone-control;" in call.command  # the phone recipe's declared path
        assert "$X caller 1000\n" in call.command and f"$X dial sip:{callee}@desk.lab\n" in call.command
        assert f"$M fetch {far[callee]} 5072 arm >/dev/null" in call.command  # before the call: ready its side
        assert f"[ $i -gt {2 * sip.DESKTOP_ANSWER_SECONDS} ]" in call.command
        slow = sip.DESKTOP_ANSWER_SECONDS + sip.DESKTOP_HANGUP_SECONDS
        assert f"timeout {3 + 20 + slow} tcpdump" in call.command and "-gt $((2 * 60)) ]" in call.command
        assert call.command_timeout == 3 + 75 + slow
        assert call.timeout == 150 + 2 * (sip.DESKTOP_ANSWER_SECONDS - sip.ANSWER_SECONDS)
    headless = dataclasses.replace(desk, nodes=tuple(dataclasses.replace(n, desktop=None) for n in desk.nodes))
    (to_cli,) = probes("sip_invite", headless, **{"from": "bob", "to": "alice", "media_seconds": 3})
    assert f"[ $i -gt {2 * sip.ANSWER_SECONDS} ]" in to_cli.command and to_cli.command_timeout == 103
    assert "timeout 48 tcpdump" in to_cli.command and "-gt $((2 * 5)) ]" in to_cli.command  # as before


def test_a_call_the_gui_logged_as_streaming_counts_as_connected(probes: Probes, sipm: LabPlan) -> None:
    (probe,) = probes("sip_invite", sipm, **{"from": "pa", "to": "pb"})
    passing = fixture("sip_invite_pass.txt")
    console = sip.section(passing, "console")
    gui = passing.replace(console, "to LinphoneCallOutgoingInit\nto LinphoneCallStreamsRunning\n")
    assert run(probe, gui).status == PASS
    silent = passing.replace(console, "to LinphoneCallOutgoingInit\nto LinphoneCallError\n")
    verdict = run(probe, silent)
    assert verdict.status == FAIL and verdict.detail == "linphone never said the call connected", verdict.detail
    unregistered = run(probe, "--- notregistered\n\n--- end\n")  # the GUI logged no registration at all
    assert unregistered.status == FAIL and unregistered.detail == "pa is not registered: no state logged"


def test_sipp_may_call_a_desktop_phone_by_its_name_and_says_when_only_desktop_phones_exist(probes: Probes) -> None:
    desk = shipped_plan("voip-desktop")
    (call,) = probes("sipp_invite", desk, **{"from": "bob", "to": "alice"})
    assert call.subject == "bob as bob -> alice" and call.access is not None and "alice" in call.access.writes
    only_desktops = dataclasses.replace(desk, nodes=tuple(n for n in desk.nodes if n.name != "bob"))
    with pytest.raises(LabctlError) as refused:
        probes("sip_register", only_desktops)
    assert str(refused.value) == "check sip_register: the lab has no phones but desktop phones, which it does not drive"
    assert [p.node for p in probes("sipp_register", only_desktops)] == ["alice"]  # sipp needs no linphonec
