"""Coming up on a busy host (issue 8 §5), with real VMs:

- `up` of a 3-node line with two CPU hogs on this 2-core host succeeds (the hogs are always killed);
- a node that resets while booting is restarted (destroy + create, fresh overlay), not the lab torn down;
- a node whose kernel panics on every boot is restarted a bounded number of times, then `up` fails
  naming the panic, and leaves nothing behind (its template's boot panics first, and is given up
  on at once: the node then boots cold).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from labctl.paths import state_dir
from tests.integration.lab import ROOT, labctl, leftovers, plan_of, write_topology

HOGS = 2
HOG = "while :; do :; done"


def line_topology(tmp_path: Path, name: str) -> str:
    body = (ROOT / "topologies" / "line.yaml").read_text().replace("name: line", f"name: {name}")
    return write_topology(tmp_path, name, body)


@pytest.fixture
def cpu_hogs() -> Iterator[list[subprocess.Popen[bytes]]]:
    """Busy loops, one per core, each under `timeout` so even a killed test cannot leave them running."""
    hogs = [subprocess.Popen(["timeout", "900", "sh", "-c", HOG], start_new_session=True) for _ in range(HOGS)]
    try:
        yield hogs
    finally:
        for hog in hogs:
            os.killpg(hog.pid, signal.SIGKILL)
            hog.wait()


def node_state(lab: str, node: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((state_dir() / lab / "state.json").read_text())
    return dict(data["nodes"][node])


def test_up_succeeds_with_the_cpu_busy(tmp_path: Path, cpu_hogs: list[subprocess.Popen[bytes]]) -> None:
    topo = line_topology(tmp_path, "busy")
    plan = plan_of(topo)
    labctl("down", "busy", check=False)
    try:
        start = time.monotonic()
        labctl("up", topo, "--no-verify", timeout=1800)
        took = time.monotonic() - start
        assert all(hog.poll() is None for hog in cpu_hogs), "the hogs must run for the whole `up`"
        labctl("exec", "busy/a", "--", "ping", "-c1", "-W5", "b")
        for node in ("a", "r", "b"):
            out = labctl("exec", f"busy/{node}", "--", "systemctl", "is-active", "qemu-guest-agent").stdout
            assert out.strip() == "active"
        print(f"up of 3 nodes with {HOGS} CPU hogs: {took:.0f} s")
    finally:
        labctl("down", "busy", check=False)
    assert leftovers(plan) == []


def _wait_for(predicate: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def test_a_node_that_resets_while_booting_is_restarted(tmp_path: Path) -> None:
    topo = line_topology(tmp_path, "reset")
    plan = plan_of(topo)
    labctl("down", "reset", check=False)
    log = state_dir() / "reset" / "nodes" / "r.console.log"
    proc = subprocess.Popen(  # cold: a node restored from a template does not boot, so it cannot reset while booting
        [sys.executable, "-m", "labctl", "up", topo, "--no-verify", "--cold"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        _wait_for(lambda: log.exists() and "Linux version" in log.read_text(errors="replace"), 180, "r's kernel")
        subprocess.run(["virsh", "-c", "qemu:///system", "reset", "labctl_reset_r"], check=True, capture_output=True)
        out, _ = proc.communicate(timeout=1200)
        assert proc.returncode == 0, out
        assert "restarting it (1/2)" in out, out
        restarts = node_state("reset", "r")["restarts"]
        assert restarts == ["the node reset and booted again"]
        assert (log.parent / "r.console.log.1").exists(), "the first boot's console is kept"
        assert node_state("reset", "a")["restarts"] == [] and node_state("reset", "b")["restarts"] == []
        labctl("exec", "reset/a", "--", "ping", "-c1", "-W5", "b")
    finally:
        proc.kill()
        proc.communicate()
        labctl("down", "reset", check=False)
    assert leftovers(plan) == []


PANIC_RUNNER = """
import sys
from labctl.backends.libvirt import domain_xml
# no initramfs init, and no init on the root fs either: every boot of every node panics
domain_xml.KERNEL_CMDLINE += " rdinit=/labctl-no-such-init init=/labctl-no-such-init"
from labctl.cli import main
sys.argv = ["labctl", "up", sys.argv[1], "--no-verify"]
main()
"""

ONE = "name: panic\ndefaults: {memory: 256}\nnodes: {n0: {}}\n"


def test_a_node_that_panics_on_every_boot_is_restarted_twice_then_up_fails_clearly(tmp_path: Path) -> None:
    topo = write_topology(tmp_path, "panic", ONE)
    plan = plan_of(topo)
    labctl("down", "panic", check=False)
    try:
        result = subprocess.run(
            [sys.executable, "-c", PANIC_RUNNER, topo], cwd=ROOT, capture_output=True, text=True, timeout=900
        )
        assert result.returncode == 1, result.stdout + result.stderr
        err = " ".join(result.stderr.split())
        assert "node 'n0' did not answer on its guest agent: kernel panic: Kernel panic - not syncing" in err
        assert "(after 2 restarts:" in err and "Traceback" not in err
        assert "restarting it (2/2)" in result.stdout + result.stderr
        # its template's one boot panicked too: seen on the console at once, not after the agent's timeout
        assert "the template did not boot: kernel panic" in result.stdout + result.stderr
    finally:
        labctl("down", "panic", check=False)
    assert leftovers(plan) == []
