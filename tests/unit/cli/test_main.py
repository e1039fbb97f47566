"""labctl.cli.main, end to end in a real process: errors are one clear line, never a traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.unit.cli.conftest import REPO

CASES = {
    "status-not-running": (["status", "ospf-dns"], "error: lab 'ospf-dns' is not running (no lab is running)"),
    "exec-without-command": (["exec", "h1", "--"], "error: no command given: labctl exec NODE -- CMD..."),
    "demo-without-lab": (["demo", "run", "nope", "--lab", "x"], "error: lab 'x' is not running (no lab is running)"),
    "bad-topology": (["validate", "{bad}"], "error: {bad}:3: memory (MiB) must be at least 64, not 0"),
}


@pytest.mark.parametrize("case", CASES, ids=list(CASES))
def test_errors_are_one_line_without_traceback(case: str, tmp_path: Path) -> None:
    args, expected = CASES[case]
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: bad\nnodes:\n  a: {memory: 0}\n")
    env = {**os.environ, "XDG_STATE_HOME": str(tmp_path / "state"), "XDG_CACHE_HOME": str(tmp_path / "cache")}
    result = subprocess.run(
        [sys.executable, "-m", "labctl", *(a.format(bad=bad) for a in args)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert "Traceback" not in result.stderr + result.stdout
    assert result.stderr == expected.format(bad=bad) + "\n"
