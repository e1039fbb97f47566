"""labctl.service.bundles, its pure parts: the image lock, the saved verdicts, the comparison of a
replay with them, and the package differences of a rebuilt image."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from labctl.backends import registry
from labctl.bundle import BundleIndex, extract_bundle, read_index
from labctl.demo.model import FAIL, PASS, SKIPPED, Report, Result
from labctl.errors import LabctlError
from labctl.images import ImageArtifacts
from labctl.service import bundles, labs
from labctl.service.bundles import Change, compare, image_lock, package_differences, verdicts
from labctl.service.events import Quiet
from labctl.state import LabState, lab_secrets, read_secrets
from labctl.state.lab_record import REPORT_FORMAT, NewEvidence, save_report, save_sources
from tests.bundles import rewritten


def result(check: str, subject: str, status: str) -> Result:
    return Result(check=check, subject=subject, status=status, detail="", seconds=1.0, attempts=1)


SAVED = [
    {"check": "ping_by_name", "subject": "a -> 1 nodes", "status": PASS},
    {"check": "sip_invite", "subject": "a -> b", "status": PASS},
    {"check": "sip_register", "subject": "c", "status": SKIPPED},
]


def test_the_same_verdicts_are_no_change() -> None:
    report = Report("d", "lab", [result(v["check"], v["subject"], v["status"]) for v in SAVED])
    assert compare(SAVED, report) == []


def test_every_difference_is_named_with_both_verdicts() -> None:
    report = Report(
        "d",
        "lab",
        [
            result("ping_by_name", "a -> 1 nodes", PASS),
            result("sip_invite", "a -> b", FAIL),  # was pass
            result("dns", "a: b", PASS),  # new
        ],  # sip_register c: not run any more
    )
    assert compare(SAVED, report) == [
        Change("sip_invite", "a -> b", PASS, FAIL),
        Change("sip_register", "c", SKIPPED, ""),
        Change("dns", "a: b", "", PASS),
    ]


def test_verdicts_come_from_a_saved_report_and_garbage_is_left_out() -> None:
    report = {"results": [{"check": "x", "subject": "y", "status": PASS, "detail": "z"}, "garbage", 3]}
    assert verdicts(report) == [{"check": "x", "subject": "y", "status": PASS}]
    assert verdicts(None) == [] and verdicts({}) == []


def test_a_package_list_identical_to_the_lock_has_no_difference() -> None:
    lock = {"packages": ["a=1", "b=2.0-1"]}
    assert package_differences(lock, {"packages": ["b=2.0-1", "a=1"]}) == []


def test_package_differences_name_each_package_and_both_versions() -> None:
    lock = {"packages": ["a=1", "b=2", "gone=0.1"]}
    built = {"packages": ["a=1", "b=3", "new=9"]}
    assert package_differences(lock, built) == ["b: 2 -> 3", "gone: 0.1 -> absent", "new: absent -> 9"]


def test_the_lock_is_the_manifest_with_what_an_older_build_did_not_record_marked(tmp_path: Path) -> None:
    disk = tmp_path / "disk.qcow2"
    disk.write_bytes(b"x" * 10)
    lock = image_lock({"name": "i", "packages": ["a=1"], "mmdebstrap": {"version": "mmdebstrap 1.3.5"}}, disk)
    assert lock["mmdebstrap"] == {"version": "mmdebstrap 1.3.5"}
    assert lock["snapshot_date"] is None and lock["source_date_epoch"] is None  # not recorded then
    assert lock["qcow2_size"] == 10
    assert "qcow2_size" not in image_lock({"name": "i"}, None)


# -- save and show, on a topology that is not running (no VM) --------------------------------------
REPO = Path(__file__).resolve().parents[3]


@pytest.fixture
def homes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))  # no image built: no lock
    return tmp_path


def test_a_topology_is_saved_with_its_demo_recipes_and_render(homes: Path) -> None:
    out = homes / "od.labctl"
    saved = bundles.save("ospf-dns", out)
    assert saved.path == out and saved.lab == "ospf-dns" and not saved.with_image
    index = read_index(out)
    paths = {m.path for m in index.contents}
    assert {"topologies/ospf-dns.yaml", "demos/ospf-dns.yaml", "vm-recipes/router/recipe.yaml"} <= paths
    assert any(p.startswith("rendered/") and p.endswith("steps.json") for p in paths)
    assert index.data["topology"] == "topologies/ospf-dns.yaml" and index.data["demo"] == "demos/ospf-dns.yaml"
    assert index.data["images"] == {} and index.data["verdicts"] == [] and index.data["report"] is None
    topology = (REPO / "topologies" / "ospf-dns.yaml").read_bytes()
    assert extracted(out, homes)["topologies/ospf-dns.yaml"] == topology  # exactly as it was


def extracted(bundle: Path, tmp: Path) -> dict[str, bytes]:
    dest = tmp / "x"
    extract_bundle(bundle, dest)
    return {str(p.relative_to(dest)): p.read_bytes() for p in dest.rglob("*") if p.is_file()}


def test_a_bundle_carries_no_secret_of_the_lab(homes: Path) -> None:
    """Rendered with marked placeholders: a bundle handed to a colleague holds none of a lab's secrets."""
    bundles.save("voip-demo", homes / "v.labctl")
    files = extracted(homes / "v.labctl", homes)
    rendered = b"".join(text for path, text in files.items() if path.startswith("rendered/"))
    assert b"placeholder-ldap_reader" in rendered


