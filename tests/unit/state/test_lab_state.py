"""labctl.state.lab_state: saved lab state under XDG_STATE_HOME, locks and per-lab secrets."""

from __future__ import annotations

import json
import os
import re
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from labctl.errors import LabctlError
from labctl.state import (
    LabState,
    check_lab_name,
    check_node_name,
    is_lab_name,
    lab_folder,
    lab_folders,
    lab_lock,
    lab_secrets,
    load_state,
    read_secrets,
    remove_folder,
    running_labs,
    saved_plan,
)
from labctl.state.lab_state import _inside_root as inside_root
from labctl.state.lab_state import restore_secrets

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
        objects={"bridges": ["lb-ring-1"], "domains": ["labctl-ring-r1"]},
        nodes={"r1": {"domain": "labctl-ring-r1", "overlay": "/s/r1.qcow2", "spice_port": 5901}},
        links_down=[["r1", "r2"]],
    )


def test_save_and_load_round_trip(state_home: Path) -> None:
    state = sample()
    state.save()
    assert (state_home / "ring" / "state.json").exists()
    assert sorted(p.name for p in (state_home / "ring").iterdir()) == [".labctl-lab", "state.json"]
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
    assert loaded.objects == {"bridges": ["lb-ring-1", "lb-ring-2"], "domains": ["labctl-ring-r1", "labctl-ring-r2"]}


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
    script = "from labctl.state import lab_lock\nwith lab_lock('ring'):\n    print('locked')\n"
    with lab_lock("ring"):
        held = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=REPO, timeout=60)
    assert held.returncode != 0 and "another labctl command is working on lab 'ring'" in held.stderr
    free = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=REPO, timeout=60)
    assert (free.returncode, free.stdout) == (0, "locked\n")


# -- lab names: nothing outside one lab's own folder is ever touched -------------------------

BAD_NAMES = [
    "",
    ".",
    "..",
    "../x",
    "a/b",
    "/etc",
    "a\0b",
    "a\nb",
    "ring\n",
    "a b",
    " ring",
    "Ring",
    "1ring",
    "-ring",
    "ring_1",
    "rïng",
    "r" * 17,
    "r" * 10_000,
]


@pytest.mark.parametrize("name", BAD_NAMES)
def test_an_invalid_lab_name_is_refused_everywhere(name: str, state_home: Path) -> None:
    sample("keep").save()
    before = sorted(p for p in state_home.parent.rglob("*"))
    for action in (
        lambda: lab_folder(name),
        lambda: load_state(name),
        lambda: remove_folder(name),
        lambda: lab_secrets(name, ("x",)),
        lambda: check_lab_name(name),
    ):
        with pytest.raises(LabctlError, match="invalid lab name") as raised:
            action()
        assert "\n" not in str(raised.value)
    with pytest.raises(LabctlError, match="invalid lab name"), lab_lock(name):
        pass
    assert sorted(p for p in state_home.parent.rglob("*")) == before
    assert not is_lab_name(name)


@pytest.mark.parametrize("name", ["a", "ring", "ospf-dns", "r1", "a-b-c", "r" * 16])
def test_valid_lab_names(name: str) -> None:
    assert is_lab_name(name) and check_lab_name(name) == name
    assert lab_folder(name).name == name


def test_an_overlong_name_says_how_long(state_home: Path) -> None:
    with pytest.raises(LabctlError, match="it is 17 characters long; at most 16 are allowed"):
        check_lab_name("r" * 17)
    with pytest.raises(LabctlError, match=r"invalid lab name 'rrrr.*\.\.\.'") as raised:
        check_lab_name("r" * 10_000)
    assert len(str(raised.value)) < 200


def test_node_names_follow_the_topology_rule() -> None:
    assert check_node_name("alice") == "alice"
    for bad in ("", "..", "a/b", "Alice", "a\n", "n" * 25):
        with pytest.raises(LabctlError, match="invalid node name"):
            check_node_name(bad)


def test_remove_folder_refuses_a_lab_folder_that_leads_outside_the_root(tmp_path: Path, state_home: Path) -> None:
    outside = tmp_path / "precious"
    outside.mkdir()
    (outside / "data").write_text("keep me")
    state_home.mkdir(parents=True)
    (state_home / "evil").symlink_to(outside)
    with pytest.raises(LabctlError, match="symbolic link"):
        remove_folder("evil")
    assert (outside / "data").read_text() == "keep me"
    assert running_labs() == [] and lab_folders() == []


def test_remove_folder_of_a_missing_lab_is_a_no_op(state_home: Path) -> None:
    sample("keep").save()
    remove_folder("gone")
    assert running_labs() == ["keep"]


