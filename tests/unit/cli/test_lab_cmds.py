"""labctl.cli.lab_cmds: the verbs on running labs, where no lab runs (no libvirt needed)."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path
from typing import ClassVar

import pytest

from labctl.backends import registry
from labctl.backends.base import NodeInfo
from labctl.errors import LabctlError
from labctl.service import labs
from labctl.state import LabState, lab_secrets, running_labs
from tests.unit.cli.conftest import REPO, Cli


def test_status_of_a_lab_that_is_not_running(cli: Cli) -> None:
    run = cli("status", "ospf-dns")
    assert run.code == 1
    assert run.stdout == ""
    assert run.stderr == "error: lab 'ospf-dns' is not running (no lab is running)\n"


def test_status_of_a_misspelt_lab_suggests_the_running_one(cli: Cli) -> None:
    LabState(lab="ospf-dns", backend="libvirt", topology="t", plan={"nodes": []}).save()
    run = cli("status", "ospf-dsn")
    assert run.code == 1
    assert run.stderr == "error: lab 'ospf-dsn' is not running (did you mean 'ospf-dns'?)\n"


def test_status_json_of_a_lab_that_is_not_running(cli: Cli) -> None:
    run = cli("status", "line", "--json")
    assert (run.code, run.stdout) == (1, "")
    assert run.stderr == "error: lab 'line' is not running (no lab is running)\n"


def test_ls_without_labs(cli: Cli) -> None:
    assert cli("ls").stdout == "no lab is running\n"
    assert cli("ls", "--json").stdout == "[]\n"


def test_exec_without_a_command(cli: Cli) -> None:
    missing = cli("exec", "h1")
    assert missing.code == 2
    assert "Missing argument 'COMMAND" in missing.stderr or "Missing argument 'command'" in missing.stderr
    empty = cli("exec", "h1", "--")
    assert empty.code == 1
    assert empty.stderr == "error: no command given: labctl exec NODE -- CMD...\n"


def test_exec_on_a_node_no_lab_has(cli: Cli) -> None:
    run = cli("exec", "h1", "--", "true")
    assert run.code == 1
    assert run.stderr == "error: no running lab has a node 'h1'\n"
    other = cli("exec", "ring/h1", "--", "true")
    assert other.stderr == "error: lab 'ring' is not running (no lab is running)\n"


# -- lab names are validated before anything is touched --------------------------------------

BAD_NAMES = ["", ".", "..", "../x", "a/b", "../../etc", "Ring", "a b", "a\nb", "ring\n", "x" * 17, "x" * 5000]


class FakeBackend:
    """What the lab verbs ask of a backend, with the host objects of each lab in a dict."""

    objects: ClassVar[dict[str, list[str]]] = {}
    destroyed: ClassVar[list[str]] = []

    def __init__(self, images: object = None, disks: object = None, cold: bool = False) -> None:
        pass

    def destroy(self, lab: str, state: LabState | None, progress: object) -> list[str]:
        FakeBackend.destroyed.append(lab)
        return FakeBackend.objects.pop(lab, [])

    def node_info(self, state: LabState, node: str) -> NodeInfo:
        boot = {k: v for k, v in state.nodes[node].items() if k in ("boot", "boot_note")}
        return NodeInfo("running", display=state.nodes[node]["display"], details=boot)


@pytest.fixture
def backend(monkeypatch: pytest.MonkeyPatch) -> type[FakeBackend]:
    FakeBackend.objects = {}
    FakeBackend.destroyed = []
    monkeypatch.setitem(registry._FACTORIES, "libvirt", FakeBackend)
    return FakeBackend


def running(lab: str, nodes: tuple[str, ...] = ("r1",)) -> LabState:
    interfaces = [{"name": f"lan{i}", "address": f"10.10.{i}.1/24 02:aa:bb:cc:dd:ee"} for i in range(3)]
    plan = {
        "nodes": [
            {"name": n, "roles": ["router", "dns", "ldap"], "address": "10.0.0.1", "interfaces": interfaces}
            for n in nodes
        ]
    }
    state = LabState(
        lab=lab,
        backend="libvirt",
        topology="t",
        plan=plan,
        accel="tcg",
        phase="up",
        nodes={n: {"display": f"spice://127.0.0.1:{5900 + i}"} for i, n in enumerate(nodes)},
    )
    state.save()
    return state


def snapshot(root: Path) -> list[tuple[str, bytes]]:
    return sorted((str(p), p.read_bytes() if p.is_file() else b"") for p in root.rglob("*"))


@pytest.mark.parametrize("name", BAD_NAMES)
def test_down_of_an_invalid_name_deletes_nothing(
    name: str, cli: Cli, backend: type[FakeBackend], private_dirs: Path
) -> None:
    running("keep")
    lab_secrets("keep", ("spice_password",))
    (private_dirs / "precious").write_text("mine")
    (private_dirs / "state" / "precious").write_text("mine too")
    before = snapshot(private_dirs)
    run = cli("down", name)
    assert run.code == 1
    assert run.stdout == ""
    assert run.stderr.count("\n") == 1 and run.stderr.startswith("error: ")
    assert "is not a lab name" in run.stderr or "invalid lab name" in run.stderr
    assert snapshot(private_dirs) == before
    assert backend.destroyed == []


@pytest.mark.parametrize(
    "args",
    [
        ("status", "{}"),
        ("status", "{}", "--json"),
        ("reconfigure", "{}"),
        ("secrets", "{}"),
        ("exec", "{}/r1", "--", "true"),
        ("console", "{}/r1"),
        ("link", "down", "{}/r1", "r2"),
        ("link", "set", "{}/r1", "r2", "--loss", "1%"),
        ("capture", "{}/r1", "r2", "-w", "x.pcap"),
        ("capture", "{}", "r1", "r2", "-w", "x.pcap"),
        ("demo", "run", "ospf-dns", "--lab", "{}"),
    ],
)
@pytest.mark.parametrize("name", ["", "..", "Ring", "a b", "ring\n", "x" * 17])
def test_every_verb_that_takes_a_lab_validates_it(
    args: tuple[str, ...], name: str, cli: Cli, backend: type[FakeBackend], private_dirs: Path
) -> None:
    running("ring")
    before = snapshot(private_dirs)
    run = cli(*(a.replace("{}", name) for a in args))
    assert run.code == 1, run
    assert run.stdout == ""
    assert run.stderr.count("\n") == 1 and "invalid lab name" in run.stderr, run.stderr
    assert snapshot(private_dirs) == before


@pytest.mark.parametrize("ref", ["ring/", "ring/..", "ring/R1", "ring/a b", "../r1", "R1"])
def test_node_references_are_validated(ref: str, cli: Cli, backend: type[FakeBackend]) -> None:
    running("ring")
    run = cli("exec", ref, "--", "true")
    assert run.code == 1
    assert run.stderr.count("\n") == 1
    assert "invalid node name" in run.stderr or "invalid lab name" in run.stderr


def test_down_of_a_lab_that_does_not_exist_says_so(cli: Cli, backend: type[FakeBackend]) -> None:
    run = cli("down", "ghost")
    assert (run.code, run.stdout) == (1, "")
    assert run.stderr == "error: lab 'ghost' does not exist (no lab is running)\n"
    running("ring")
    typo = cli("down", "rign", "--json")
    assert (typo.code, typo.stdout) == (1, "")
    assert typo.stderr == "error: lab 'rign' does not exist (did you mean 'ring'?)\n"
    other = cli("down", "zzz")
    assert other.stderr == "error: lab 'zzz' does not exist (running: ring)\n"
    assert running_labs() == ["ring"]


def test_down_removes_a_lab_the_backend_still_finds_without_state(cli: Cli, backend: type[FakeBackend]) -> None:
    backend.objects = {"orphan": ["domain labctl_orphan_a", "bridge lb-1"]}
    run = cli("down", "orphan")
    assert run.code == 0
    assert run.stdout == "lab orphan: removed 2 objects\n"


def test_down_removes_a_running_lab_and_only_it(cli: Cli, backend: type[FakeBackend], private_dirs: Path) -> None:
    running("ring")
    running("keep")
    backend.objects = {"ring": ["domain labctl_ring_r1"]}
    run = cli("down", "ring", "--json")
    assert run.code == 0
    data = json.loads(run.stdout)
    assert data["lab"] == "ring"
    assert data["removed"] == ["domain labctl_ring_r1", f"state folder {private_dirs / 'state' / 'labctl' / 'ring'}"]
    assert running_labs() == ["keep"]
    again = cli("down", "ring")
    assert again.code == 1 and "does not exist" in again.stderr


def test_down_after_a_damaged_state_still_cleans_up(cli: Cli, backend: type[FakeBackend], private_dirs: Path) -> None:
    folder = private_dirs / "state" / "labctl" / "broken"
    folder.mkdir(parents=True)
    (folder / "state.json").write_text("{not json")
    run = cli("down", "broken")
    assert run.code == 0, run.stderr
    assert run.stdout == "lab broken: removed 1 object\n"
    assert not folder.exists()


def test_down_all_removes_every_lab_and_nothing_else(cli: Cli, backend: type[FakeBackend], private_dirs: Path) -> None:
    running("a")
    running("b")
    lab_secrets("half", ("x",))  # a half-removed lab: a folder without state
    root = private_dirs / "state" / "labctl"
    (root / "Not-a-lab").mkdir()
    (root / "Not-a-lab" / "keep").write_text("x")
    backend.objects = {"a": ["domain labctl_a_r1"]}
    run = cli("down", "--all", "--json")
    assert run.code == 0, run.stderr
    data = json.loads(run.stdout)
    assert [d["lab"] for d in data] == ["a", "b", "half"]
    assert data[0]["removed"][0] == "domain labctl_a_r1"
    assert backend.destroyed == ["a", "b", "half"]
    assert sorted(p.name for p in root.iterdir() if not p.name.startswith(".")) == ["Not-a-lab"]
    assert cli("down", "--all").stdout == "no lab to remove\n"
    assert cli("down", "--all", "--json").stdout == "[]\n"


def test_down_needs_a_lab_or_all_but_not_both(cli: Cli, backend: type[FakeBackend]) -> None:
    assert cli("down").code == 2
    both = cli("down", "ring", "--all")
    assert both.code == 2 and "not both" in both.stderr
    assert backend.destroyed == []


def test_ls_ignores_folders_that_are_not_labs(cli: Cli, private_dirs: Path) -> None:
    running("ring")
    root = private_dirs / "state" / "labctl"
    for odd in ("Bad", "a b", "x_y"):
        (root / odd).mkdir()
        (root / odd / "state.json").write_text("{}")
    assert [row["lab"] for row in json.loads(cli("ls", "--json").stdout)] == ["ring"]


# -- how to connect, and the root-only secrets command ----------------------------------------


def test_status_says_how_to_connect(cli: Cli, backend: type[FakeBackend]) -> None:
    running("ring", ("r1", "r2"))
    run = cli("status", "ring")
    assert run.code == 0, run.stderr
    assert "`labctl secrets ring` prints (root only)" in run.stdout
    assert "  r1  spice://127.0.0.1:5900 (text console)  serial console: labctl console ring/r1\n" in run.stdout
    assert "  r2  spice://127.0.0.1:5901 (text console)  serial console: labctl console ring/r2\n" in run.stdout
    data = json.loads(cli("status", "ring", "--json").stdout)
    assert data["password_shown_by"] == "labctl secrets ring"
    assert [(n["spice"], n["console"]) for n in data["nodes"]] == [
        ("spice://127.0.0.1:5900", "labctl console ring/r1"),
        ("spice://127.0.0.1:5901", "labctl console ring/r2"),
    ]


def test_status_says_which_display_shows_a_desktop(cli: Cli, backend: type[FakeBackend]) -> None:
    state = running("ring", ("r1", "r2"))
    state.plan["nodes"][1]["desktop"] = {"sound": "spice"}
    state.save()
    run = cli("status", "ring")
    assert "  r1  spice://127.0.0.1:5900 (text console)  serial" in run.stdout
    assert "  r2  spice://127.0.0.1:5901 (desktop)  serial" in run.stdout
    data = json.loads(cli("status", "ring", "--json").stdout)
    assert [n["display"] for n in data["nodes"]] == ["text console", "desktop"]


def test_status_says_how_each_node_started(cli: Cli, backend: type[FakeBackend]) -> None:
    state = running("ring", ("r1", "r2", "r3"))
    state.nodes["r1"]["boot"] = state.nodes["r3"]["boot"] = "template 0123456789ab"
    state.nodes["r2"].update(boot="cold", boot_note="--cold")
    state.save()
    run = cli("status", "ring")
    assert "boot: template 0123456789ab: r1, r3\nboot: cold: r2 (--cold)\n" in run.stdout
    nodes = json.loads(cli("status", "ring", "--json").stdout)["nodes"]
    assert [(n["boot"], n.get("boot_note")) for n in nodes] == [
        ("template 0123456789ab", None),
        ("cold", "--cold"),
        ("template 0123456789ab", None),
    ]


def test_status_of_an_empty_name_is_not_every_lab(cli: Cli, backend: type[FakeBackend]) -> None:
    running("ring")
    run = cli("status", "", "--json")
    assert (run.code, run.stdout) == (1, "")
    assert "invalid lab name ''" in run.stderr


def test_secrets_prints_the_lab_passwords_to_root(cli: Cli, backend: type[FakeBackend], private_dirs: Path) -> None:
    running("ring")
    stored = lab_secrets("ring", ("ldap_admin", "spice_password", "root_password"))  # as `up` makes them
    run = cli("secrets", "ring", "--json")
    assert run.code == 0, run.stderr
    data = json.loads(run.stdout)
    assert data["lab"] == "ring"
    assert set(data["secrets"]) == {"ldap_admin", "root_password", "spice_password"}
    assert data["secrets"] == stored and data["missing"] == []
    table = cli("secrets", "ring")
    assert table.code == 0
    assert f"spice_password   {data['secrets']['spice_password']}\n" in table.stdout
    path = private_dirs / "state" / "labctl" / "ring" / "secrets.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


@pytest.mark.parametrize("stored", [(), ("ldap_admin",), ("spice_password",)])
def test_secrets_only_reads_and_names_what_is_missing(
    cli: Cli, backend: type[FakeBackend], private_dirs: Path, stored: tuple[str, ...]
) -> None:
    running("ring")
    if stored:
        lab_secrets("ring", stored)
    before = snapshot(private_dirs)
    missing = [n for n in ("spice_password", "root_password") if n not in stored]
    data = json.loads(cli("secrets", "ring", "--json").stdout)
    assert sorted(data["secrets"]) == sorted(stored)
    assert data["missing"] == missing
    table = cli("secrets", "ring")
    assert table.code == 0
    assert [line.split()[0] for line in table.stdout.splitlines()] == sorted(stored)
    assert table.stderr == f"lab ring has no {', '.join(missing)} (not made by `up` yet, or removed)\n"
    assert snapshot(private_dirs) == before  # nothing created


def test_secrets_of_a_damaged_secrets_file_is_one_error(
    cli: Cli, backend: type[FakeBackend], private_dirs: Path
) -> None:
    running("ring")
    (private_dirs / "state" / "labctl" / "ring" / "secrets.json").write_text("[garbage")
    run = cli("secrets", "ring")
    assert (run.code, run.stdout) == (1, "")
    assert "are damaged" in run.stderr


def test_secrets_refuses_anyone_but_root(
    cli: Cli, backend: type[FakeBackend], monkeypatch: pytest.MonkeyPatch, private_dirs: Path
) -> None:
    running("ring")
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    before = snapshot(private_dirs)
    run = cli("secrets", "ring")
    assert (run.code, run.stdout) == (1, "")
    assert run.stderr == ("error: `labctl secrets` prints the lab's passwords and is for root only; run it with sudo\n")
    assert snapshot(private_dirs) == before


def test_secrets_of_a_lab_that_is_not_running(cli: Cli, backend: type[FakeBackend], private_dirs: Path) -> None:
    run = cli("secrets", "ghost")
    assert run.code == 1
    assert run.stderr == "error: lab 'ghost' is not running (no lab is running)\n"
    assert not (private_dirs / "state" / "labctl" / "ghost").exists()


@pytest.mark.parametrize("name", ["", ".", "..", "../x", "a/b", "-", "ring/"])
def test_the_real_command_deletes_nothing_in_a_sandboxed_state_home(name: str, tmp_path: Path) -> None:
    """The acceptance check, through `python -m labctl` as a user runs it."""
    state = tmp_path / "sandbox" / "state"
    lab = state / "labctl" / "keep"
    lab.mkdir(parents=True)
    (lab / "state.json").write_text("{}")
    (state / "precious").write_text("mine")
    (tmp_path / "sandbox" / "precious").write_text("mine")
    before = snapshot(tmp_path / "sandbox")
    run = subprocess.run(
        [sys.executable, "-m", "labctl", "down", name],
        cwd=REPO,
        env={**os.environ, "XDG_STATE_HOME": str(state), "XDG_CACHE_HOME": str(tmp_path / "cache")},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode != 0
    assert run.stdout == "" and "Traceback" not in run.stderr
    assert snapshot(tmp_path / "sandbox") == before


def test_down_all_goes_on_past_a_lab_it_cannot_remove_and_then_fails(
    cli: Cli, backend: type[FakeBackend], monkeypatch: pytest.MonkeyPatch
) -> None:
    for lab in ("a", "b", "c"):
        running(lab)
    real = FakeBackend.destroy

    def destroy(self: FakeBackend, lab: str, state: LabState | None, progress: object) -> list[str]:
        if lab == "b":
            raise LabctlError("cannot remove domain labctl_b_r1: busy")
        return real(self, lab, state, progress)

    monkeypatch.setattr(FakeBackend, "destroy", destroy)
    run = cli("down", "--all", "--json")
    assert run.code == 1
    data = json.loads(run.stdout)
    assert [d["lab"] for d in data] == ["a", "b", "c"]
    assert data[1] == {"lab": "b", "error": "cannot remove domain labctl_b_r1: busy"}
    assert run.stderr.splitlines() == [
        "error: lab b: cannot remove domain labctl_b_r1: busy",
        "error: could not remove 1 of 3 labs: b",
    ]
    assert running_labs() == ["b"]
    single = cli("down", "b")
    assert single.code == 1 and single.stderr == "error: cannot remove domain labctl_b_r1: busy\n"


def test_ls_lists_a_damaged_lab_instead_of_failing(cli: Cli, private_dirs: Path) -> None:
    running("good")
    folder = private_dirs / "state" / "labctl" / "broken"
    folder.mkdir(parents=True)
    (folder / "state.json").write_text("{not json")
    run = cli("ls", "--json")
    assert run.code == 0, run.stderr
    assert [(r["lab"], r["phase"]) for r in json.loads(run.stdout)] == [("broken", "damaged"), ("good", "up")]
    table = cli("ls")
    assert table.code == 0 and table.stdout.startswith("broken           damaged")


def test_down_refuses_a_symlinked_state_root_and_folders_labctl_did_not_make(
    cli: Cli, backend: type[FakeBackend], private_dirs: Path
) -> None:
    victim = private_dirs / "victim"
    (victim / "etc").mkdir(parents=True)
    victim.chmod(0o755)
    (private_dirs / "state").mkdir()
    (private_dirs / "state" / "labctl").symlink_to(victim)
    run = cli("down", "etc")
    assert run.code == 1 and "is a symbolic link" in run.stderr
    assert (victim / "etc").is_dir() and stat.S_IMODE(victim.stat().st_mode) == 0o755
    assert cli("down", "--all").code == 1 and (victim / "etc").is_dir()
    (private_dirs / "state" / "labctl").unlink()
    running("ring")
    foreign = private_dirs / "state" / "labctl" / "etc"
    foreign.mkdir()
    every = cli("down", "--all", "--json")
    assert every.code == 0, every.stderr
    assert [d["lab"] for d in json.loads(every.stdout)] == ["ring"]
    single = cli("down", "etc")
    assert single.code == 1 and "holds no labctl lab state" in single.stderr
    assert foreign.is_dir()


@pytest.mark.parametrize("timeout", ["nan", "NaN", "inf", "-inf", "0", "-1", "86401", "1e308", "x", ""])
def test_exec_refuses_a_timeout_that_is_not_positive_finite_and_bounded(
    cli: Cli, backend: type[FakeBackend], timeout: str
) -> None:
    running("ring")
    run = cli("exec", "--timeout", timeout, "ring/r1", "--", "true")
    assert (run.code, run.stdout) == (2, "")
    assert "--timeout" in run.stderr


def test_exec_accepts_a_sensible_timeout(cli: Cli, backend: type[FakeBackend], monkeypatch: pytest.MonkeyPatch) -> None:
    running("ring")
    seen: list[float] = []

    class Result:
        stdout = "ok\n"
        stderr = ""
        exit_code = 0

    def fake_exec(self: FakeBackend, state: LabState, node: str, command: str, timeout: float) -> Result:
        seen.append(timeout)
        return Result()

    monkeypatch.setattr(FakeBackend, "exec", fake_exec, raising=False)
    run = cli("exec", "--timeout", "0.5", "ring/r1", "--", "true")
    assert (run.code, run.stdout) == (0, "ok\n")
    assert seen == [0.5]


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("--delay", "999999999s", "delay '999999999s' is longer than 60s"),
        ("--delay", "60001ms", "delay '60001ms' is longer than 60s"),
        ("--jitter", "61s", "jitter '61s' is longer than 60s"),
        ("--delay", "50ms\n", "delay '50ms\\n' is not valid (expected a duration such as '50ms')"),
        ("--delay", "", "delay '' is not valid (expected a duration such as '50ms')"),
        ("--loss", "101%", "loss '101%' is not valid (expected a percentage from 0% to 100%, such as '1%')"),
        ("--loss", "\x1b[31m", "loss '\\x1b[31m' is not valid (expected a percentage from 0% to 100%, such as '1%')"),
    ],
)
def test_link_set_checks_netem_values_as_validate_does(
    cli: Cli, backend: type[FakeBackend], option: str, value: str, message: str
) -> None:
    args = ("--delay", "10ms", option, value) if option == "--jitter" else (option, value)
    run = cli("link", "set", "ring/r1", "r2", *args)
    assert (run.code, run.stdout) == (1, "")
    assert run.stderr == f"error: {option}: {message}\n"


def test_link_set_accepts_the_limit_itself(cli: Cli, backend: type[FakeBackend]) -> None:
    run = cli("link", "set", "ring/r1", "r2", "--delay", "60s", "--jitter", "60000ms", "--loss", "100%")
    assert run.stderr == "error: lab 'ring' is not running (no lab is running)\n"  # past the value checks


def damaged(private_dirs: Path, lab: str = "broken") -> None:
    folder = private_dirs / "state" / "labctl" / lab
    folder.mkdir(parents=True)
    (folder / "state.json").write_text("{not json")


def test_status_of_every_lab_skips_and_reports_a_damaged_one(
    cli: Cli, backend: type[FakeBackend], private_dirs: Path
) -> None:
    running("ring")
    damaged(private_dirs)
    run = cli("status")
    assert run.code == 0, run.stderr
    assert "ring (up, TCG)" in run.stdout
    assert run.stderr == "lab broken: its state is damaged; `labctl down broken` removes the lab\n"
    data = json.loads(cli("status", "--json").stdout)
    assert [(d["lab"], d["phase"]) for d in data] == [("broken", "damaged"), ("ring", "up")]
    only = cli("status", "broken")  # asked for by name: the damage is the answer
    assert only.code == 1 and "is damaged" in only.stderr
    (private_dirs / "state" / "labctl" / "ring" / "state.json").unlink()
    alone = cli("status")
    assert (alone.code, alone.stdout) == (0, "")
    assert "lab broken: its state is damaged" in alone.stderr


def test_a_node_without_lab_is_found_past_a_damaged_lab(
    cli: Cli, backend: type[FakeBackend], private_dirs: Path
) -> None:
    running("ring", ("r1", "r2"))
    damaged(private_dirs, "aaa")
    state, node = labs.resolve_node("r2")
    assert (state.lab, node) == ("ring", "r2")
    run = cli("exec", "zz", "--", "true")
    assert run.code == 1
    assert run.stderr == "error: no running lab has a node 'zz' (not searched, state damaged: aaa)\n"
    link = cli("link", "down", "zz", "r1")
    assert link.code == 1 and "not searched, state damaged: aaa" in link.stderr