def test_show_lists_format_lab_and_verdicts(homes: Path) -> None:
    bundles.save("ospf-dns", homes / "od.labctl")
    shown = bundles.show(homes / "od.labctl")
    assert (shown["format"], shown["lab"], shown["demo"]) == (2, "ospf-dns", "demos/ospf-dns.yaml")
    assert shown["members"] > 10 and shown["verdicts"] == [] and shown["images"] == {}


def test_an_existing_file_is_not_overwritten_without_force(homes: Path) -> None:
    out = homes / "od.labctl"
    out.write_text("mine")
    with pytest.raises(LabctlError) as caught:
        bundles.save("ospf-dns", out)
    assert "\n" not in str(caught.value) and out.read_text() == "mine"
    bundles.save("ospf-dns", out, force=True)
    assert read_index(out).data["lab"] == "ospf-dns"


# -- replay refusals (before anything boots) ---------------------------------------------------------
def test_a_replay_under_a_name_already_in_use_is_refused_and_leaves_that_lab_alone(homes: Path) -> None:
    bundles.save("ospf-dns", homes / "od.labctl")
    LabState(lab="taken", backend="libvirt", topology="t", plan={"lab": "taken", "nodes": []}).save()
    before = sorted(p.name for p in (homes / "state" / "labctl" / "taken").iterdir())
    with pytest.raises(LabctlError) as caught:
        bundles.replay(homes / "od.labctl", "taken")
    assert "lab 'taken' already exists here; replay it under another name with --name NAME" in str(caught.value)
    assert sorted(p.name for p in (homes / "state" / "labctl" / "taken").iterdir()) == before


@pytest.mark.parametrize("name", ["Bad_Name", "x" * 40, "../up"])
def test_a_bad_lab_name_is_refused_in_one_line(homes: Path, name: str) -> None:
    bundles.save("ospf-dns", homes / "od.labctl")
    with pytest.raises(LabctlError) as caught:
        bundles.replay(homes / "od.labctl", name)
    assert "\n" not in str(caught.value)
    assert not (homes / "state" / "labctl").exists() or not any((homes / "state" / "labctl").iterdir())


