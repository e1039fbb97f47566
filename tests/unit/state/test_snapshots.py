"""Whole-lab snapshots on disk: names, folders (0700, never reused), records (format 1, checked),
finding one by name with a hint, and `down` removing them with the lab folder."""

from __future__ import annotations

import json
import shutil
import stat
from pathlib import Path

import pytest

from labctl.errors import LabctlError
from labctl.state import LabState, lab_folder, remove_folder
from labctl.state.snapshots import (
    RECORD,
    check_snapshot_name,
    default_name,
    find_snapshot,
    list_snapshots,
    make_folder,
    new_record,
    plan_digest,
    read_record,
    snapshot_folder,
    write_record,
)

FIXTURES = Path(__file__).parents[2] / "fixtures" / "snapshot"


@pytest.fixture(autouse=True)
def state_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    return tmp_path / "state"


def lab(name: str = "duo") -> LabState:
    state = LabState(lab=name, backend="libvirt", topology="t", plan={"lab": name, "nodes": []}, phase="up")
    state.nodes = {"a": {}, "b": {}}
    state.links_down = [["a", "eth0"]]
    state.save()
    return state


def taken(state: LabState, name: str) -> None:
    make_folder(state.lab, name)
    write_record(new_record(state, name, 1.0))


@pytest.mark.parametrize(
    "name", ["", ".", "..", "../x", "a/b", "Snap", "a b", "a\nb", "snap\n", "-x", "x" * 33, "\u202esnap", "x" * 5000]
)
def test_hostile_names_are_refused_in_one_line(name: str) -> None:
    with pytest.raises(LabctlError) as raised:
        check_snapshot_name(name)
    assert str(raised.value).startswith("invalid snapshot name ") and "\n" not in str(raised.value)


def test_a_snapshot_folder_is_private_and_never_reused(state_home: Path) -> None:
    state = lab()
    folder = make_folder("duo", "before-exercise")
    assert folder == lab_folder("duo") / "snapshots" / "before-exercise"
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700 and stat.S_IMODE(folder.parent.stat().st_mode) == 0o700
    with pytest.raises(LabctlError, match="has a snapshot 'before-exercise' already"):
        make_folder("duo", "before-exercise")
    write_record(new_record(state, "before-exercise", 2.5))
    assert stat.S_IMODE((folder / RECORD).stat().st_mode) == 0o600


def test_default_names_count_up(state_home: Path) -> None:
    state = lab()
    assert default_name("duo") == "snap-1"
    taken(state, "snap-1")
    taken(state, "snap-7")
    taken(state, "mine")
    assert default_name("duo") == "snap-8"


def test_the_record_of_format_1_loads() -> None:
    record = read_record(FIXTURES / "v1.json")
    assert (record.lab, record.name, record.nodes, record.links_down) == ("duo", "snap-1", ["a", "b"], [["a", "eth0"]])


def test_a_damaged_or_newer_record_is_one_line(tmp_path: Path) -> None:
    data = json.loads((FIXTURES / "v1.json").read_text())
    for bad in ({**data, "format": 2}, {**data, "nodes": "a"}, {**data, "extra": 1}, [1]):
        path = tmp_path / "snapshot.json"
        path.write_text(json.dumps(bad))
        with pytest.raises(LabctlError) as raised:
            read_record(path)
        assert "\n" not in str(raised.value)
    path.write_text(json.dumps({**data, "format": 2}))
    with pytest.raises(LabctlError, match="newer labctl"):
        read_record(path)


def test_finding_a_snapshot_by_name(state_home: Path) -> None:
    state = lab()
    with pytest.raises(LabctlError, match=r"^unknown snapshot 'snap-1' of lab 'duo' \(there are none\)$"):
        find_snapshot("duo", "snap-1")
    taken(state, "before-exercise")
    assert find_snapshot("duo", "before-exercise").plan_digest == plan_digest(state.plan)
    with pytest.raises(LabctlError, match=r"\(did you mean 'before-exercise'\?\)"):
        find_snapshot("duo", "before-exercse")
    make_folder("duo", "broken")  # taking it failed: no record
    with pytest.raises(LabctlError, match="'broken' of lab 'duo' is incomplete"):
        find_snapshot("duo", "broken")
    listed = {s.name: s for s in list_snapshots("duo")}
    assert listed["broken"].record is None and listed["before-exercise"].record is not None
    shutil.copy(FIXTURES / "v1.json", snapshot_folder("duo", "broken") / RECORD)  # names another snapshot
    with pytest.raises(LabctlError, match="its record names another"):
        find_snapshot("duo", "broken")


def test_down_removes_the_snapshots_with_the_lab(state_home: Path) -> None:
    state = lab()
    taken(state, "snap-1")
    folder = snapshot_folder("duo", "snap-1")
    for name in ("a.save", "a.qcow2"):
        (folder / name).write_bytes(b"ram and disk")
        (folder / name).chmod(0o400)
    remove_folder("duo")
    assert not lab_folder("duo").exists()
