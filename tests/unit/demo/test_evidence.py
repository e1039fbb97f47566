"""labctl.demo.evidence: the names of evidence files (from hostile subjects too), and the runner
fetching each probe's evidence through a fake backend; a file that cannot be had is noted, never a
change of verdict nor the end of the run."""

from __future__ import annotations

import re
from pathlib import Path
from typing import cast

import pytest

from labctl import cancel
from labctl.backends.base import Backend, ExecResult
from labctl.compile import compile_topology
from labctl.compile.plan import LabPlan
from labctl.demo import runner
from labctl.demo.checks.sip import CALL_EVIDENCE, REGISTER_EVIDENCE
from labctl.demo.evidence import MAX_EVIDENCE_BYTES, evidence_name, name_part
from labctl.demo.model import FAIL, PASS, Evidence, Probe, Report, Verdict
from labctl.demo.spec import CheckSpec, DemoSpec
from labctl.errors import LabctlError
from labctl.state import LabState
from labctl.state.lab_record import NewEvidence, last_report, report_evidence, save_report
from labctl.topology.schema import load_topology
from tests.unit.demo.conftest import REPO

STATE = LabState(lab="voip", backend="fake", topology="t", plan={})
SIP = Evidence("sip", "/tmp/labctl-call-sip.pcap")
RTP = Evidence("rtp", "/tmp/labctl-call-rtp.pcap")
PLAIN = re.compile(r"[0-9]+-[A-Za-z0-9_-]+(\.[A-Za-z0-9_]+)?")


# -- names ---------------------------------------------------------------------------------------
def test_a_name_holds_the_place_the_check_the_subject_and_the_label() -> None:
    assert evidence_name(3, "sip_invite", "alice -> bob (sip:bob@voip.lab)", SIP) == (
        "3-sip_invite-alice-bob-sip-bob-voip-lab-sip.pcap"
    )
    assert evidence_name(1, "sip_register", "alice (alice@pbx)", RTP) == "1-sip_register-alice-alice-pbx-rtp.pcap"
    assert evidence_name(2, "c", "s", Evidence("log", "/var/log/messages")) == "2-c-s-log"  # no suffix


@pytest.mark.parametrize(
    "subject",
    [
        "../../../etc/passwd",
        "/",
        "a/b/../c",
        "..",
        ".",
        "",
        "line\nbreak\r\x00\x1b[31m",
        "ünïcödé ☎",
        "x" * 5000,
        "-" * 300,
        "evil\\..\\windows",
        "$(rm -rf /);`id`",
    ],
)
def test_a_hostile_subject_makes_one_plain_file_name(subject: str) -> None:
    name = evidence_name(12, "sip_invite", subject, Evidence("sip", "/tmp/../x/../../a b.p/c a p"))
    assert PLAIN.fullmatch(name) and "/" not in name and ".." not in name
    assert len(name.encode()) <= 200 and name.startswith("12-sip_invite-")
    assert (Path("/lab/reports/evidence") / name).parent == Path("/lab/reports/evidence")


def test_name_parts_are_cut_and_never_empty() -> None:
    assert name_part("a" * 100) == "a" * 60
    assert name_part("a" * 59 + "/b") == "a" * 59  # no '-' left at the cut
    assert name_part("../") == "x" and name_part("") == "x"
    assert name_part("pa -> pb") == "pa-pb"


def test_the_sip_checks_declare_their_pcaps() -> None:
    assert [e.path for e in REGISTER_EVIDENCE] == ["/tmp/labctl-sipreg.pcap"]
    assert [(e.label, e.path) for e in CALL_EVIDENCE] == [
        ("sip", "/tmp/labctl-call-sip.pcap"),
        ("rtp", "/tmp/labctl-call-rtp.pcap"),
    ]


# -- the runner fetching evidence ------------------------------------------------------------------
class Guest:
    """A fake backend: every command prints `out`; read_file serves `files` by (node, path)."""

    def __init__(self, files: dict[tuple[str, str], bytes | Exception], out: str = "up") -> None:
        self.files = files
        self.out = out
        self.reads: list[tuple[str, str, int]] = []

    def exec(self, state: LabState, node: str, command: str, timeout: float) -> ExecResult:
        return ExecResult(0, self.out, "")

    def read_file(self, state: LabState, node: str, path: str, limit: int) -> bytes:
        self.reads.append((node, path, limit))
        found = self.files.get((node, path), LabctlError(f"guest agent on '{node}': no {path}\nmore"))
        if isinstance(found, Exception):
            raise found
        if len(found) > limit:
            raise LabctlError(f"{path} on '{node}' is larger than {limit >> 20} MiB")
        return found


def judge(result: ExecResult) -> Verdict:
    return Verdict(PASS, "up") if result.stdout == "up" else Verdict(FAIL, "down")


def probe(subject: str, node: str, evidence: tuple[Evidence, ...], skip: tuple[str, str] | None = None) -> Probe:
    return Probe("sip_invite", subject, node, "call", judge, timeout=1, evidence=evidence, skip_unless=skip)


@pytest.fixture
def homes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    return tmp_path / "state" / "labctl" / "voip"