def test_a_damaged_bundle_leaves_nothing_in_the_state_folder(homes: Path) -> None:
    bundles.save("ospf-dns", homes / "od.labctl")
    data = bytearray((homes / "od.labctl").read_bytes())
    data[len(data) // 2] ^= 0xFF
    (homes / "bad.labctl").write_bytes(bytes(data))
    with pytest.raises(LabctlError) as caught:
        bundles.replay(homes / "bad.labctl", "fresh")
    assert "\n" not in str(caught.value)
    assert not (homes / "state" / "labctl" / "fresh").exists()


def test_a_topology_with_its_demo_beside_it_is_saved_with_both(homes: Path) -> None:
    """The demo sorts before the topology: each is still told apart by what the topology names."""
    folder = homes / "mine"
    folder.mkdir()
    (folder / "a-demo.yaml").write_text("format: 1\nname: a-demo\nchecks:\n  - ping_by_name: {}\n")
    (folder / "lab.yaml").write_text(
        (REPO / "topologies" / "line.yaml").read_text().replace("name: line", "name: mine") + "demo: a-demo.yaml\n"
    )
    bundles.save(str(folder / "lab.yaml"), homes / "m.labctl")
    data = read_index(homes / "m.labctl").data
    assert (data["topology"], data["demo"]) == ("topologies/lab.yaml", "topologies/a-demo.yaml")


# -- disks (--with-disks) ------------------------------------------------------------------------------
class DiskBackend:
    """A backend whose nodes' disks are a line of text: what `save --with-disks` asks of one."""

    def __init__(self, images: object = None, disks: object = None, cold: bool = False) -> None:
        pass

    def export_disk(self, state: LabState, node: str, dest: Path) -> None:
        assert not dest.exists() and dest.parent.parent == state.folder  # a private folder of the lab's
        dest.write_bytes(f"disk of {node}".encode())


@pytest.fixture
def running(homes: Path, monkeypatch: pytest.MonkeyPatch) -> LabState:
    monkeypatch.setitem(registry._FACTORIES, "disks", DiskBackend)
    state = LabState(lab="od", backend="disks", topology="/x/ospf-dns.yaml", plan={"lab": "od", "nodes": []})
    state.nodes = {"r1": {}, "r2": {}}
    state.save()
    topology = REPO / "topologies" / "ospf-dns.yaml"
    save_sources(state, topology, REPO / "demos" / "ospf-dns.yaml", "ospf-dns", REPO / "vm-recipes")
    lab_secrets("od", ("root_password",))
    return state


def test_a_running_labs_disks_are_saved_with_its_secrets(homes: Path, running: LabState) -> None:
    saved = bundles.save("od", homes / "d.labctl", with_disks=True)
    assert saved.with_disks and saved.with_image  # a disk is changes over its image's exact bytes
    files = extracted(homes / "d.labctl", homes)
    assert files["disks/r1.qcow2"] == b"disk of r1" and files["disks/r2.qcow2"] == b"disk of r2"
    assert json.loads(files["lab/secrets.json"]) == read_secrets("od")
    shown = bundles.show(homes / "d.labctl")
    assert shown["disks"] == ["r1", "r2"] and shown["secrets"]
    assert not any(p.name.startswith(".export-") for p in running.folder.iterdir())  # the copies went
    plain = bundles.show(bundles.save("od", homes / "p.labctl").path)
    assert plain["disks"] == [] and not plain["secrets"]  # without --with-disks, no secret leaves the lab


def test_disks_of_a_topology_that_is_not_running_are_refused_in_one_line(homes: Path) -> None:
    with pytest.raises(LabctlError) as caught:
        bundles.save("ospf-dns", homes / "d.labctl", with_disks=True)
    assert "--with-disks: 'ospf-dns' is not a running lab" in str(caught.value) and "\n" not in str(caught.value)
    assert not (homes / "d.labctl").exists()


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"disks": ["../../etc/passwd"]}, "node name"),
        ({"disks": "r1"}, "its list of disks is not a list"),
        ({"disks": ["r1"]}, "it names a disk of node 'r1' but holds no disks/r1.qcow2"),
        ({"demo": None}, "the bundle has no demo to replay"),
    ],
)
def test_a_bundle_that_cannot_be_replayed_is_refused_before_anything_boots(
    homes: Path, monkeypatch: pytest.MonkeyPatch, changes: dict[str, Any], message: str
) -> None:
    def boot(*_args: object, **_kwargs: object) -> None:
        pytest.fail("the lab was brought up")

    monkeypatch.setattr(labs, "up", boot)
    bundles.save("ospf-dns", homes / "od.labctl")
    bad = rewritten(homes / "od.labctl", homes / "bad.labctl", homes, **changes)
    with pytest.raises(LabctlError) as caught:
        bundles.replay(bad, "fresh")
    assert message in str(caught.value) and "\n" not in str(caught.value)
    assert not (homes / "state" / "labctl" / "fresh").exists()


