"""Soak labctl's lifecycle: N up/down cycles of a quiet 3-node lab (a line: host, router, host).

Per cycle: the time of `up` (to every guest agent answering and the nodes configured) and of
`down`, whether `up` failed and why, the nodes restarted on the way (kernel panic, reset) and
anything left on the host after `down`: domains, bridges, taps, the state folder. The JSON
result goes to bench/results/soak.json (written after every cycle, so a cut run keeps its data).

    .venv/bin/python bench/soak.py [--cycles 20] [-o FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from labctl.backends.libvirt import hostnet
from labctl.backends.libvirt.backend import LibvirtBackend
from labctl.backends.libvirt.domain_xml import KERNEL_CMDLINE
from labctl.backends.libvirt.naming import bridge_name, domain_name, tap_name
from labctl.backends.registry import create_backend
from labctl.compile import compile_topology
from labctl.compile.plan import LabPlan
from labctl.images.cache import ensure_image
from labctl.lab import lifecycle
from labctl.state import lab_folder
from labctl.topology.schema import load_topology

ROOT = Path(__file__).resolve().parent.parent
LAB = "soak"
TOPOLOGY = f"""name: {LAB}
description: soak test, a line of three nodes
defaults: {{memory: 256}}
nodes:
  a: {{}}
  r: {{roles: [router]}}
  b: {{}}
links:
  - [a, r]
  - [r, b]
"""


def leaks(backend: LibvirtBackend, plan: LabPlan) -> list[str]:
    """Everything of the lab still on the host."""
    prefix = domain_name(plan.lab, "")
    found = [f"domain {d.name()}" for d in backend.conn.listAllDomains() if d.name().startswith(prefix)]
    links = set(hostnet.bridges_of(plan.lab))
    out = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True, check=True).stdout
    present = {line.split(":")[1].strip().split("@")[0] for line in out.splitlines()}
    bridges = [bridge_name(plan.lab, s.name) for s in plan.segments]
    taps = [tap_name(plan.lab, n.name, i.name) for n in plan.nodes for i in n.interfaces]
    found += [f"bridge {b}" for b in bridges if b in present or b in links]
    found += [f"tap {t}" for t in taps if t in present]
    if lab_folder(plan.lab).exists():
        found.append(f"state folder {lab_folder(plan.lab)}")
    return found


def cycle(backend: LibvirtBackend, plan: LabPlan, topology: Path, number: int) -> dict[str, Any]:
    events: list[str] = []

    def progress(node: str, message: str) -> None:
        if "restart" in message:
            events.append(f"{node}: {message}")

    record: dict[str, Any] = {"cycle": number, "ok": True}
    start = time.monotonic()
    try:
        result = lifecycle.up(backend, plan, str(topology), progress, lambda _t: None)
        record["up_s"] = round(result.seconds, 1)
        infos = {n.name: backend.node_info(result.state, n.name) for n in plan.nodes}
        record["restarts"] = {n: list(info.restarts) for n, info in infos.items() if info.restarts}
    except Exception as exc:  # a soak records every failure, whatever its kind
        record.update(ok=False, up_s=round(time.monotonic() - start, 1), failure=str(exc))
    record["restart_events"] = events
    start = time.monotonic()
    try:
        lifecycle.down(backend, plan.lab, lambda _n, _m: None)
    except Exception as exc:
        record.update(ok=False, down_failure=str(exc))
    record["down_s"] = round(time.monotonic() - start, 1)
    record["leaks"] = leaks(backend, plan)
    return record


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cycles", type=int, default=20)
    parser.add_argument("-o", "--output", type=Path, default=ROOT / "bench" / "results" / "soak.json")
    args = parser.parse_args()
    image, _ = ensure_image("debian12-lab", lambda _s: None)
    backend = create_backend("libvirt", {"debian12-lab": image})
    assert isinstance(backend, LibvirtBackend)  # this bench measures the libvirt backend itself
    results: dict[str, Any] = {
        "host": {
            "cpus": subprocess.run(["nproc"], capture_output=True, text=True).stdout.strip(),
            "kernel": platform.release(),
            "accel": backend.accel(),
            "load_at_start": [round(x, 2) for x in os.getloadavg()],
        },
        "image": {"digest": image.digest},
        "kernel_cmdline": KERNEL_CMDLINE,
        "lab": "3 nodes (a -- r -- b), 256 MiB each",
        "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "cycles": [],
    }
    with tempfile.TemporaryDirectory() as tmp:
        topology = Path(tmp) / f"{LAB}.yaml"
        topology.write_text(TOPOLOGY)
        plan = compile_topology(load_topology(topology))
        lifecycle.down(backend, plan.lab, lambda _n, _m: None)
        for number in range(1, args.cycles + 1):
            record = cycle(backend, plan, topology, number)
            results["cycles"].append(record)
            results["summary"] = summarize(results["cycles"])
            args.output.parent.mkdir(parents=True, exist_ok=True)
            args.output.write_text(json.dumps(results, indent=2) + "\n")
            status = "ok" if record["ok"] else f"FAILED: {record.get('failure') or record.get('down_failure')}"
            extra = f" restarts={record['restart_events']}" if record["restart_events"] else ""
            leaked = f" LEAKS={record['leaks']}" if record["leaks"] else ""
            print(
                f"cycle {number}/{args.cycles}: up {record['up_s']} s, down {record['down_s']} s,"
                f" {status}{extra}{leaked}",
                flush=True,
            )
    print(json.dumps(results["summary"], indent=2))


def summarize(cycles: list[dict[str, Any]]) -> dict[str, Any]:
    ups = [c["up_s"] for c in cycles if c["ok"]]
    return {
        "cycles": len(cycles),
        "failures": sum(not c["ok"] for c in cycles),
        "cycles_with_leaks": sum(bool(c["leaks"]) for c in cycles),
        "node_restarts": sum(len(c["restart_events"]) for c in cycles),
        "up_s": {
            "min": min(ups, default=None),
            "median": round(statistics.median(ups), 1) if ups else None,
            "max": max(ups, default=None),
        },
        "down_s_max": max((c["down_s"] for c in cycles), default=None),
    }


if __name__ == "__main__":
    main()
