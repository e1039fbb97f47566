"""labctl.cli.demo_cmds: listing demos, and running one where no lab runs."""

from __future__ import annotations

from labctl.demo.checks import check_types
from labctl.demo.spec import load_demo
from labctl.lab.state import LabState
from tests.unit.cli.conftest import REPO, Cli


def test_demo_list_shows_every_demo_with_its_checks(cli: Cli) -> None:
    run = cli("demo", "list")
    assert run.code == 0
    demos = sorted((REPO / "demos").glob("*.yaml"))
    # Rich wraps long descriptions onto lines of their own, so look for each demo's first line.
    starts = [line.split()[:3] for line in run.stdout.splitlines() if line.split()[1:3][-1:] == ["checks"]]
    assert starts == [[p.stem, str(len(load_demo(str(p), check_types()).checks)), "checks"] for p in demos]


def test_demo_run_without_the_lab(cli: Cli) -> None:
    run = cli("demo", "run", "ospf-dns")
    assert run.code == 1
    assert run.stderr == "error: lab 'ospf-dns' is not running (no lab is running)\n"


def test_demo_run_of_an_unknown_demo_suggests_one(cli: Cli) -> None:
    LabState(lab="ring", backend="libvirt", topology="t", plan={"nodes": []}).save()
    run = cli("demo", "run", "ospf-dsn", "--lab", "ring")
    assert run.code == 1
    assert run.stderr.startswith("error: no demo named 'ospf-dsn' in ")
    assert run.stderr.endswith("(did you mean 'ospf-dns'?)\n") and run.stderr.count("\n") == 1


def test_demo_without_a_verb_shows_help(cli: Cli) -> None:
    run = cli("demo")
    assert run.code in (0, 2)
    assert "run" in run.stdout + run.stderr and "list" in run.stdout + run.stderr
