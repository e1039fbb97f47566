"""Bad input at the command line: one clear line and a non-zero exit, never a traceback or a hang;
user text printed as the characters it is (issue 8 §4)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from labctl.cli import command_name, main
from tests.unit.cli.conftest import REPO, Cli

MARKUP = "A lab [/red] with [bold]markup[/bold] and [link=x]y"
ENV = {**os.environ, "PYTHONPATH": str(REPO), "NO_COLOR": "1", "TERM": "dumb", "COLUMNS": "300"}


def lab(description: str = MARKUP) -> str:
    return f"name: lab\ndescription: '{description}'\nnodes:\n  a: {{}}\n"


def real_cli(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """This checkout's labctl in its own process, with a timeout: a hang fails the test."""
    return subprocess.run(
        [sys.executable, "-m", "labctl", *args],
        cwd=cwd,
        env={**ENV, **(env or {})},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_plan_prints_markup_in_a_description_literally(cli: Cli, tmp_path: Path) -> None:
    (tmp_path / "lab.yaml").write_text(lab())
    run = cli("plan", "lab.yaml")
    assert run.code == 0
    assert run.stdout.splitlines()[0] == f"lab (lab.lab) {MARKUP}"


def test_list_prints_markup_and_hostile_errors_literally(
    cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "topologies").mkdir()
    (tmp_path / "topologies" / "good.yaml").write_text(lab())
    (tmp_path / "topologies" / "evil.yaml").write_text('name: lab\nnodes:\n  "\\e[2J[/red]": {}\n')
    (tmp_path / "vm-recipes").symlink_to(REPO / "vm-recipes")  # the roles a topology can name
    monkeypatch.setenv("LABCTL_HOME", str(tmp_path))
    run = cli("list")
    assert run.code == 0
    assert "\x1b" not in run.stdout
    lines = run.stdout.splitlines()
    assert lines[1] == f"good               1 nodes  {MARKUP}"
    evil = tmp_path / "topologies" / "evil.yaml"
    assert lines[0].startswith(f"evil             invalid: {evil}:3: node name '\\x1b[2J[/red]' must be a DNS label")


def test_validate_prints_a_path_with_markup_literally(cli: Cli, tmp_path: Path) -> None:
    (tmp_path / "[bold]lab[red].yaml").write_text(lab("plain"))
    run = cli("validate", "[bold]lab[red].yaml")
    assert run.code == 0
    assert run.stdout == "ok [bold]lab[red].yaml: lab 'lab', 1 nodes, 0 segments\n"


def test_an_error_never_sends_an_escape_sequence_to_the_terminal(cli: Cli, tmp_path: Path) -> None:
    (tmp_path / "lab.yaml").write_text('name: lab\n"\\e]0;owned\\a[bold]": 1\nnodes:\n  a: {}\n')
    run = cli("validate", "lab.yaml")
    assert run.code == 1
    assert run.stderr == "error: lab.yaml:2: unknown key '\\x1b]0;owned\\x07[bold]' in the topology\n"


@pytest.mark.parametrize(
    ("target", "message"),
    [
        ("missing/lab.dot", "error: cannot write missing/lab.dot: folder missing does not exist"),
        ("missing/lab.svg", "error: cannot write missing/lab.svg: folder missing does not exist"),
        ("folder", "error: cannot write folder: it is a directory"),
        ("folder.svg", "error: cannot write folder.svg: it is a directory"),
        ("", "error: cannot write .: it is a directory"),
        ("fifo.dot", "error: cannot write fifo.dot: it is not a regular file"),
        ("file.dot/x.dot", "error: cannot write file.dot/x.dot: folder file.dot does not exist"),
    ],
)
def test_graph_to_a_path_it_cannot_write_is_one_line(cli: Cli, tmp_path: Path, target: str, message: str) -> None:
    (tmp_path / "folder").mkdir()
    (tmp_path / "folder.svg").mkdir()
    (tmp_path / "file.dot").write_text("x")
    os.mkfifo(tmp_path / "fifo.dot")
    run = cli("graph", "line", "-o", target)
    assert run.code == 1
    assert run.stderr == message + "\n"


def test_an_unexpected_error_is_one_line_naming_the_command(
    cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: object) -> None:
        raise KeyError("x")

    monkeypatch.setattr("labctl.service.topologies.compile_topology", broken)
    run = cli("validate", "line")
    assert run.code == 1
    assert run.stdout == ""
    assert run.stderr == (
        "error: labctl validate failed unexpectedly: KeyError: 'x' (run with --debug for the traceback)\n"
    )


def test_the_command_name_includes_the_group() -> None:
    assert command_name(["image", "list", "--json"]) == "labctl image list"
    assert command_name(["--debug", "plan", "line"]) == "labctl plan"
    assert command_name(["demo", "run", "x", "--lab", "y"]) == "labctl demo run"
    assert command_name([]) == "labctl"


def test_an_unexpected_error_with_markup_or_escapes_stays_one_literal_line(
    cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: object) -> None:
        raise RuntimeError("[/red] bad\x1b[2J\nsecond line")

    monkeypatch.setattr("labctl.service.images.list_images", broken)
    run = cli("image", "list")
    assert run.code == 1
    assert run.stderr == (
        "error: labctl image list failed unexpectedly: RuntimeError: [/red] bad\\x1b[2J "
        "(run with --debug for the traceback)\n"
    )


@pytest.mark.parametrize("how", ["option", "environment"])
def test_debug_shows_the_traceback(
    how: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def broken(*args: object) -> None:
        raise KeyError("x")

    monkeypatch.setattr("labctl.service.topologies.compile_topology", broken)
    if how == "option":
        monkeypatch.setattr(sys, "argv", ["labctl", "--debug", "validate", "line"])
    else:
        monkeypatch.setenv("LABCTL_DEBUG", "1")
        monkeypatch.setattr(sys, "argv", ["labctl", "validate", "line"])
    with pytest.raises(SystemExit) as exited:
        main()
    assert exited.value.code == 1
    err = capsys.readouterr().err
    assert "Traceback (most recent call last)" in err and "KeyError: 'x'" in err
    assert err.splitlines()[-1].startswith("error: labctl validate failed unexpectedly: KeyError: 'x'")


def test_a_garbage_debug_variable_is_not_a_usage_error(cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LABCTL_DEBUG", "maybe")
    assert cli("validate", "line").code == 0


@pytest.mark.parametrize("kind", ["fifo", "dev-zero", "symlink-to-dev-zero", "directory"])
def test_the_real_cli_refuses_a_non_regular_topology_without_hanging(tmp_path: Path, kind: str) -> None:
    path = tmp_path / "lab.yaml"
    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "dev-zero":
        path = Path("/dev/zero")
    elif kind == "symlink-to-dev-zero":
        path.symlink_to("/dev/zero")
    else:
        path.mkdir()
    expected = {
        "fifo": "a FIFO (named pipe)",
        "dev-zero": "a character device",
        "symlink-to-dev-zero": "a character device",
        "directory": "a directory",
    }[kind]
    for verb in ("validate", "plan", "graph"):
        result = real_cli(verb, str(path), cwd=tmp_path)
        assert result.returncode == 1
        assert result.stderr == f"error: {path}:1: cannot read {expected}; expected a regular YAML file\n"


def test_the_real_cli_refuses_a_huge_topology(tmp_path: Path) -> None:
    (tmp_path / "huge.yaml").write_text("name: lab\n" + "#" * (2 << 20) + "\n")
    result = real_cli("validate", "huge.yaml", cwd=tmp_path)
    assert result.returncode == 1
    assert result.stderr == "error: huge.yaml:1: the file is larger than 1 MiB; refused unread\n"


def test_the_real_cli_refuses_500_levels_of_nesting(tmp_path: Path) -> None:
    (tmp_path / "deep.yaml").write_text("name: x\nnodes:\n  a: " + "[" * 500 + "]" * 500 + "\n")
    result = real_cli("validate", "deep.yaml", cwd=tmp_path)
    assert result.returncode == 1
    assert result.stderr == "error: deep.yaml:3: the document nests more than 64 levels deep\n"


def test_the_real_cli_lists_past_a_fifo_in_topologies_and_demos(tmp_path: Path) -> None:
    for folder in ("topologies", "demos"):
        (tmp_path / folder).mkdir()
        os.mkfifo(tmp_path / folder / "fifo.yaml")
    for args in (["list"], ["demo", "list"]):
        result = real_cli(*args, cwd=tmp_path, env={"LABCTL_HOME": str(tmp_path)})
        assert result.returncode == 0
        assert "cannot read a FIFO (named pipe)" in result.stdout
        assert "Traceback" not in result.stderr


def test_demo_list_prints_markup_and_escapes_literally(
    cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "demos").mkdir()
    (tmp_path / "demos" / "mine.yaml").write_text(
        'name: "mine"\ndescription: "[/red] \\e[2J"\nchecks:\n  - ping_by_name: {}\n'
    )
    (tmp_path / "demos" / "yours.yaml").write_text('name: "[bold]yours\\e[2J"\nchecks:\n  - ping_by_name: {}\n')
    monkeypatch.setenv("LABCTL_HOME", str(tmp_path))
    run = cli("demo", "list")
    assert run.code == 0
    mine, yours = run.stdout.splitlines()
    assert mine == "mine               1 checks  [/red] \\x1b[2J"
    assert yours.startswith("yours            invalid: ")
    assert yours.endswith(
        "yours.yaml:1: demo name '[bold]yours\\x1b[2J' must be a lowercase letter, then up to 63 letters, digits or '-'"
    )


def test_up_refuses_a_missing_demo_before_building_or_booting_anything(
    cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_backend(*args: object) -> None:
        raise AssertionError("up built images or booted VMs for a topology it cannot run")

    monkeypatch.setattr("labctl.service.labs.build_images", no_backend)
    (tmp_path / "lab.yaml").write_text("name: lab\nnodes:\n  a: {}\ndemo: no-such-demo\n")
    run = cli("up", "lab.yaml")
    assert run.code == 1
    assert run.stderr == (
        "error: lab.yaml:4: demo 'no-such-demo' does not exist (no demos/no-such-demo.yaml)"
        " (known: ospf-dns, voip-demo, voip-desktop)\n"
    )


@pytest.mark.parametrize("name", ["../../etc/passwd", "/etc/passwd", "x[/red]", "a\nb", "", "Debian"])
def test_image_build_refuses_a_name_that_is_a_path_or_markup(cli: Cli, name: str) -> None:
    run = cli("image", "build", name)
    assert run.code == 1
    assert run.stderr.startswith("error: ") and run.stderr.count("\n") == 1
    assert "image name '" in run.stderr and "a lowercase letter, then" in run.stderr  # the cache checks names too


def test_validate_refuses_a_topology_that_is_not_utf8(cli: Cli, tmp_path: Path) -> None:
    (tmp_path / "lab.yaml").write_bytes(b"name: lab\ndescription: \xff\xfe\nnodes:\n  a: {}\n")
    run = cli("validate", "lab.yaml")
    assert run.code == 1
    assert run.stderr == "error: lab.yaml:1: cannot read file: not UTF-8 text (invalid start byte)\n"


def test_a_path_with_a_newline_or_escape_stays_on_one_line(cli: Cli) -> None:
    run = cli("validate", "a\nb\x1b[2J.yaml")
    assert run.code == 1
    assert run.stderr == "error: a\\nb\\x1b[2J.yaml:1: file not found\n"


def test_emoji_codes_in_user_text_are_printed_as_written(cli: Cli, tmp_path: Path) -> None:
    (tmp_path / "lab.yaml").write_text(lab(":x: :thumbs_up:"))
    run = cli("plan", "lab.yaml")
    assert run.code == 0
    assert run.stdout.splitlines()[0] == "lab (lab.lab) :x: :thumbs_up:"


@pytest.mark.parametrize("name", ["a" * 5000, "é" * 150, "a" * 201])
@pytest.mark.parametrize("verb", [("validate",), ("plan",), ("graph",), ("up",)])
def test_a_name_too_long_for_a_file_is_one_clear_line(cli: Cli, verb: tuple[str, ...], name: str) -> None:
    run = cli(*verb, name)
    assert run.code == 1
    assert run.stdout == ""
    assert "failed unexpectedly" not in run.stderr and "OSError" not in run.stderr
    assert run.stderr.startswith("error: no ") and name[:40] + "..." in run.stderr
    assert len(run.stderr.splitlines()) == 1 and len(run.stderr) < 200


@pytest.mark.parametrize("name", ["a" * 5000, "é" * 150])
def test_a_demo_name_too_long_for_a_file_is_a_clear_error(name: str) -> None:
    from labctl.demo.spec import load_demo
    from labctl.errors import LabctlError

    with pytest.raises(LabctlError, match=r"^no demo named '"):
        load_demo(name, ())


def test_a_long_name_that_fits_still_gets_the_usual_answer(cli: Cli) -> None:
    run = cli("validate", "a" * 100)
    assert run.code == 1 and "no topology named" in run.stderr


@pytest.mark.parametrize(
    ("junit", "message"),
    [("/nonexistent/x.xml", "folder /nonexistent does not exist"), (".", "is a folder; give a file name")],
)
def test_up_refuses_a_junit_target_it_cannot_write_before_building_anything(
    cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, junit: str, message: str
) -> None:
    def no_backend(*args: object) -> None:
        raise AssertionError("up built images or booted VMs before checking --junit")

    monkeypatch.setattr("labctl.service.labs.build_images", no_backend)
    (tmp_path / "lab.yaml").write_text("name: lab\nnodes:\n  a: {}\n")
    run = cli("up", "lab.yaml", "--junit", junit)
    assert (run.code, run.stdout) == (1, "")
    assert run.stderr == f"error: --junit {junit}: {message}\n"


def test_image_list_and_rm_cope_with_a_damaged_manifest(cli: Cli, tmp_path: Path) -> None:
    folder = tmp_path / "cache" / "labctl" / "images" / "lab-aaaaaaaaaaaa"
    folder.mkdir(parents=True)
    (folder / "manifest.json").write_text("{garbage")
    listed = cli("image", "list")
    assert listed.code == 0, listed.stderr
    assert "damaged" in listed.stdout and "lab" in listed.stdout
    data = cli("image", "list", "--json")
    assert [(d["name"], d["damaged"]) for d in json.loads(data.stdout)] == [("lab", True)]
    removed = cli("image", "rm", "lab")
    assert removed.code == 0, removed.stderr
    assert not folder.exists()