def test_running_labs_ignores_folders_that_are_not_lab_names(state_home: Path) -> None:
    sample("good").save()
    for odd in ("Bad", "with space", "x_y", ".hidden", "r" * 17):
        (state_home / odd).mkdir()
        (state_home / odd / "state.json").write_text("{}")
    (state_home / "file").write_text("not a folder")
    lab_secrets("half", ("x",))  # a folder without state.json: in lab_folders, not running
    assert running_labs() == ["good"]
    assert lab_folders() == ["good", "half"]


# -- permissions: 0700 folders, 0600 files from the moment they exist ----------------------


def mode(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


def test_state_folders_are_0700_and_files_0600(state_home: Path) -> None:
    umask = os.umask(0o022)
    try:
        sample().save()
        lab_secrets("ring", ("spice_password", "root_password"))
        with lab_lock("ring"):
            pass
    finally:
        os.umask(umask)
    assert mode(state_home) == 0o700
    assert mode(state_home / "ring") == 0o700
    assert mode(state_home / "ring" / "state.json") == 0o600
    assert mode(state_home / "ring" / "secrets.json") == 0o600
    assert mode(state_home / ".ring.lock") == 0o600
    assert sorted(p.name for p in (state_home / "ring").iterdir()) == [".labctl-lab", "secrets.json", "state.json"]


def test_files_are_never_created_readable_by_others(state_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The modes are given to os.open, not fixed by a chmod afterwards (no window where others can read)."""
    created: list[tuple[str, int]] = []
    real_open = os.open

    def spy(path: str | os.PathLike[str], flags: int, mode: int = 0o777, *args: object, **kwargs: object) -> int:
        if flags & os.O_CREAT:
            created.append((os.fspath(path), mode))
        return real_open(path, flags, mode)

    monkeypatch.setattr(os, "open", spy)
    sample().save()
    lab_secrets("ring", ("a",))
    with lab_lock("ring"):
        pass
    assert created and all(m == 0o600 for _, m in created), created
    names = sorted(Path(p).name.split(".tmp")[0].rsplit(".", 1)[0] for p, _ in created)
    assert names == ["..labctl-lab", ".ring", ".secrets.json", ".state.json"]
    assert sorted(p.name for p in (state_home / "ring").iterdir()) == [".labctl-lab", "secrets.json", "state.json"]


def test_an_older_open_state_folder_is_tightened(state_home: Path) -> None:
    (state_home / "ring").mkdir(parents=True, mode=0o755)
    state_home.chmod(0o755)
    (state_home / "ring").chmod(0o755)
    old = state_home / "ring" / "state.json"
    old.write_text("{}")
    old.chmod(0o644)
    (state_home / "ring" / "secrets.json").write_text('{"a": "b"}')
    (state_home / "ring" / "secrets.json").chmod(0o644)
    (state_home / ".ring.lock").write_text("")
    (state_home / ".ring.lock").chmod(0o644)
    sample().save()
    lab_secrets("ring", ("c",))
    with lab_lock("ring"):
        pass
    assert mode(state_home) == mode(state_home / "ring") == 0o700
    assert mode(old) == mode(state_home / "ring" / "secrets.json") == mode(state_home / ".ring.lock") == 0o600
    assert lab_secrets("ring", ("a",))["a"] == "b"


def test_damaged_secrets_are_a_clear_error(state_home: Path) -> None:
    (state_home / "ring").mkdir(parents=True)
    (state_home / "ring" / "secrets.json").write_text("{oops")
    with pytest.raises(LabctlError, match=r"secrets\.json are damaged"):
        lab_secrets("ring", ("a",))
    (state_home / "ring" / "secrets.json").write_text('["a"]')
    with pytest.raises(LabctlError, match="not a mapping"):
        read_secrets("ring")
    assert read_secrets("nothing") == {}


def test_the_last_guard_refuses_the_root_and_anything_outside_it(state_home: Path) -> None:
    state_home.mkdir(parents=True)
    for path in (state_home, state_home / ".", state_home / "..", state_home / "a" / ".." / "..", Path("/")):
        with pytest.raises(LabctlError, match="refusing to touch"):
            inside_root(path)
    assert inside_root(state_home / "ring") == (state_home / "ring").resolve()


def test_a_state_that_names_another_lab_is_damaged(state_home: Path) -> None:
    """state.save() writes to the folder of state.lab: a state naming '../x' must never be loaded."""
    sample("ring").save()
    path = state_home / "ring" / "state.json"
    for other in ("../x", "other", ""):
        data = json.loads(path.read_text())
        data["lab"] = other
        path.write_text(json.dumps(data))
        with pytest.raises(LabctlError, match=r"is damaged \(it names lab"):
            load_state("ring")
    for garbage in ("[]", '"x"', "null", "{}"):
        path.write_text(garbage)
        with pytest.raises(LabctlError, match="is damaged"):
            load_state("ring")


@pytest.mark.parametrize(
    ("found", "message"),
    [
        (3, "was written by a newer labctl (format 3; this labctl reads up to 2)"),
        (None, "is damaged (no valid format version (None))"),
        ("1", "is damaged (no valid format version ('1'))"),
        (True, "is damaged (no valid format version (True))"),
    ],
)
def test_a_state_format_this_labctl_cannot_read_is_refused(state_home: Path, found: object, message: str) -> None:
    state = sample()
    state.save()
    path = state_home / state.lab / "state.json"
    data = json.loads(path.read_text())
    data["format"] = found
    path.write_text(json.dumps(data))
    with pytest.raises(LabctlError, match=re.escape(message)):
        load_state(state.lab)


def test_a_saved_plan_of_a_newer_format_is_refused(state_home: Path) -> None:
    state = sample()
    state.plan = {**state.plan, "format": 99}
    with pytest.raises(LabctlError, match=re.escape("written by a newer labctl (format 99")):
        saved_plan(state)


# -- the state root must be the user's own real folder; only labctl's folders are removed ------


def test_a_state_root_that_is_a_symbolic_link_is_refused(tmp_path: Path, state_home: Path) -> None:
    victim = tmp_path / "victim"
    (victim / "etc").mkdir(parents=True)
    (victim / "etc" / "data").write_text("keep me")
    victim.chmod(0o755)
    state_home.symlink_to(victim)
    for action in (
        lambda: remove_folder("etc"),
        lambda: lab_lock("etc").__enter__(),
        lambda: lab_secrets("etc", ("x",)),
        lambda: sample("etc").save(),
        lab_folders,
    ):
        with pytest.raises(LabctlError, match="is a symbolic link"):
            action()
    assert (victim / "etc" / "data").read_text() == "keep me"
    assert mode(victim) == 0o755
    assert sorted(p.name for p in victim.iterdir()) == ["etc"]


def test_a_state_root_of_another_user_or_not_a_folder_is_refused(
    state_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sample("ring").save()
    with monkeypatch.context() as patch:
        patch.setattr(os, "geteuid", lambda: os.getuid() + 4242)
        with pytest.raises(LabctlError, match="belongs to another user"):
            remove_folder("ring")
    assert (state_home / "ring" / "state.json").is_file()
    remove_folder("ring")
    shutil.rmtree(state_home)
    state_home.write_text("a file")
    with pytest.raises(LabctlError, match="is not a folder"):
        lab_folders()


def test_only_folders_labctl_made_are_lab_folders_or_removed(state_home: Path) -> None:
    lab_secrets("half", ("x",))
    assert (state_home / "half" / ".labctl-lab").is_file()
    assert stat.S_IMODE((state_home / "half" / ".labctl-lab").stat().st_mode) == 0o600
    (state_home / "half" / "secrets.json").unlink()  # the marker alone still makes it labctl's
    foreign = state_home / "etc"
    foreign.mkdir()
    (foreign / "data").write_text("keep me")
    assert lab_folders() == ["half"]
    with pytest.raises(LabctlError, match="holds no labctl lab state"):
        remove_folder("etc")
    assert (foreign / "data").read_text() == "keep me"
    remove_folder("half")
    assert lab_folders() == []


def test_a_bundles_secrets_are_given_to_the_lab_it_makes(tmp_path: Path) -> None:
    saved = lab_secrets("ring", ("ldap_admin", "root_password"))
    restore_secrets("copy", lab_folder("ring") / "secrets.json")
    assert read_secrets("copy") == saved
    assert stat.S_IMODE((lab_folder("copy") / "secrets.json").stat().st_mode) == 0o600


@pytest.mark.parametrize(
    "secrets",
    [
        {"ldap_admin": "x" * 20 + "\nolcRootDN: cn=evil"},  # a value that would break out of an LDIF line
        {"ldap_admin": "'; rm -rf / #" + "x" * 10},
        {"ldap_admin": "short"},
        {"../../x": "x" * 20},
        {"Admin": "x" * 20},
    ],
)
def test_secrets_not_of_the_kind_labctl_makes_are_refused(tmp_path: Path, secrets: dict[str, str]) -> None:
    source = tmp_path / "secrets.json"
    source.write_text(json.dumps(secrets))
    with pytest.raises(LabctlError) as caught:
        restore_secrets("copy", source)
    assert "is not a secret labctl makes" in str(caught.value) and "\n" not in str(caught.value)
    assert not (lab_folder("copy") / "secrets.json").exists()
