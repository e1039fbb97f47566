"""labctl.lab.state: saved lab state under XDG_STATE_HOME, locks and per-lab secrets."""

from __future__ import annotations

import json
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from labctl.errors import LabctlError
from labctl.lab.state import (
    LabState,
    NodeState,
    lab_folder,
    lab_lock,
    lab_secrets,
    load_state,
    remove_folder,
    running_labs,
)

REPO = Path(__file__).resolve().parents[3]


@pytest.fixture(autouse=True)
def state_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path))
    return tmp_path / "labctl"


def sample(lab: str = "ring") -> LabState:
    return LabState(
        lab=lab,
        backend="libvirt",
        topology="/topologies/ospf-dns.yaml",
        plan={"lab": lab, "nodes": []},
        accel="tcg",
        phase="ready",
        bridges=["lb-ring-1"],
        domains=["labctl-ring-r1"],
        nodes={"r1": NodeState("labctl-ring-r1", "/s/r1.qcow2", "/s/r1.log", spice_port=5901)},
        links_down=[["r1", "r2"]],
    )


def test_save_and_load_round_trip(state_home: Path) -> None:
    state = sample()
    state.save()
    assert (state_home / "ring" / "state.json").exists()
    assert not (state_home / "ring" / "state.json.tmp").exists()
    assert load_state("ring") == state


def test_a_lab_without_state_is_none() -> None:
    assert load_state("nothing") is None


def test_record_persists_at_once_and_only_once() -> None:
    state = sample()
    state.record("bridges", "lb-ring-2")
    state.record("domains", "labctl-ring-r2")
    state.record("bridges", "lb-ring-2")
    loaded = load_state("ring")
    assert loaded is not None
    assert loaded.bridges == ["lb-ring-1", "lb-ring-2"]
    assert loaded.domains == ["labctl-ring-r1", "labctl-ring-r2"]


def test_damaged_state_is_a_clear_error(state_home: Path) -> None:
    (state_home / "ring").mkdir(parents=True)
    (state_home / "ring" / "state.json").write_text("{not json")
    with pytest.raises(LabctlError, match=r"lab state .*state\.json is damaged .*`labctl down ring` removes the lab"):
        load_state("ring")
    (state_home / "ring" / "state.json").write_text(json.dumps({"lab": "ring", "unexpected": 1}))
    with pytest.raises(LabctlError, match="is damaged"):
        load_state("ring")


def test_running_labs_are_the_folders_with_state() -> None:
    assert running_labs() == []
    sample("b").save()
    sample("a").save()
    lab_secrets("c", ("x",))  # a folder without state.json is not a running lab
    assert running_labs() == ["a", "b"]
    remove_folder("a")
    assert running_labs() == ["b"]
    assert not lab_folder("a").exists()


def test_secrets_are_private_and_stable() -> None:
    first = lab_secrets("ring", ("ldap_admin", "ldap_reader"))
    path = lab_folder("ring") / "secrets.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert set(first) == {"ldap_admin", "ldap_reader"}
    assert first["ldap_admin"] != first["ldap_reader"] and len(first["ldap_admin"]) >= 20
    assert lab_secrets("ring", ("ldap_admin", "ldap_reader")) == first
    more = lab_secrets("ring", ("ldap_admin", "new"))
    assert more["ldap_admin"] == first["ldap_admin"] and more["ldap_reader"] == first["ldap_reader"]
    assert json.loads(path.read_text()) == more
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert lab_secrets("other", ("ldap_admin",))["ldap_admin"] != first["ldap_admin"]


def test_a_second_lock_on_the_same_lab_is_refused() -> None:
    with lab_lock("ring"):
        with (
            pytest.raises(LabctlError, match="another labctl command is working on lab 'ring' right now"),
            lab_lock("ring"),
        ):
            pass
        with lab_lock("other"):
            pass
    with lab_lock("ring"):
        pass


def test_another_process_is_refused_while_the_lock_is_held() -> None:
    script = "from labctl.lab.state import lab_lock\nwith lab_lock('ring'):\n    print('locked')\n"
    with lab_lock("ring"):
        held = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=REPO, timeout=60)
    assert held.returncode != 0 and "another labctl command is working on lab 'ring'" in held.stderr
    free = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=REPO, timeout=60)
    assert (free.returncode, free.stdout) == (0, "locked\n")
