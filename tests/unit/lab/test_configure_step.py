"""labctl.lab.configure.apply_step: a step is one backend exec (its script run for real here by
/bin/sh, on steps without files), and the error still names the command that failed."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from labctl.backends.base import ExecResult
from labctl.errors import LabctlError
from labctl.lab.configure import apply_step
from labctl.render.recipe import ReadyProbe
from labctl.render.render import RoleStep
from labctl.state import LabState


class ShellBackend:
    """Runs every command with the host's /bin/sh in a scratch folder; records each one."""

    name = "shell"

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.commands: list[str] = []

    def exec(self, state: LabState, node: str, command: str, timeout: float, stdin: bytes | None = None) -> ExecResult:
        self.commands.append(command)
        done = subprocess.run(
            ["/bin/sh", "-c", command], input=stdin or b"", capture_output=True, cwd=self.folder, timeout=timeout
        )
        return ExecResult(done.returncode, done.stdout.decode(), done.stderr.decode())


def apply(tmp_path: Path, step: RoleStep) -> tuple[ShellBackend, list[str]]:
    backend = ShellBackend(tmp_path)
    said: list[str] = []
    apply_step(backend, None, "n1", step, lambda node, message: said.append(f"{node}: {message}"))  # type: ignore[arg-type]
    return backend, said


def test_a_step_is_one_exec_and_a_failure_names_its_command(tmp_path: Path) -> None:
    step = RoleStep("toy", (), ("echo fine", "echo boom >&2; exit 4", "touch never"), None, None)
    with pytest.raises(LabctlError) as caught:
        apply(tmp_path, step)
    assert str(caught.value) == "node 'n1', role toy: `echo boom >&2; exit 4` exited 4: boom"
    assert not (tmp_path / "never").exists()


def test_a_probe_that_holds_at_once_costs_no_second_exec(tmp_path: Path) -> None:
    backend, said = apply(tmp_path, RoleStep("toy", (), ("touch up",), ReadyProbe("test -e up", 5, 0.1), None))
    assert len(backend.commands) == 1
    assert said == ["n1: toy: ready"]


def test_a_probe_that_does_not_hold_yet_is_polled(tmp_path: Path) -> None:
    probe = ReadyProbe("test -e later || { touch later; exit 1; }", 5, 0.1)
    backend, said = apply(tmp_path, RoleStep("toy", (), (), probe, None))
    assert backend.commands[1:] == [probe.command]
    assert said == ["n1: toy: ready"]


def test_a_skipped_step_says_why(tmp_path: Path) -> None:
    backend, said = apply(tmp_path, RoleStep("toy", (), ("exit 1",), None, "echo done before"))
    assert len(backend.commands) == 1
    assert said == ["n1: toy: skipped (done before)"]
