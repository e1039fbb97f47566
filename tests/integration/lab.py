"""Helpers for integration tests: run the real CLI, and look for anything a lab left behind."""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from labctl.service import labs

ROOT = Path(__file__).resolve().parents[2]


def labctl(*args: str, timeout: float = 900, check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [sys.executable, "-m", "labctl", *args], capture_output=True, text=True, timeout=timeout, cwd=ROOT
    )
    if check and result.returncode != 0:
        command = " ".join(args)
        raise AssertionError(
            f"labctl {command} exited {result.returncode}\n--- stdout\n{result.stdout}\n--- stderr\n{result.stderr}"
        )
    return result


def plan_of(topology: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(labctl("plan", topology, "--json").stdout)
    return data


def leftovers(plan: dict[str, Any]) -> list[str]:
    """Everything of the lab that still exists on the host."""
    return labs.leftovers(plan)


def domains() -> set[str]:
    out = subprocess.run(["virsh", "-c", "qemu:///system", "list", "--all", "--name"], capture_output=True, text=True)
    return {line.strip() for line in out.stdout.splitlines() if line.strip()}


def write_topology(folder: Path, name: str, body: str) -> str:
    path = folder / f"{name}.yaml"
    path.write_text(body)
    return str(path)


@contextlib.contextmanager
def running_lab(topology: str, *up_args: str) -> Iterator[tuple[dict[str, Any], subprocess.CompletedProcess[str]]]:
    """`labctl up` (its result is for the test to judge), then `down`, which must leave nothing."""
    plan = plan_of(topology)
    labctl("down", plan["lab"], check=False)
    up = labctl("up", topology, *up_args, check=False)
    try:
        yield plan, up
    finally:
        labctl("down", plan["lab"], check=False)
        assert leftovers(plan) == []
