"""Helpers for integration tests: run the real CLI, and look for anything a lab left behind."""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from labctl.backends.libvirt.naming import bridge_name, domain_name, tap_name
from labctl.paths import state_dir

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


def host_links() -> set[str]:
    out = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True, check=True).stdout
    return {line.split(":")[1].strip().split("@")[0] for line in out.splitlines()}


def domains() -> set[str]:
    out = subprocess.run(["virsh", "-c", "qemu:///system", "list", "--all", "--name"], capture_output=True, text=True)
    return {line.strip() for line in out.stdout.splitlines() if line.strip()}


def leftovers(plan: dict[str, Any]) -> list[str]:
    """Everything of the lab that still exists on the host."""
    lab = plan["lab"]
    found = [f"domain {d}" for d in domains() if d.startswith(domain_name(lab, ""))]
    links = host_links()
    bridges = [bridge_name(lab, s["name"]) for s in plan["segments"]]
    taps = [tap_name(lab, n["name"], i["name"]) for n in plan["nodes"] for i in n["interfaces"]]
    found += [f"bridge {b}" for b in bridges if b in links]
    found += [f"tap {t}" for t in taps if t in links]
    if (state_dir() / lab).exists():
        found.append(f"state folder {state_dir() / lab}")
    return found


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
