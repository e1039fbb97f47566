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

from labctl.service import host, images, labs
from labctl.service.events import Quiet

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


class Restarts(Quiet):
    """A listener that keeps every node restart labctl reported while coming up."""

    def __init__(self) -> None:
        self.events: list[str] = []

    def event(self, node: str, text: str) -> None:
        if "restart" in text:
            self.events.append(f"{node}: {text}")


def cycle(topology: Path, number: int) -> dict[str, Any]:
    listener = Restarts()
    record: dict[str, Any] = {"cycle": number, "ok": True}
    start = time.monotonic()
    try:
        launched = labs.up(str(topology), listener)
        record["up_s"] = round(launched.seconds, 1)
    except Exception as exc:  # a soak records every failure, whatever its kind
        record.update(ok=False, up_s=round(time.monotonic() - start, 1), failure=str(exc))
    record["restart_events"] = listener.events
    start = time.monotonic()
    try:
        labs.down(LAB, missing_ok=True)
    except Exception as exc:
        record.update(ok=False, down_failure=str(exc))
    record["down_s"] = round(time.monotonic() - start, 1)
    record["leaks"] = labs.leftovers(str(topology))
    return record


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cycles", type=int, default=20)
    parser.add_argument("-o", "--output", type=Path, default=ROOT / "bench" / "results" / "soak.json")
    args = parser.parse_args()
    image = images.build_image("debian12-lab")
    results: dict[str, Any] = {
        "host": {
            "cpus": subprocess.run(["nproc"], capture_output=True, text=True).stdout.strip(),
            "kernel": platform.release(),
            "accel": host.accelerator(),
            "load_at_start": [round(x, 2) for x in os.getloadavg()],
        },
        "image": {"digest": image.digest},
        "kernel_cmdline": host.KERNEL_CMDLINE,
        "lab": "3 nodes (a -- r -- b), 256 MiB each",
        "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "cycles": [],
    }
    with tempfile.TemporaryDirectory() as tmp:
        topology = Path(tmp) / f"{LAB}.yaml"
        topology.write_text(TOPOLOGY)
        labs.down(LAB, missing_ok=True)
        for number in range(1, args.cycles + 1):
            record = cycle(topology, number)
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
