"""labctl desktop: a node's SPICE display opened in remote-viewer with the lab's password (in a 0600
file, never on a command line), or its URI and ssh tunnel where no window can open; refusals in one
line. A fake backend gives the displays; a fake remote-viewer shows what it was handed."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from labctl.backends import registry
from labctl.backends.base import NodeInfo
from labctl.errors import LabctlError
from labctl.service.desktops import (
    connection_file,
    find_desktop,
    open_desktop,
    spice_port,
    tunnel_command,
    viewer_here,
)
from labctl.state import LabState, lab_secrets
from tests.unit.cli.conftest import Cli
from tests.unit.cli.test_lab_cmds import running


class DisplayBackend:
    def __init__(self, images: object = None, disks: object = None, cold: bool = False) -> None:
        pass

    def node_info(self, state: LabState, node: str) -> NodeInfo:
        display = state.nodes[node]["display"]
        return NodeInfo("running" if display else "shut off", display=display)


@pytest.fixture(autouse=True)
def backend(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(registry._FACTORIES, "libvirt", DisplayBackend)


@pytest.fixture
def viewer(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fake remote-viewer that keeps its arguments, the file's mode and text, and exits 3."""
    seen = tmp_path / "seen"
    script = tmp_path / "remote-viewer"
    script.write_text(
        f'#!/bin/sh\necho "$@" > {seen}.args\nstat -c %a "$1" > {seen}.mode\ncat "$1" > {seen}.vv\nexit 3\n'
    )
    script.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}:{os.environ['PATH']}")
    monkeypatch.setenv("DISPLAY", ":0")
    return seen


# -- pure parts --------------------------------------------------------------------------------


@pytest.mark.parametrize(("uri", "port"), [("spice://127.0.0.1:5900", 5900), ("spice://127.0.0.1:65535", 65535)])
def test_the_port_of_a_local_spice_display(uri: str, port: int) -> None:
    assert spice_port(uri) == port


@pytest.mark.parametrize(
    "uri",
    ["", "garbage", "vnc://127.0.0.1:5900", "spice://0.0.0.0:5900", "spice://127.0.0.1", "spice://127.0.0.1:99999"],
)
def test_a_display_that_is_not_local_spice_is_refused(uri: str) -> None:
    with pytest.raises(LabctlError, match=r"is not a SPICE display on 127\.0\.0\.1"):
        spice_port(uri)


def test_the_tunnel_forwards_the_same_port_to_the_host_s_loopback() -> None:
    assert tunnel_command(5901, "root", "lab.example") == "ssh -N -L 5901:127.0.0.1:5901 root@lab.example"


@pytest.mark.parametrize(
    ("env", "which", "why"),
    [
        ({}, "/usr/bin/remote-viewer", "no graphical session here"),
        ({"DISPLAY": ""}, "/usr/bin/remote-viewer", "no graphical session here"),
        ({"DISPLAY": ":0"}, None, "remote-viewer is not installed (Debian package virt-viewer)"),
        ({"WAYLAND_DISPLAY": "wayland-0"}, None, "not installed"),
    ],
)
def test_no_window_without_a_session_or_a_viewer(env: dict[str, str], which: str | None, why: str) -> None:
    viewer, reason = viewer_here(env, which)
    assert viewer is None and why in reason


def test_a_window_with_a_session_and_a_viewer() -> None:
    assert viewer_here({"WAYLAND_DISPLAY": "wayland-0"}, "/usr/bin/remote-viewer") == ("/usr/bin/remote-viewer", "")


def test_the_connection_file() -> None:
    assert connection_file("labctl lab/a", 5901, "pw-1_x").splitlines() == [
        "[virt-viewer]",
        "type=spice",
        "host=127.0.0.1",
        "port=5901",
        "password=pw-1_x",
        "title=labctl lab/a",
        "delete-this-file=1",
    ]


