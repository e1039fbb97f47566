"""A shipped lab from up to all-green, then from its own whole-lab snapshot to all-green, in one run;
with each node's guest memory, the lab's QEMU RSS and PSS, and what KSM saves on the running lab.
Writes JSON (default bench/results/snapshot.json).

    .venv/bin/python bench/snapshot.py [--lab voip-demo] [--ksm-timeout 600] [-o FILE]

Steps: `up` (booted templates unless --cold) and the demo; the memory sample; `snapshot`; `reset
--to` that snapshot and the demo again (the snapshot's time to all-green is reset plus demo); then
KSM on until it has scanned all memory twice, and the memory sample again. KSM's previous setting
is put back at the end, and the lab is taken down.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

from boot import run_facts
from ksm import sample, scan_twice

from labctl.backends.libvirt import ksm
from labctl.demo.model import Report
from labctl.service import labs, snapshots, verify

ROOT = Path(__file__).resolve().parent.parent
SLOWEST = 8


def demo(state: labs.LabState, name: str) -> dict[str, Any]:
    start = time.monotonic()
    report: Report = verify.verify(state, name)
    slowest = sorted(report.results, key=lambda r: r.seconds, reverse=True)[:SLOWEST]
    return {
        "seconds": round(time.monotonic() - start, 1),
        "passed": report.passed,
        "counts": report.counts(),
        "slowest_checks": [{"check": r.check, "subject": r.subject, "seconds": round(r.seconds, 1)} for r in slowest],
    }


def guest_memory_mib(lab: str, nodes: list[str]) -> dict[str, dict[str, int]]:
    """MemTotal and what the guest itself uses (MemTotal - MemAvailable), per node."""
    out: dict[str, dict[str, int]] = {}
    for node in nodes:
        info = labs.exec_on(f"{lab}/{node}", ["cat", "/proc/meminfo"], 30).stdout
        kib = {k.strip(): int(v.split()[0]) for k, v in (line.split(":", 1) for line in info.splitlines())}
        out[node] = {"total": kib["MemTotal"] >> 10, "used": (kib["MemTotal"] - kib["MemAvailable"]) >> 10}
    return out


def folder_mib(path: Path) -> float:
    return round(sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) / 2**20, 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lab", default="voip-demo")
    parser.add_argument("--cold", action="store_true", help="boot every node cold instead of from templates")
    parser.add_argument("--ksm-timeout", type=float, default=600.0, help="at most this long for two full scans")
    parser.add_argument("-o", "--output", type=Path, default=ROOT / "bench" / "results" / "snapshot.json")
    args = parser.parse_args()
    was_running = ksm.status().running
    results: dict[str, Any] = {**run_facts(), "lab": args.lab, "path": "cold" if args.cold else "template"}
    labs.down(args.lab, missing_ok=True)
    try:
        ksm.set_running(False)
        start = time.monotonic()
        launched = labs.up(args.lab, cold=args.cold)
        state, lab = launched.state, launched.plan.lab
        results["up_s"] = round(time.monotonic() - start, 1)
        results["demo"] = demo(state, launched.demo or args.lab)
        results["to_all_green_s"] = round(time.monotonic() - start, 1)
        nodes = [n.name for n in launched.plan.nodes]
        results["guest_memory_mib"] = guest_memory_mib(lab, nodes)
        results["memory_ksm_off"] = sample(lab)
        start = time.monotonic()
        record = snapshots.take(lab, "green")
        results["snapshot_s"] = round(time.monotonic() - start, 1)
        results["snapshot_mib"] = folder_mib(state.folder / "snapshots" / record.name)
        start = time.monotonic()
        snapshots.reset(lab, "green")
        results["reset_s"] = round(time.monotonic() - start, 1)
        results["demo_after_reset"] = demo(labs.require_state(lab), launched.demo or args.lab)
        results["snapshot_to_all_green_s"] = round(time.monotonic() - start, 1)
        results |= scan_twice(args.ksm_timeout)
        results["memory_ksm_on"] = sample(lab)
    finally:
        labs.down(args.lab, missing_ok=True)
        ksm.set_running(was_running)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
