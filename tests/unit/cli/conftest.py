"""Run the CLI in-process, as `labctl ARGS...` would (main(), so errors go through its handler).

Every test gets its own XDG_STATE_HOME and XDG_CACHE_HOME, so no real lab state is seen or touched.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from labctl.cli import main

REPO = Path(__file__).resolve().parents[3]


@dataclass(frozen=True)
class Run:
    code: int
    stdout: str
    stderr: str


Cli = Callable[..., Run]


@pytest.fixture(autouse=True)
def private_dirs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture
def cli(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Cli:
    def run(*args: str) -> Run:
        monkeypatch.setattr(sys, "argv", ["labctl", *args])
        code = 0
        try:
            main()
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        out = capsys.readouterr()
        assert "Traceback" not in out.out + out.err
        return Run(code, out.out, out.err)

    return run
