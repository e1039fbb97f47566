"""How long `labctl down` takes: the old code (one domain after another) and this tree's (all at
once), side by side in one run on the same lab, and write JSON (default bench/results/down.json).

Brings up a chain of N plain nodes (hosts at the ends, routers between, `--no-verify`) with this
tree's code, times `python -m labctl down` run from the OLD tree (e.g. /work/main), brings the same
lab up again and times `down` from this tree. Both downs run as a CLI process, so both include
Python's start-up; the per-object timeline comes from the CLI's own progress lines. After each
down, nothing of the lab may be left (domains, bridges, taps, state folder).

    .venv/bin/python bench/down.py --old /work/main [--nodes 9] [-o FILE]

Target (issue 12): down of 9 nodes <= 5 s.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from boot import chain_lab, run_facts

ROOT = Path(__file__).resolve().parent.parent
EVENT = re.compile(r"^\s*(\d+\.\d)s\s+removed (domain|bridge|tap) (\S+)")


def labctl(tree: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """The CLI of `tree` (run from it, so its own labctl package is imported)."""
    return subprocess.run([sys.executable, "-m", "labctl", *args], cwd=tree, capture_output=True, text=True)


def leftovers(topology: Path) -> list[str]:
    script = f"from labctl.service import labs; print('\\n'.join(labs.leftovers({str(topology)!r})))"
    out = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, check=True)
    return [line for line in out.stdout.splitlines() if line]


def timed_down(tree: Path, topology: Path, lab: str) -> dict[str, Any]:
    up = labctl(ROOT, "up", str(topology), "--no-verify")
    if up.returncode != 0:
        raise SystemExit(f"up failed:\n{up.stderr[-2000:]}")
    start = time.monotonic()
    down = labctl(tree, "down", lab)
    seconds = round(time.monotonic() - start, 2)
    if down.returncode != 0:
        raise SystemExit(f"down from {tree} failed:\n{down.stderr[-2000:]}")
    events = [m.groups() for line in down.stderr.splitlines() if (m := EVENT.match(line))]
    left = leftovers(topology)
    if left:
        raise SystemExit(f"down from {tree} left {', '.join(left)}")
    return {
        "tree": str(tree),
        "down_s": seconds,
        "removed": down.stdout.strip(),
        "last_domain_s": max((float(t) for t, kind, _ in events if kind == "domain"), default=None),
        "last_bridge_s": max((float(t) for t, kind, _ in events if kind == "bridge"), default=None),
        "timeline": [f"{t}s {kind} {name}" for t, kind, name in events],
        "leftovers": left,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--old", type=Path, required=True, help="the tree whose `down` is the baseline")
    parser.add_argument("--nodes", type=int, default=9)
    parser.add_argument("-o", "--output", type=Path, default=ROOT / "bench" / "results" / "down.json")
    args = parser.parse_args()
    lab = f"down{args.nodes}"  # not a name bench/boot.py uses
    results: dict[str, Any] = {**run_facts(), "nodes": args.nodes, "target_s": 5.0}
    with tempfile.TemporaryDirectory(prefix="labctl-bench-down-") as tmp:
        topology = chain_lab(args.nodes, lab, Path(tmp))
        labctl(ROOT, "down", lab)  # a lab left by an earlier run
        try:
            results["old"] = timed_down(args.old.resolve(), topology, lab)
            results["new"] = timed_down(ROOT, topology, lab)
        finally:
            labctl(ROOT, "down", lab)
    results["speedup"] = round(results["old"]["down_s"] / results["new"]["down_s"], 1)
    results["target_met"] = results["new"]["down_s"] <= results["target_s"]
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