@pytest.fixture
def sipm() -> LabPlan:
    return compile_topology(load_topology(REPO / "tests" / "unit" / "demo" / "checks" / "data" / "sipm.yaml"))


def run(
    monkeypatch: pytest.MonkeyPatch, guest: Guest, probes: list[list[Probe]], sipm: LabPlan
) -> tuple[Report, NewEvidence]:
    monkeypatch.setattr(runner, "validate_demo", lambda demo, plan: probes)
    demo = DemoSpec("voip", "", (CheckSpec("sip_invite", {}, 1),), REPO / "demos" / "voip.yaml")
    evidence = NewEvidence(STATE.lab)
    report = runner.run_demo(cast(Backend, guest), STATE, sipm, demo, lambda r: None, evidence.keep)
    save_report(STATE, "voip", report.to_dict(), evidence)
    return report, evidence


def test_the_runner_keeps_each_probes_evidence_under_its_place_in_the_report(
    monkeypatch: pytest.MonkeyPatch, homes: Path, sipm: LabPlan
) -> None:
    guest = Guest({("pa", SIP.path): b"sip pcap", ("pa", RTP.path): b"rtp pcap", ("pb", SIP.path): b"pb sip"})
    probes = [
        [probe("pa (pa@srv)", "pa", (SIP,)), probe("pb (pb@srv)", "pb", (SIP,))],
        [probe("pa -> pb", "pa", (SIP, RTP)), probe("no evidence", "pa", ())],
    ]
    report, _ = run(monkeypatch, guest, probes, sipm)
    assert [(r.status, r.evidence, r.evidence_missing) for r in report.results] == [
        (PASS, ["evidence/1-sip_invite-pa-pa-srv-sip.pcap"], []),
        (PASS, ["evidence/2-sip_invite-pb-pb-srv-sip.pcap"], []),
        (PASS, ["evidence/3-sip_invite-pa-pb-sip.pcap", "evidence/3-sip_invite-pa-pb-rtp.pcap"], []),
        (PASS, [], []),
    ]
    folder = homes / "reports"
    assert (folder / "evidence" / "3-sip_invite-pa-pb-rtp.pcap").read_bytes() == b"rtp pcap"
    assert (folder / "evidence" / "2-sip_invite-pb-pb-srv-sip.pcap").read_bytes() == b"pb sip"
    assert {limit for _, _, limit in guest.reads} == {MAX_EVIDENCE_BYTES}
    record = last_report("voip")
    assert record is not None and len(report_evidence("voip", record)) == 4


def test_missing_or_oversized_evidence_is_noted_and_changes_no_verdict(
    monkeypatch: pytest.MonkeyPatch, homes: Path, sipm: LabPlan
) -> None:
    guest = Guest({("pa", RTP.path): b"x" * (MAX_EVIDENCE_BYTES + 1)}, out="down")  # the probe fails too
    report, _ = run(monkeypatch, guest, [[probe("pa -> pb", "pa", (SIP, RTP))]], sipm)
    (result,) = report.results
    assert (result.status, result.detail, result.evidence) == (FAIL, "down", [])
    assert result.evidence_missing == [
        f"sip: guest agent on 'pa': no {SIP.path}",
        f"rtp: {RTP.path} on 'pa' is larger than 8 MiB",
    ]
    assert list((homes / "reports" / "evidence").iterdir()) == []
    assert report.to_dict()["results"][0]["evidence_missing"] == result.evidence_missing


def test_a_probe_whose_command_never_ran_fetches_nothing(
    monkeypatch: pytest.MonkeyPatch, homes: Path, sipm: LabPlan
) -> None:
    class Skipping(Guest):
        def exec(self, state: LabState, node: str, command: str, timeout: float) -> ExecResult:
            return ExecResult(0, "SKIP: no FreeSWITCH here\n", "")

    guest = Skipping({("pa", SIP.path): b"stale pcap of an earlier run"})
    report, _ = run(monkeypatch, guest, [[probe("pa -> pb", "pa", (SIP,), skip=("srv", "gate"))]], sipm)
    assert (report.results[0].attempts, report.results[0].evidence, guest.reads) == (0, [], [])


def test_cancelling_while_fetching_evidence_ends_the_run(
    monkeypatch: pytest.MonkeyPatch, homes: Path, sipm: LabPlan
) -> None:
    guest = Guest({("pa", SIP.path): cancel.Cancelled("cancelled")})
    with pytest.raises(cancel.Cancelled):
        run(monkeypatch, guest, [[probe("pa -> pb", "pa", (SIP,))]], sipm)


def test_without_a_keeper_no_evidence_is_fetched(monkeypatch: pytest.MonkeyPatch, sipm: LabPlan) -> None:
    guest = Guest({("pa", SIP.path): b"x"})
    monkeypatch.setattr(runner, "validate_demo", lambda demo, plan: [[probe("s", "pa", (SIP,))]])
    demo = DemoSpec("voip", "", (), REPO / "demos" / "voip.yaml")
    report = runner.run_demo(cast(Backend, guest), STATE, sipm, demo, lambda r: None)
    assert (report.results[0].evidence, guest.reads) == ([], [])
