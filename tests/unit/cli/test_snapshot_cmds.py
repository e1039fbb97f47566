"""labctl snapshot / snapshots / reset through the CLI, with a fake backend: names checked before
anything is touched, one-line refusals (unknown lab or snapshot with a hint, lab not up, a snapshot
of another plan), the record written last, links the user took down taken down again."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path
from typing import ClassVar

import pytest

from labctl.backends import registry
from labctl.backends.base import NodeInfo
from labctl.errors import LabctlError
from labctl.state import LabState, load_state
from labctl.state.snapshots import snapshot_folder
from tests.unit.cli.conftest import Cli
from tests.unit.cli.test_lab_cmds import running, snapshot


class SnapBackend:
    calls: ClassVar[list[tuple[str, ...]]] = []
    fail: ClassVar[str | None] = None
    writes: ClassVar[bool] = True
    interrupt: ClassVar[bool] = False

    def __init__(self, images: object = None, disks: object = None, cold: bool = False) -> None:
        pass

    def snapshot(self, state: LabState, name: str, progress: object) -> None:
        SnapBackend.calls.append(("snapshot", state.lab, name))
        if SnapBackend.interrupt:
            os.kill(os.getpid(), signal.SIGINT)  # Ctrl-C half-way
        if SnapBackend.writes:
            (snapshot_folder(state.lab, name) / "r1.save").write_bytes(b"ram")  # a failure may leave files in use
        if SnapBackend.fail:
            raise LabctlError(SnapBackend.fail)

    def reset(self, state: LabState, name: str, progress: object) -> None:
        SnapBackend.calls.append(("reset", state.lab, name, state.phase))
        if SnapBackend.fail:
            raise LabctlError(SnapBackend.fail)

    def set_link(self, state: LabState, node: str, interface: str, up: bool) -> None:
        SnapBackend.calls.append(("link", node, interface, "up" if up else "down"))

    def node_info(self, state: LabState, node: str) -> NodeInfo:
        return NodeInfo("running", display=state.nodes[node]["display"])


@pytest.fixture
def backend(monkeypatch: pytest.MonkeyPatch) -> type[SnapBackend]:
    SnapBackend.calls = []
    SnapBackend.fail = None
    SnapBackend.writes = True
    SnapBackend.interrupt = False
    monkeypatch.setitem(registry._FACTORIES, "libvirt", SnapBackend)
    return SnapBackend


HOSTILE = ["", ".", "..", "../x", "a/b", "Snap", "a b", "snap\n", "x" * 33, "\x1b[31mred"]


@pytest.mark.parametrize("name", HOSTILE)
def test_a_hostile_snapshot_name_is_refused_before_anything_is_touched(
    name: str, cli: Cli, backend: type[SnapBackend], private_dirs: Path
) -> None:
    running("ring")
    before = snapshot(private_dirs)
    for args in (("snapshot", "ring", name), ("reset", "ring", "--to", name)):
        run = cli(*args)
        assert (run.code, run.stdout) == (1, "")
        assert run.stderr.count("\n") == 1 and run.stderr.startswith("error: invalid snapshot name "), run.stderr
    assert snapshot(private_dirs) == before and backend.calls == []


@pytest.mark.parametrize("args", [("snapshot", "{}"), ("snapshots", "{}"), ("reset", "{}", "--to", "snap-1")])
@pytest.mark.parametrize("name", ["", "..", "Ring", "ring\n"])
def test_a_hostile_lab_name_is_refused(args: tuple[str, ...], name: str, cli: Cli, backend: type[SnapBackend]) -> None:
    run = cli(*(a.replace("{}", name) for a in args))
    assert run.code == 1 and run.stderr.count("\n") == 1 and "invalid lab name" in run.stderr


def test_a_lab_that_is_not_running_or_not_up(cli: Cli, backend: type[SnapBackend]) -> None:
    assert cli("snapshot", "ghost").stderr == "error: lab 'ghost' is not running (no lab is running)\n"
    running("ring")
    assert cli("reset", "rign", "--to", "x").stderr == "error: lab 'rign' is not running (did you mean 'ring'?)\n"
    state = load_state("ring")
    assert state is not None
    state.phase = "configuring"
    state.save()
    run = cli("snapshot", "ring")
    assert run.stderr == "error: lab 'ring' is not up (phase configuring); a snapshot is taken of a lab that is up\n"
    assert backend.calls == []


def test_a_snapshot_is_taken_listed_and_shown_in_status(cli: Cli, backend: type[SnapBackend]) -> None:
    state = running("ring")
    state.links_down = [["r1", "lan1"]]
    state.save()
    run = cli("snapshot", "ring", "--json")
    assert run.code == 0, run.stderr
    assert json.loads(run.stdout)["snapshot"] == "snap-1"
    assert backend.calls == [("snapshot", "ring", "snap-1"), ("link", "r1", "lan1", "down")]
    named = cli("snapshot", "ring", "before-ex1")
    assert named.code == 0 and named.stdout.startswith("lab ring: snapshot before-ex1 (1 node, ")
    again = cli("snapshot", "ring", "before-ex1")
    assert again.stderr == "error: lab 'ring' has a snapshot 'before-ex1' already; choose another name\n"
    rows = json.loads(cli("snapshots", "ring", "--json").stdout)
    assert [(r["name"], r["complete"], r["nodes"], r["links_down"]) for r in rows] == [
        ("before-ex1", True, ["r1"], [["r1", "lan1"]]),
        ("snap-1", True, ["r1"], [["r1", "lan1"]]),
    ]
    assert json.loads(cli("status", "ring", "--json").stdout)["snapshots"] == ["before-ex1", "snap-1"]
    assert "snapshots (labctl reset ring --to NAME): before-ex1, snap-1" in cli("status", "ring").stdout


def test_a_failed_snapshot_leaves_no_record_and_says_why_in_one_line(
    cli: Cli, backend: type[SnapBackend], private_dirs: Path
) -> None:
    running("ring")
    backend.fail = "saving failed (node 'r1': No space left on device); the lab runs on as before"
    run = cli("snapshot", "ring", "s1")
    assert (run.code, run.stdout) == (1, "")
    assert run.stderr == f"error: {backend.fail}\n"
    rows = json.loads(cli("snapshots", "ring", "--json").stdout)
    assert rows == [{"name": "s1", "bytes": 3, "complete": False, "problem": rows[0]["problem"]}]
    assert rows[0]["problem"].startswith("incomplete")
    reset = cli("reset", "ring", "--to", "s1")
    assert reset.stderr.startswith("error: snapshot 's1' of lab 'ring' is incomplete")
    backend.writes = False  # a backend that cleaned up after itself: the empty folder goes too
    assert cli("snapshot", "ring", "s2").code == 1
    assert not snapshot_folder("ring", "s2").exists()


def test_reset_goes_back_to_a_snapshot_and_its_links(cli: Cli, backend: type[SnapBackend]) -> None:
    state = running("ring")
    state.links_down = [["r1", "lan1"]]
    state.save()
    assert cli("snapshot", "ring").code == 0
    later = load_state("ring")
    assert later is not None
    later.links_down = []
    later.save()
    backend.calls = []
    run = cli("reset", "ring", "--to", "snap-1")
    assert run.code == 0, run.stderr
    assert run.stdout == "lab ring: reset to snapshot snap-1\n"
    assert backend.calls == [("reset", "ring", "snap-1", "resetting"), ("link", "r1", "lan1", "down")]
    after = load_state("ring")
    assert after is not None and after.phase == "up" and after.links_down == [["r1", "lan1"]]


def test_reset_refusals_name_the_snapshots(cli: Cli, backend: type[SnapBackend]) -> None:
    running("ring")
    assert cli("reset", "ring").stderr == (
        "error: say which snapshot to reset lab 'ring' to: --to NAME (it has none: `labctl snapshot ring`)\n"
    )
    assert cli("snapshot", "ring", "before-ex1").code == 0
    assert cli("reset", "ring").stderr == (
        "error: say which snapshot to reset lab 'ring' to: --to NAME (snapshots: before-ex1)\n"
    )
    typo = cli("reset", "ring", "--to", "before-exl")
    assert typo.stderr == "error: unknown snapshot 'before-exl' of lab 'ring' (did you mean 'before-ex1'?)\n"
    state = load_state("ring")
    assert state is not None
    state.plan["nodes"][0]["address"] = "10.9.9.9"  # the lab is not the one the snapshot was taken of
    state.save()
    other = cli("reset", "ring", "--to", "before-ex1")
    assert other.stderr == (
        "error: snapshot 'before-ex1' of lab 'ring' was taken of another plan than the lab's; it cannot reset it\n"
    )
    assert [c[0] for c in backend.calls] == ["snapshot"]


def test_a_failed_reset_marks_the_lab_failed(cli: Cli, backend: type[SnapBackend]) -> None:
    running("ring")
    assert cli("snapshot", "ring").code == 0
    backend.fail = "resetting failed (node 'r1': QEMU quit); the other nodes run from the snapshot"
    run = cli("reset", "ring", "--to", "snap-1")
    assert run.code == 1 and run.stderr == f"error: {backend.fail}\n"
    state = load_state("ring")
    assert state is not None and state.phase == "failed"
    backend.fail = None
    assert cli("reset", "ring", "--to", "snap-1").code == 0  # a failed lab can be reset again


def test_ctrl_c_while_nodes_are_saved_lets_the_snapshot_finish(cli: Cli, backend: type[SnapBackend]) -> None:
    running("ring")
    backend.interrupt = True
    run = cli("snapshot", "ring", "s1")
    assert run.code == 0, run.stderr
    assert "interrupted: finishing this step first" in run.stderr
    assert [r["complete"] for r in json.loads(cli("snapshots", "ring", "--json").stdout)] == [True]
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