# -- a running lab's last report and its evidence ------------------------------------------------------
def running_lab(lab: str = "ospf-dns") -> LabState:
    """A lab as `up` leaves it, without VMs: its state and its copy of the sources it came from."""
    state = LabState(lab=lab, backend="libvirt", topology=str(REPO / "topologies" / "ospf-dns.yaml"), plan={})
    state.save()
    save_sources(
        state, REPO / "topologies" / "ospf-dns.yaml", REPO / "demos" / "ospf-dns.yaml", "ospf-dns", REPO / "vm-recipes"
    )
    return state


def test_the_evidence_of_the_last_report_goes_into_the_bundle(homes: Path) -> None:
    state = running_lab()
    evidence = NewEvidence(state.lab)
    kept = [
        evidence.keep("1-sip_register-pa-sip.pcap", b"\xd4\xc3\xb2\xa1 sip"),
        evidence.keep("2-x-y-rtp.pcap", b"rtp"),
    ]
    results = [
        {"check": "sip_register", "subject": "pa", "status": "pass", "evidence": [kept[0]], "evidence_missing": []},
        {"check": "x", "subject": "y", "status": "fail", "evidence": [kept[1], "evidence/3-gone.pcap"]},
    ]
    save_report(state, "ospf-dns", {"verdict": "fail", "results": results}, evidence)
    out = homes / "lab.labctl"
    bundles.save("ospf-dns", out)
    files = extracted(out, homes)
    assert files["report/evidence/1-sip_register-pa-sip.pcap"] == b"\xd4\xc3\xb2\xa1 sip"
    assert files["report/evidence/2-x-y-rtp.pcap"] == b"rtp"
    assert sorted(p for p in files if p.startswith("report/")) == [
        "report/evidence/1-sip_register-pa-sip.pcap",
        "report/evidence/2-x-y-rtp.pcap",
        "report/last.json",
    ]  # a file the report lists but the lab no longer has is left out; the save goes on
    saved = json.loads(files["report/last.json"])
    assert saved["format"] == REPORT_FORMAT and saved["report"]["results"][0]["evidence"] == [kept[0]]
    shown = bundles.show(out)
    assert shown["evidence"] == 2 and [v["status"] for v in shown["verdicts"]] == ["pass", "fail"]


def test_a_lab_whose_last_report_has_no_evidence_saves_none(homes: Path) -> None:
    state = running_lab()
    save_report(state, "ospf-dns", {"verdict": "pass", "results": [{"check": "c", "subject": "s", "status": "pass"}]})
    bundles.save("ospf-dns", homes / "lab.labctl")
    assert bundles.show(homes / "lab.labctl")["evidence"] == 0
    assert [p for p in extracted(homes / "lab.labctl", homes) if p.startswith("report/")] == ["report/last.json"]


# -- how a replay gets each image (the cache, the bundle, a rebuild), and what it says ---------------
DIGEST = "d" * 64
PACKAGES = ["a=1", "b=2.0-1", "c=3"]
LOCK = {"input_digest": DIGEST, "qcow2_sha256": "a" * 64, "packages": PACKAGES}


class Said(Quiet):
    def __init__(self) -> None:
        self.lines: list[str] = []

    def phase(self, text: str) -> None:
        self.lines.append(text)

    def event(self, node: str, text: str) -> None:
        self.lines.append(text)