@pytest.mark.parametrize("password", ["pw\nhost=evil", "pw\r", "", "   ", "pw\x00"])
def test_a_value_that_would_add_a_line_to_the_connection_file_is_refused(password: str) -> None:
    with pytest.raises(LabctlError, match="cannot go in a connection file"):
        connection_file("t", 5901, password)


# -- the command -------------------------------------------------------------------------------


def test_without_a_session_it_prints_the_uri_and_the_tunnel(cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    running("lab", ("a", "b"))
    run = cli("desktop", "lab/b")
    assert run.code == 0, run.stderr
    assert "not opened here: no graphical session here" in run.stdout
    assert "lab/b: spice://127.0.0.1:5901 (listens on this host's 127.0.0.1 only)" in run.stdout
    assert "ssh -N -L 5901:127.0.0.1:5901 " in run.stdout
    assert "labctl secrets lab" in run.stdout


def test_json(cli: Cli) -> None:
    running("lab", ("a",))
    data = json.loads(cli("desktop", "a", "--json").stdout)
    assert data["lab"] == "lab" and data["node"] == "a" and data["uri"] == "spice://127.0.0.1:5900"
    assert data["tunnel"].startswith("ssh -N -L 5900:127.0.0.1:5900 ")
    assert data["password_shown_by"] == "labctl secrets lab"
    assert "password" not in data


def test_it_opens_remote_viewer_with_the_password_in_a_private_file(cli: Cli, viewer: Path) -> None:
    running("lab", ("a",))
    password = lab_secrets("lab", ("spice_password",))["spice_password"]
    run = cli("desktop", "lab/a")
    assert run.code == 3  # remote-viewer's own exit code
    assert "opening lab/a (spice://127.0.0.1:5900) in " in run.stderr
    assert password not in Path(f"{viewer}.args").read_text()  # never on a command line
    assert Path(f"{viewer}.mode").read_text().strip() == "600"
    assert f"password={password}\n" in Path(f"{viewer}.vv").read_text()
    assert "port=5900\n" in Path(f"{viewer}.vv").read_text()
    folder = Path(Path(f"{viewer}.args").read_text().split()[0]).parent
    assert not folder.exists()  # the file and its folder are gone


def test_print_opens_nothing(cli: Cli, viewer: Path) -> None:
    running("lab", ("a",))
    run = cli("desktop", "a", "--print")
    assert run.code == 0 and "spice://127.0.0.1:5900" in run.stdout and "not opened" not in run.stdout
    assert not Path(f"{viewer}.args").exists()


def test_only_root_opens_it(viewer: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    running("lab", ("a",))
    lab_secrets("lab", ("spice_password",))
    found = find_desktop("lab/a")
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    with pytest.raises(LabctlError, match="the lab's SPICE password is root's: run `labctl desktop` with sudo"):
        open_desktop(found)
    assert not Path(f"{viewer}.args").exists()


def test_a_lab_without_its_password_is_said_so(cli: Cli, viewer: Path) -> None:
    running("lab", ("a",))
    run = cli("desktop", "a")
    assert run.code == 1 and "lab lab has no SPICE password" in run.stderr
    assert run.stderr.count("\n") == 1


@pytest.mark.parametrize(
    ("ref", "message"),
    [
        ("lab/nobody", "lab 'lab' has no node 'nobody' (nodes: a, off)"),
        ("lab/of", "lab 'lab' has no node 'of' (did you mean 'off'?)"),
        ("nolab/a", "lab 'nolab' is not running (did you mean 'lab'?)"),
        ("nobody", "no running lab has a node 'nobody'"),
        ("lab/b/c", "invalid node name 'b/c'"),
        ("lab/off", "node 'lab/off' has no display now (it is shut off)"),
    ],
)
def test_refusals_are_one_line(cli: Cli, ref: str, message: str) -> None:
    state = running("lab", ("a", "off"))
    state.nodes["off"]["display"] = None
    state.save()
    run = cli("desktop", ref)
    assert run.code == 1 and run.stderr.startswith("error: ") and run.stderr.count("\n") == 1
    assert message in run.stderr
