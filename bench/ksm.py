"""What KSM saves on a lab of nodes booted from one image: the QEMU processes' RSS and PSS with KSM
off, then after the kernel has scanned all guest memory twice with KSM on (`labctl host start
--ksm`), and the kernel's own count of the bytes merged. Writes JSON (default bench/results/ksm.json).

    .venv/bin/python bench/ksm.py [--nodes 6] [--timeout 600] [-o FILE]

KSM's previous setting is put back at the end. RSS counts a merged page in every process that maps
it, so only PSS and `saved_bytes` show the saving.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from boot import chain_lab, qemu_rss_mib, run_facts

from labctl.backends.libvirt import ksm

ROOT = Path(__file__).resolve().parent.parent


def labctl(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "labctl", *args], cwd=ROOT, capture_output=True, text=True)


def qemu_pss_mib(lab: str) -> float:
    """The lab's QEMU processes' proportional set size, summed (a merged page counted once)."""
    out = subprocess.run(["pgrep", "-f", f"guest=labctl_{lab}_"], capture_output=True, text=True).stdout
    total = 0
    for pid in out.split():
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                total += int(line.split()[1])
    return round(total / 1024, 1)


def sample(lab: str) -> dict[str, Any]:
    rss = qemu_rss_mib(lab)
    merged = ksm.status()
    return {
        "rss_total_mib": round(sum(rss.values()), 1),
        "pss_total_mib": qemu_pss_mib(lab),
        "ksm_saved_mib": round(merged.saved_bytes / 2**20, 1),
        "rss_mib": rss,
    }


def full_scans() -> int:
    return int((ksm.SYSFS / "full_scans").read_text())


def scan_twice(timeout: float) -> dict[str, Any]:
    """Start KSM and wait until it has scanned all memory twice (at most `timeout` seconds)."""
    ksm.set_running(True)
    start, scans = time.monotonic(), full_scans()
    while full_scans() < scans + 2 and time.monotonic() - start < timeout:
        time.sleep(5)
    return {"ksm_scan_s": round(time.monotonic() - start, 1), "ksm_full_scans": full_scans() - scans}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--nodes", type=int, default=6)
    parser.add_argument("--timeout", type=float, default=600.0, help="at most this long for two full scans")
    parser.add_argument("-o", "--output", type=Path, default=ROOT / "bench" / "results" / "ksm.json")
    args = parser.parse_args()
    lab = f"ksm{args.nodes}"
    was_running = ksm.status().running
    results: dict[str, Any] = {**run_facts(), "nodes": args.nodes, "memory_per_node_mib": 256}
    with tempfile.TemporaryDirectory(prefix="labctl-bench-ksm-") as tmp:
        topology = chain_lab(args.nodes, lab, Path(tmp))
        labctl("down", lab)
        try:
            ksm.set_running(False)
            up = labctl("up", str(topology), "--no-verify")
            if up.returncode != 0:
                raise SystemExit(f"up failed:\n{up.stderr[-2000:]}")
            time.sleep(30)  # let the guests settle after configuration
            results["ksm_off"] = sample(lab)
            results |= scan_twice(args.timeout)
            results["ksm_on"] = sample(lab)
        finally:
            labctl("down", lab)
            ksm.set_running(was_running)
    off, on = results["ksm_off"], results["ksm_on"]
    results["pss_saved_mib"] = round(off["pss_total_mib"] - on["pss_total_mib"], 1)
    results["pss_saved_percent"] = round(100 * results["pss_saved_mib"] / off["pss_total_mib"], 1)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
