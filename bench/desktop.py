"""What a desktop phone costs against a headless one, side by side in one lab (voip-desktop: alice
runs the Linphone GUI on an Xorg desktop, bob runs linphonec): the time from `up` to each node's
guest agent and to its last role being ready, the QEMU process's RSS and the guest's own memory
use once the lab is green, and the size of each node's image. Writes JSON (default
bench/results/desktop.json).

    .venv/bin/python bench/desktop.py [-o FILE]

The issue's target: the desktop phone's RSS at most twice the headless phone's.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from boot import qemu_rss_mib, run_facts

from labctl.service import host, images, labs, verify
from labctl.service.events import Quiet

ROOT = Path(__file__).resolve().parent.parent
LAB, DESKTOP, HEADLESS = "voip-desktop", "alice", "bob"


class Timeline(Quiet):
    """When each node's agent answered and when each of its roles was ready."""

    def __init__(self) -> None:
        self.start = time.monotonic()
        self.seen: dict[str, dict[str, float]] = {}

    def event(self, node: str, message: str) -> None:
        if message == "agent ready" or message.endswith(": ready"):
            self.seen.setdefault(node, {})[message] = round(time.monotonic() - self.start, 1)


def guest_used_mib(node: str) -> float:
    """MemTotal - MemAvailable inside the guest."""
    argv = [sys.executable, "-m", "labctl", "exec", f"{LAB}/{node}", "--", "cat", "/proc/meminfo"]
    text = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, check=True).stdout
    kib = {line.split(":")[0]: int(line.split()[1]) for line in text.splitlines() if line.split()[1:]}
    return round((kib["MemTotal"] - kib["MemAvailable"]) / 1024, 1)


def node_record(node: str, timeline: Timeline, rss: dict[str, float], image: str, memory: int) -> dict[str, Any]:
    seen = timeline.seen.get(node, {})
    built = images.build_image(image)
    return {
        "node": node,
        "image": image,
        "image_qcow2_mib": round(built.disk.stat().st_size / 2**20, 1),
        "memory_mib": memory,
        "agent_ready_s": seen.get("agent ready"),
        "all_roles_ready_s": max((t for m, t in seen.items() if m != "agent ready"), default=None),
        "qemu_rss_mib": rss.get(node),
        "guest_used_mib": guest_used_mib(node),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-o", "--output", type=Path, default=ROOT / "bench" / "results" / "desktop.json")
    args = parser.parse_args()
    results: dict[str, Any] = run_facts()
    results["host"]["accel"] = host.accelerator()
    labs.down(LAB, missing_ok=True)
    timeline = Timeline()
    launched = labs.up(LAB, timeline)
    try:
        report = verify.verify(launched.state, launched.demo or LAB)
        results["demo_passed"], results["demo_counts"] = report.passed, report.counts()
        rss = qemu_rss_mib(LAB)
        nodes = {n.name: n for n in launched.plan.nodes}
        desk, head = (node_record(n, timeline, rss, nodes[n].image, nodes[n].memory) for n in (DESKTOP, HEADLESS))
    finally:
        labs.down(LAB)
    results["desktop"], results["headless"] = desk, head
    results["ratios"] = {
        key: round(desk[key] / head[key], 2)
        for key in ("qemu_rss_mib", "guest_used_mib", "all_roles_ready_s", "agent_ready_s", "image_qcow2_mib")
        if desk.get(key) and head.get(key)
    }
    results["target"] = {"desktop_rss_at_most_2x_headless": results["ratios"].get("qemu_rss_mib", 99) <= 2.0}
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
