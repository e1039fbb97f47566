"""labctl.cli.topology_cmds: validate, plan, graph and list, which only read topologies."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from labctl.service.topologies import redact
from tests.unit.cli.conftest import REPO, Cli

BAD = "name: bad\nnodes:\n  a: {memory: 0}\n"


def test_validate_ok(cli: Cli) -> None:
    run = cli("validate", "ospf-dns")
    assert run.code == 0
    assert run.stdout == f"ok {REPO}/topologies/ospf-dns.yaml: lab 'ospf-dns', 6 nodes, 5 segments\n"


def test_validate_never_wraps_a_long_path(cli: Cli, tmp_path: Path) -> None:
    """Without a terminal Rich assumes 80 columns; a long path must still come out on one line."""
    folder = tmp_path / ("deep-" * 12)
    folder.mkdir()
    (folder / "ospf-dns.yaml").write_text((REPO / "topologies" / "ospf-dns.yaml").read_text())
    run = cli("validate", str(folder / "ospf-dns.yaml"))
    assert run.code == 0
    assert run.stdout == f"ok {folder}/ospf-dns.yaml: lab 'ospf-dns', 6 nodes, 5 segments\n"


def test_validate_a_bad_file_prints_one_located_line(cli: Cli, tmp_path: Path) -> None:
    (tmp_path / "bad.yaml").write_text(BAD)
    run = cli("validate", "bad.yaml")
    assert run.code == 1
    assert run.stdout == ""
    assert run.stderr == "error: bad.yaml:3: memory (MiB) must be at least 64, not 0\n"


def test_validate_an_unknown_name_suggests_one(cli: Cli) -> None:
    run = cli("validate", "ospf-dsn")
    assert run.code == 1
    assert run.stderr.startswith("error: no topology named 'ospf-dsn' in ")
    assert run.stderr.endswith("(did you mean 'ospf-dns'?)\n") and run.stderr.count("\n") == 1


def plan_json(*args: str) -> bytes:
    return subprocess.run(
        [sys.executable, "-m", "labctl", "plan", *args],
        cwd=REPO,
        env={**os.environ, "PYTHONHASHSEED": "random"},
        capture_output=True,
        check=True,
        timeout=60,
    ).stdout


def test_plan_json_is_byte_identical_across_runs_and_equals_the_golden_plan() -> None:
    first, second = plan_json("ospf-dns", "--json"), plan_json("ospf-dns", "--json")
    assert first == second
    assert first == (REPO / "tests" / "golden" / "ospf-dns.plan.json").read_bytes()
    assert json.loads(first)["lab"] == "ospf-dns"


def test_plan_as_tables_lists_nodes_and_segments(cli: Cli) -> None:
    run = cli("plan", "line")
    assert run.code == 0
    for word in ("line", "nodes", "segments", "10.0.0.2", "router"):
        assert word in run.stdout


def test_graph_writes_dot(cli: Cli, tmp_path: Path) -> None:
    run = cli("graph", "ospf-dns", "-o", "x.dot")
    assert run.code == 0 and run.stdout == "wrote x.dot\n"
    dot = (tmp_path / "x.dot").read_text()
    assert dot.lstrip().startswith(("graph", "digraph", "strict"))
    for node in ("r1", "r2", "r3", "ns", "h1", "h2", "lan1", "lan2"):
        assert node in dot


def test_graph_without_graphviz_falls_back_to_dot_and_says_so(
    cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    run = cli("graph", "ospf-dns", "-o", "x.svg")
    assert run.code == 0
    assert not (tmp_path / "x.svg").exists()
    assert (tmp_path / "x.dot").read_text().lstrip().startswith(("graph", "digraph", "strict"))
    assert "Graphviz 'dot' is not installed; wrote x.dot instead" in run.stderr


def test_list_shows_every_shipped_topology(cli: Cli) -> None:
    run = cli("list")
    assert run.code == 0
    lines = run.stdout.splitlines()
    assert [line.split()[0] for line in lines] == sorted(p.stem for p in (REPO / "topologies").glob("*.yaml"))
    assert any(line.split()[:3] == ["ospf-dns", "6", "nodes"] for line in lines)


def test_list_marks_an_invalid_topology_instead_of_failing(
    cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "topologies").mkdir()
    (tmp_path / "topologies" / "bad.yaml").write_text(BAD)
    (tmp_path / "topologies" / "line.yaml").write_text((REPO / "topologies" / "line.yaml").read_text())
    (tmp_path / "vm-recipes").symlink_to(REPO / "vm-recipes")  # the roles a topology can name
    monkeypatch.setenv("LABCTL_HOME", str(tmp_path))
    run = cli("list")
    assert run.code == 0
    assert "bad" in run.stdout and "invalid" in run.stdout and "memory (MiB) must be at least 64" in run.stdout
    assert "line" in run.stdout and "3 nodes" in run.stdout


def test_plan_json_redacts_every_sip_password(cli: Cli) -> None:
    run = cli("plan", "voip-demo", "--json")
    assert run.code == 0
    plan = json.loads(run.stdout)
    assert "secret-1" not in run.stdout
    assert {a["password"] for a in plan["sip"]["accounts"]} == {"********"}
    phones = [n["phone"] for n in plan["nodes"] if n["phone"]]
    assert phones and {p["password"] for p in phones} == {"********"}
    assert {a["user"] for a in plan["sip"]["accounts"]} == {"alice", "bob", "carol", "dave"}


def test_plan_json_shows_the_passwords_only_when_asked(cli: Cli) -> None:
    run = cli("plan", "voip-demo", "--json", "--show-secrets")
    assert run.code == 0
    plan = json.loads(run.stdout)
    assert "********" not in run.stdout
    assert {a["user"]: a["password"] for a in plan["sip"]["accounts"]}["alice"] == "alice-secret-1"
    assert plan_json("voip-demo", "--json", "--show-secrets").decode() == run.stdout


def test_plan_table_lists_sip_accounts_with_redacted_passwords(cli: Cli) -> None:
    run = cli("plan", "voip-demo")
    assert run.code == 0
    assert "SIP accounts" in run.stdout and "alice" in run.stdout and "1001" in run.stdout
    assert "secret" not in run.stdout and "********" in run.stdout
    shown = cli("plan", "voip-demo", "--show-secrets")
    assert "alice-secret-1" in shown.stdout and "********" not in shown.stdout


def test_plan_redacts_a_password_of_any_topology(cli: Cli, tmp_path: Path) -> None:
    text = (REPO / "topologies" / "voip-demo.yaml").read_text().replace("alice-secret-1", "Zq9-distinctive")
    (tmp_path / "t.yaml").write_text(text)
    for args in ((), ("--json",)):
        run = cli("plan", "t.yaml", *args)
        assert run.code == 0, run.stderr
        assert "Zq9" not in run.stdout and "********" in run.stdout
        assert "Zq9-distinctive" in cli("plan", "t.yaml", *args, "--show-secrets").stdout


def test_redact_walks_every_level() -> None:
    data = {"a": [{"password": "p", "x": {"ldap_password": "q", "spice_secret": 1}}], "password_hint": "ok"}
    assert redact(data) == {
        "a": [{"password": "********", "x": {"ldap_password": "********", "spice_secret": "********"}}],
        "password_hint": "ok",
    }
    assert redact([]) == [] and redact(None) is None and redact("password") == "password"


def fake_dot(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A `dot` on PATH that records its arguments and writes a file: no real Graphviz, no window."""
    folder = tmp_path / "fake-bin"
    folder.mkdir()
    log = tmp_path / "dot-args"
    script = folder / "dot"
    script.write_text(f'#!/bin/sh\necho "$@" >> {log}\ncat > /dev/null\nwhile [ $# -gt 1 ]; do shift; done\n: > "$1"\n')
    script.chmod(0o755)
    monkeypatch.setenv("PATH", f"{folder}:{os.environ.get('PATH', '')}")
    return log


@pytest.mark.parametrize("target", ["x.x11", "x.gtk", "x.xlib", "x.json", "x.svg.x11", "x.ps"])
def test_graph_refuses_formats_other_than_svg_png_pdf_dot(
    cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, target: str
) -> None:
    log = fake_dot(tmp_path, monkeypatch)
    run = cli("graph", "ospf-dns", "-o", target)
    assert (run.code, run.stdout) == (1, "")
    assert run.stderr == f"error: cannot write {target}: the file name must end in .svg, .png, .pdf, .dot\n"
    assert not log.exists() and not (tmp_path / target).exists()


@pytest.mark.parametrize(("target", "fmt"), [("x.svg", "svg"), ("x.png", "png"), ("x.pdf", "pdf"), ("x.SVG", "svg")])
def test_graph_hands_dot_only_the_allowed_formats(
    cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, target: str, fmt: str
) -> None:
    log = fake_dot(tmp_path, monkeypatch)
    run = cli("graph", "ospf-dns", "-o", target)
    assert run.code == 0, run.stderr
    assert log.read_text() == f"-T{fmt} -o {target}\n"
