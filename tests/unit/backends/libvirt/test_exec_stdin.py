"""A stdin too large for one guest-exec call goes through a file of root's that the command's own
shell removes once it has it open; the wrapper runs here with the host's /bin/sh."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from labctl.backends.base import ExecResult
from labctl.backends.libvirt import backend as backend_module


class HostAgent:
    """write_file and exec on the host, standing in for the guest agent."""

    def __init__(self) -> None:
        self.written: list[str] = []

    def write_file(self, path: str, data: bytes) -> None:
        self.written.append(path)
        Path(path).write_bytes(data)

    def exec(self, argv: list[str], timeout: float, stdin: bytes | None = None) -> ExecResult:
        assert stdin is None  # the large stdin never rides in the call itself
        done = subprocess.run(argv, capture_output=True, timeout=timeout)
        return ExecResult(done.returncode, done.stdout.decode(), done.stderr.decode())


def test_a_large_stdin_reaches_the_command_and_its_file_is_gone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(backend_module, "STDIN_FOLDER", str(tmp_path))
    agent = HostAgent()
    data = b"x" * (backend_module.INPUT_LIMIT + 1)
    script = 'n=$(wc -c); ls -A "$PWD" | grep -c labctl-stdin || true; echo "$n"; exit 7'
    result = backend_module._exec_fed_from_file(agent, f"cd {tmp_path}; {script}", 30, data)  # type: ignore[arg-type]
    assert (result.exit_code, result.stdout.split()) == (7, ["0", str(len(data))])
    assert len(agent.written) == 1 and not Path(agent.written[0]).exists()
