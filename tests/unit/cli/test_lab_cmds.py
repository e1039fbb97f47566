"""labctl.cli.lab_cmds: the verbs on running labs, where no lab runs (no libvirt needed)."""

from __future__ import annotations

from labctl.lab.state import LabState
from tests.unit.cli.conftest import Cli


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