def image(tmp: Path, digest: str, qcow2_sha256: str, packages: list[str]) -> ImageArtifacts:
    folder = tmp / f"img-{digest[:4]}-{qcow2_sha256[:4]}"
    folder.mkdir(exist_ok=True)
    manifest = folder / "manifest.json"
    manifest.write_text(json.dumps({"input_digest": digest, "qcow2_sha256": qcow2_sha256, "packages": packages}))
    return ImageArtifacts("lab-img", digest, folder / "disk.qcow2", folder / "vmlinuz", folder / "initrd.img", manifest)


def got(
    tmp: Path, monkeypatch: pytest.MonkeyPatch, in_cache: ImageArtifacts | None, built: tuple[ImageArtifacts, bool]
) -> tuple[dict[str, list[str]], dict[str, str], list[str]]:
    """_images on a bundle without its image: the cache holding `in_cache`, ensure_image giving `built`."""
    monkeypatch.setattr(bundles, "cached", lambda name, digest: in_cache if digest == DIGEST else None)
    monkeypatch.setattr(bundles, "ensure_image", lambda name, step: built)
    said = Said()
    index = BundleIndex(1, (), {"images": {"lab-img": LOCK}})
    found, differences, how = bundles._images(index, tmp, said)
    assert found == {"lab-img": built[0]}
    return differences, how, said.lines


def test_a_cached_build_of_the_locks_inputs_whose_qcow2_differs_is_named_so_and_compared(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Not passed off as a rebuild: ensure_image returns the cache's build of the same digest."""
    other = image(tmp_path, DIGEST, "b" * 64, list(PACKAGES))
    differences, how, lines = got(tmp_path, monkeypatch, other, (other, False))
    assert how == {"lab-img": bundles.CACHED_DIFFERS}
    assert "image lab-img: the cached image of the same recipe digest; its qcow2 differs from the lock" in lines
    assert differences == {"lab-img": []}
    assert "image lab-img: every package has the version its lock names" in lines


def test_a_rebuilt_image_with_one_package_version_changed_gives_exactly_that_difference(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rebuilt = image(tmp_path, DIGEST, "c" * 64, ["a=1", "b=2.0-2", "c=3"])
    differences, how, lines = got(tmp_path, monkeypatch, None, (rebuilt, True))
    assert how == {"lab-img": bundles.REBUILT} and "image lab-img: rebuilt from the bundled recipe" in lines
    assert differences == {"lab-img": ["b: 2.0-1 -> 2.0-2"]}
    assert "image lab-img differs from its lock: b: 2.0-1 -> 2.0-2" in lines


def test_a_bundled_recipe_with_other_inputs_than_the_lock_says_both(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rebuilt = image(tmp_path, "e" * 64, "c" * 64, list(PACKAGES))
    differences, how, lines = got(tmp_path, monkeypatch, None, (rebuilt, True))
    assert how == {"lab-img": bundles.REBUILT} and differences == {"lab-img": []}
    assert f"image lab-img: the bundled recipe's inputs are {'e' * 12}, its lock's {'d' * 12}" in lines


def test_the_cached_image_identical_to_its_lock_is_used_as_it_is(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    same = image(tmp_path, DIGEST, "a" * 64, list(PACKAGES))
    monkeypatch.setattr(bundles, "ensure_image", lambda name, step: pytest.fail("nothing to rebuild"))
    differences, how, lines = got(tmp_path, monkeypatch, same, (same, False))
    assert how == {"lab-img": bundles.CACHED} and differences == {}
    assert lines == ["image lab-img: the cached one, identical to its lock"]


def test_an_image_the_bundle_holds_no_lock_of_is_said_built_now_or_cached() -> None:
    manifests = {
        "old": {"built": "2026-11-28T09:03:52Z"},
        "new": {"built": "2026-11-28T18:01:00Z"},
        "locked": {"built": "2026-11-28T18:01:00Z"},
    }
    assert bundles.unlocked_sources(manifests, {"locked"}, "2026-11-28T18:00:00Z") == {
        "old": bundles.UNLOCKED_CACHED,
        "new": bundles.UNLOCKED_BUILT,
    }
