"""labctl.state.lab_record: what a lab keeps for `labctl save` (its sources as used, the manifests
of its images, its last demo report)."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from labctl.errors import LabctlError
from labctl.state import LabState
from labctl.state.lab_record import (
    REPORT_FORMAT,
    NewEvidence,
    image_manifests,
    last_report,
    report_evidence,
    save_images,
    save_report,
    save_sources,
    source_files,
    source_layout,
    sources,
)

REPO = Path(__file__).resolve().parents[3]
TOPOLOGIES = REPO / "topologies"
REPORT_FIXTURES = REPO / "tests" / "fixtures" / "report"


@pytest.fixture(autouse=True)
def state_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    return tmp_path / "state" / "labctl"


def sample(lab: str = "ring") -> LabState:
    state = LabState(lab=lab, backend="libvirt", topology="t", plan={"lab": lab, "nodes": []})
    state.save()
    return state


def recipes(tmp_path: Path) -> Path:
    root = tmp_path / "recipes"
    (root / "router").mkdir(parents=True)
    (root / "router" / "recipe.yaml").write_text("format: 1\n")
    (root / "router" / "run.sh").write_text("#!/bin/sh\n")
    (root / "router" / "run.sh").chmod(0o755)
    (root / "router" / "__pycache__").mkdir()
    (root / "router" / "__pycache__" / "x.pyc").write_bytes(b"\0")
    (root / ".swp").write_text("editor leftovers")
    return root


def test_the_layout_is_a_project_folder(tmp_path: Path) -> None:
    topo, demo = tmp_path / "t.yaml", tmp_path / "d.yaml"
    topo.write_text("name: t\n")
    demo.write_text("checks: []\n")
    root = recipes(tmp_path)
    by_name = source_layout(topo, demo, "ospf-dns", root)
    assert by_name == {
        "topologies/t.yaml": topo,
        "demos/d.yaml": demo,
        "vm-recipes/router/recipe.yaml": tmp_path / "recipes" / "router" / "recipe.yaml",
        "vm-recipes/router/run.sh": tmp_path / "recipes" / "router" / "run.sh",
    }  # no caches, no hidden files
    beside = source_layout(topo, demo, "sub/d.yaml", root)
    assert beside["topologies/sub/d.yaml"] == demo  # where the topology's `demo:` finds it
    assert "demos/d.yaml" not in beside


def test_sources_are_copied_privately_and_listed_back(tmp_path: Path, state_home: Path) -> None:
    state = sample()
    topo = TOPOLOGIES / "ospf-dns.yaml"
    save_sources(state, topo, REPO / "demos" / "ospf-dns.yaml", "ospf-dns", recipes(tmp_path))
    files = source_files("ring")
    assert sorted(files) == [
        "demos/ospf-dns.yaml",
        "topologies/ospf-dns.yaml",
        "vm-recipes/router/recipe.yaml",
        "vm-recipes/router/run.sh",
    ]
    assert files["topologies/ospf-dns.yaml"].read_bytes() == topo.read_bytes()
    assert stat.S_IMODE(files["topologies/ospf-dns.yaml"].stat().st_mode) == 0o600
    assert stat.S_IMODE(files["vm-recipes/router/run.sh"].stat().st_mode) == 0o700  # still executable
    assert sources("ring").parent == state_home / "ring"


def test_saving_sources_again_replaces_them_whole(tmp_path: Path) -> None:
    state = sample()
    topo = tmp_path / "t.yaml"
    topo.write_text("name: t\n")
    root = recipes(tmp_path)
    save_sources(state, topo, None, None, root)
    (root / "router" / "run.sh").unlink()
    save_sources(state, topo, None, None, root)
    assert sorted(source_files("ring")) == ["topologies/t.yaml", "vm-recipes/router/recipe.yaml"]


def test_a_lab_without_sources_says_how_to_get_them() -> None:
    sample()
    with pytest.raises(LabctlError) as caught:
        source_files("ring")
    assert "brought up by an older labctl" in str(caught.value) and "\n" not in str(caught.value)


def test_the_last_report_is_kept_and_read_back() -> None:
    state = sample()
    assert last_report("ring") is None
    save_report(state, "ospf-dns", {"verdict": "pass", "results": []})
    record = last_report("ring")
    assert record is not None and record["demo"] == "ospf-dns" and record["report"]["verdict"] == "pass"
    assert record["format"] == REPORT_FORMAT and record["written"].endswith("Z")


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("not json", "is damaged"),
        ('{"format": 1}', "it holds no report"),
        ('{"format": 9, "report": {}}', "written by a newer labctl (format 9"),
        ("[]", "not a JSON object"),
    ],
)
def test_a_damaged_or_newer_last_report_is_one_line(state_home: Path, text: str, why: str) -> None:
    state = sample()
    save_report(state, "d", {})
    (state_home / "ring" / "reports" / "last.json").write_text(text)
    with pytest.raises(LabctlError) as caught:
        last_report("ring")
    assert why in str(caught.value) and "\n" not in str(caught.value)


def test_image_manifests_are_kept_per_image(tmp_path: Path) -> None:
    state = sample()
    manifest = tmp_path / "manifest.json"
    manifest.write_text(json.dumps({"name": "debian12-lab", "input_digest": "ab" * 32}))
    assert image_manifests("ring") == {}
    save_images(state, {"debian12-lab": manifest})
    assert image_manifests("ring") == {"debian12-lab": {"name": "debian12-lab", "input_digest": "ab" * 32}}


# -- the last report's evidence ------------------------------------------------------------------
def report_with(*evidence: list[str]) -> dict[str, object]:
    return {"verdict": "pass", "results": [{"check": "c", "status": "pass", "evidence": e} for e in evidence]}


def test_the_evidence_of_a_run_becomes_the_last_reports(state_home: Path) -> None:
    state = sample()
    first = NewEvidence("ring")
    kept = first.keep("1-sip_register-alice-sip.pcap", b"pcap 1")
    assert kept == "evidence/1-sip_register-alice-sip.pcap"
    save_report(state, "d", report_with([kept]), first)
    folder = state_home / "ring" / "reports" / "evidence"
    assert (folder / "1-sip_register-alice-sip.pcap").read_bytes() == b"pcap 1"
    assert stat.S_IMODE((folder / "1-sip_register-alice-sip.pcap").stat().st_mode) == 0o600
    record = last_report("ring")
    assert record is not None and report_evidence("ring", record) == {kept: folder / "1-sip_register-alice-sip.pcap"}

    second = NewEvidence("ring")  # a run cut short leaves the last report's evidence as it was
    second.keep("2-x-y-sip.pcap", b"pcap 2")
    second.discard()
    assert sorted(p.name for p in folder.iterdir()) == ["1-sip_register-alice-sip.pcap"]

    third = NewEvidence("ring")
    save_report(state, "d", report_with([third.keep("2-x-y-sip.pcap", b"pcap 2")]), third)
    assert sorted(p.name for p in folder.iterdir()) == ["2-x-y-sip.pcap"]  # the old report's is gone
    save_report(state, "d", report_with([]))
    assert not folder.exists()  # a report saved without evidence keeps none of an older one's
    assert sorted(p.name for p in (state_home / "ring" / "reports").iterdir()) == ["last.json"]


@pytest.mark.parametrize("name", ["../x.pcap", "a/b.pcap", "..", ".hidden", "", "x\ny", "x" * 201, "/etc/passwd"])
def test_evidence_keeps_only_plain_file_names(state_home: Path, name: str) -> None:
    sample()
    evidence = NewEvidence("ring")
    with pytest.raises(ValueError, match="not a plain evidence file name"):
        evidence.keep(name, b"x")
    assert list(evidence.folder.iterdir()) == []
    assert not (state_home / "ring" / "x.pcap").exists()


def test_report_evidence_lists_only_files_of_the_evidence_folder(state_home: Path, tmp_path: Path) -> None:
    state = sample()
    evidence = NewEvidence("ring")
    good = evidence.keep("1-c-s-sip.pcap", b"x")
    (tmp_path / "secret").write_text("not evidence")
    (evidence.folder / "2-c-s-link.pcap").symlink_to(tmp_path / "secret")
    listed = [good, "evidence/2-c-s-link.pcap", "evidence/9-gone.pcap", "../state.json", "evidence/../../x"]
    save_report(state, "d", report_with(listed, ["/etc/passwd", 3], "garbage"), evidence)  # type: ignore[arg-type,list-item]
    record = last_report("ring")
    assert record is not None and list(report_evidence("ring", record)) == [good]


@pytest.mark.parametrize("version", range(1, REPORT_FORMAT + 1))
def test_a_last_report_of_every_format_still_loads(state_home: Path, version: int) -> None:
    sample()
    folder = state_home / "ring" / "reports"
    folder.mkdir()
    (folder / "last.json").write_text((REPORT_FIXTURES / f"v{version}.json").read_text())
    record = last_report("ring")
    assert record is not None and record["format"] == REPORT_FORMAT and record["demo"] == "voip-demo"
    results = record["report"]["results"]
    assert [r["status"] for r in results] == ["pass", "pass"]
    assert all(isinstance(r["evidence"], list) and isinstance(r["evidence_missing"], list) for r in results)
    assert report_evidence("ring", record) == {}  # the files are not there


def test_a_report_of_format_1_gets_empty_evidence_lists(state_home: Path) -> None:
    sample()
    (state_home / "ring" / "reports").mkdir()
    (state_home / "ring" / "reports" / "last.json").write_text((REPORT_FIXTURES / "v1.json").read_text())
    record = last_report("ring")
    assert record is not None
    assert [(r["evidence"], r["evidence_missing"]) for r in record["report"]["results"]] == [([], []), ([], [])]
