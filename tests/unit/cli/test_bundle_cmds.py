"""labctl save / bundle show / replay at the command line: summaries, --json, and bad bundles
refused in one line with nothing written (no VM here: the replays are refused before any boot)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from labctl.state.lab_record import NewEvidence, save_report
from tests.unit.cli.conftest import REPO, Cli
from tests.unit.service.test_bundles import running_lab

FIXTURE = REPO / "tests" / "fixtures" / "bundle" / "v1.labctl"


def test_save_then_show(cli: Cli, tmp_path: Path) -> None:
    out = tmp_path / "od.labctl"
    run = cli("save", "ospf-dns", "-o", str(out))
    assert run.code == 0, run.stderr
    assert run.stdout.startswith(f"saved lab ospf-dns to {out}: ") and " files, " in run.stdout
    shown = cli("bundle", "show", str(out))
    assert shown.code == 0 and "bundle format 2" in shown.stdout and "no saved verdicts" in shown.stdout
    data = json.loads(cli("bundle", "show", str(out), "--json").stdout)
    assert data["lab"] == "ospf-dns" and data["format"] == 2


def test_show_counts_the_evidence_of_the_saved_report(cli: Cli, tmp_path: Path) -> None:
    state = running_lab()
    evidence = NewEvidence(state.lab)
    kept = [evidence.keep(f"{n}-sip_invite-a-b-sip.pcap", b"pcap") for n in (1, 2)]
    save_report(
        state, "ospf-dns", {"results": [{"check": "c", "subject": "s", "status": "pass", "evidence": kept}]}, evidence
    )
    assert cli("save", "ospf-dns", "-o", str(tmp_path / "lab.labctl")).code == 0
    shown = cli("bundle", "show", str(tmp_path / "lab.labctl"))
    assert shown.code == 0 and "2 evidence files with the report (report/evidence/)" in shown.stdout
    assert json.loads(cli("bundle", "show", str(tmp_path / "lab.labctl"), "--json").stdout)["evidence"] == 2


def test_save_json(cli: Cli, tmp_path: Path) -> None:
    run = cli("save", "ospf-dns", "-o", str(tmp_path / "od.labctl"), "--json")
    data = json.loads(run.stdout)
    assert data["lab"] == "ospf-dns" and data["members"] > 10 and data["with_image"] is False


def test_the_fixture_bundle_shows(cli: Cli) -> None:
    run = cli("bundle", "show", str(FIXTURE))
    assert run.code == 0 and "lab ospf-dns" in run.stdout


@pytest.mark.parametrize(
    ("content", "why"),
    [
        (b"PK\x03\x04rest of a zip", "not a labctl bundle"),
        (b"", "not a labctl bundle"),
        (FIXTURE.read_bytes()[:5000], "damaged"),
    ],
    ids=["zip", "empty", "truncated"],
)
def test_a_bad_bundle_is_one_line_and_nothing_is_written(cli: Cli, tmp_path: Path, content: bytes, why: str) -> None:
    bad = tmp_path / "bad.labctl"
    bad.write_bytes(content)
    for args in (("bundle", "show", str(bad)), ("replay", str(bad), "--name", "fresh")):
        run = cli(*args)
        assert run.code == 1, run
        lines = run.stderr.strip().splitlines()
        assert len(lines) == 1 and why in lines[0], run.stderr
        state = tmp_path / "state" / "labctl"
        assert not state.exists() or not any(p.name == "fresh" for p in state.iterdir())


def test_replay_of_a_missing_file_is_one_line(cli: Cli, tmp_path: Path) -> None:
    run = cli("replay", str(tmp_path / "nope.labctl"))
    assert run.code == 1 and len(run.stderr.strip().splitlines()) == 1, run.stderr
