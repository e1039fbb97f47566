"""Benchmark labctl's lifecycle on this host and write JSON (default bench/results/boot.json).

Every measurement runs twice in the same run, side by side: every node booted cold (`up --cold`)
and every node restored from a booted template (the default; the templates are built first, and
that first use is recorded as `template_first_use`). For generated labs of 1, 3, 6 and 9 nodes:
seconds from `up` to every guest agent answering, the whole `up`, QEMU RSS and overlay size per
node, and `down`, with the ratio template/cold. A raw baseline boots the same domain XML with one
`virsh create` and waits for its agent, so labctl's own overhead shows as a ratio. `--green LAB`
adds the time from `up` to an all-green demo for a shipped topology (e.g. ospf-dns, voip-demo)
and the lab's total QEMU RSS, on both paths.

    .venv/bin/python bench/boot.py [--sizes 1 3 6 9] [--green ospf-dns --green voip-demo] [-o FILE]
"""

from __future__ import annotations

import argparse
import itertools
import json
import platform
import secrets
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from labctl.backends.libvirt import daemon
from labctl.backends.libvirt.domain_xml import BootFiles, domain_xml
from labctl.service import host, images, labs, topologies, verify
from labctl.service.events import Quiet

ROOT = Path(__file__).resolve().parent.parent


def chain_topology(size: int) -> str:
    """A line of `size` nodes: hosts at both ends, routers between (one host when size is 1)."""
    names = [f"n{i}" for i in range(size)]
    nodes = {n: ("{}" if i in (0, size - 1) else "{roles: [router]}") for i, n in enumerate(names)}
    body = "\n".join(f"  {n}: {spec}" for n, spec in nodes.items())
    links = "\n".join(f"  - [{a}, {b}]" for a, b in itertools.pairwise(names))
    return f"name: bench{size}\ndefaults: {{memory: 256}}\nnodes:\n{body}\nlinks:\n{links or '  []'}\n"


def chain_lab(size: int, lab: str, folder: Path) -> Path:
    """chain_topology(size) as lab `lab`, written to `folder`/<lab>.yaml."""
    topology = folder / f"{lab}.yaml"
    topology.write_text(chain_topology(size).replace(f"name: bench{size}\n", f"name: {lab}\n", 1))
    return topology


def run_facts() -> dict[str, Any]:
    """The host and the time of a bench run."""
    return {
        "host": {
            "cpus": subprocess.run(["nproc"], capture_output=True, text=True).stdout.strip(),
            "kernel": platform.release(),
        },
        "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }


def qemu_rss_mib(lab: str) -> dict[str, float]:
    out = subprocess.run(["ps", "-o", "rss=,args=", "-C", "qemu-system-x86_64"], capture_output=True, text=True).stdout
    result = {}
    for line in out.splitlines():
        rss, _, args = line.strip().partition(" ")
        marker = f"guest=labctl_{lab}_"
        if marker in args:
            node = args.split(marker, 1)[1].split(",", 1)[0]
            result[node] = round(int(rss) / 1024, 1)
    return result


def overlay_mib(state: labs.LabState) -> dict[str, float]:
    """The size of each node's disk overlay (the libvirt backend keeps them in the lab's nodes/ folder)."""
    return {p.stem: round(p.stat().st_size / 2**20, 1) for p in sorted((state.folder / "nodes").glob("*.qcow2"))}


class Timeline(Quiet):
    """A listener that notes when each node's guest agent answered."""

    def __init__(self) -> None:
        self.start = time.monotonic()
        self.agents: dict[str, float] = {}

    def event(self, node: str, message: str) -> None:
        if message == "agent ready":
            self.agents[node] = time.monotonic() - self.start


PATHS = {"cold": True, "template": False}  # the path's name -> `cold`


def ratios(cold: dict[str, Any], template: dict[str, Any], keys: tuple[str, ...]) -> dict[str, float]:
    """template/cold for each timing both records have."""
    return {f"{k}_template_over_cold": round(template[k] / cold[k], 3) for k in keys if cold.get(k) and k in template}


def bench_size(size: int, folder: Path, cold: bool) -> dict[str, Any]:
    path = folder / f"bench{size}.yaml"
    path.write_text(chain_topology(size))
    lab = f"bench{size}"
    labs.down(lab, missing_ok=True)
    timeline = Timeline()
    launched = labs.up(str(path), timeline, cold=cold)
    record = {
        "nodes": size,
        "agents_ready_s": round(max(timeline.agents.values()), 1),
        "up_s": round(launched.seconds, 1),
        "qemu_rss_mib": qemu_rss_mib(lab),
        "overlay_mib": overlay_mib(launched.state),
    }
    start = time.monotonic()
    labs.down(lab)
    record["down_s"] = round(time.monotonic() - start, 1)
    return record


def side_by_side(measure: Any, keys: tuple[str, ...]) -> dict[str, Any]:
    """`measure(cold)` on both paths, and the ratios."""
    both = {path: measure(cold) for path, cold in PATHS.items()}
    return {**both, **ratios(both["cold"], both["template"], keys)}


def raw_baseline(image: images.ImageArtifacts, accel: str, folder: Path) -> dict[str, Any]:
    """One `virsh create` of the same domain, and the wait for its agent, without labctl: the
    baseline is libvirt's own domain XML booted by hand, so it reaches past the service layer."""
    (folder / "one.yaml").write_text(chain_topology(1))
    node = topologies.load_plan(str(folder / "one.yaml")).nodes[0]
    overlay = folder / "raw.qcow2"
    subprocess.run(
        ["qemu-img", "create", "-q", "-f", "qcow2", "-F", "qcow2", "-b", str(image.disk), str(overlay)], check=True
    )
    boot = BootFiles(str(image.kernel), str(image.initrd), str(overlay), str(folder / "raw.console.log"))
    xml_path = folder / "raw.xml"
    xml = domain_xml("benchraw", "labctl_benchraw_n0", node, boot, accel, True, secrets.token_urlsafe(18))
    xml_path.touch(mode=0o600)  # the XML holds the display's password
    xml_path.write_text(xml)
    uri = daemon.uri()
    start = time.monotonic()
    subprocess.run(["virsh", "-c", uri, "create", str(xml_path)], check=True, capture_output=True)
    created = time.monotonic() - start
    try:
        while time.monotonic() - start < 300:
            ping = subprocess.run(
                [
                    "virsh",
                    "-c",
                    uri,
                    "qemu-agent-command",
                    "labctl_benchraw_n0",
                    '{"execute":"guest-ping"}',
                    "--timeout",
                    "2",
                ],
                capture_output=True,
            )
            if ping.returncode == 0:
                break
            time.sleep(1)
        return {"create_s": round(created, 2), "agent_ready_s": round(time.monotonic() - start, 1)}
    finally:
        subprocess.run(["virsh", "-c", uri, "destroy", "labctl_benchraw_n0"], capture_output=True)


def bench_green(name: str, cold: bool) -> dict[str, Any]:
    labs.down(name, missing_ok=True)
    start = time.monotonic()
    timeline = Timeline()
    launched = labs.up(name, timeline, cold=cold)
    plan = launched.plan
    up_s = time.monotonic() - start
    report = verify.verify(launched.state, launched.demo or name)
    rss = qemu_rss_mib(plan.lab)
    record = {
        "lab": name,
        "nodes": len(plan.nodes),
        "agents_ready_s": round(max(timeline.agents.values()), 1),
        "up_s": round(up_s, 1),
        "to_all_green_s": round(time.monotonic() - start, 1),
        "demo_passed": report.passed,
        "demo_counts": report.counts(),
        "qemu_rss_total_mib": round(sum(rss.values()), 1),
        "qemu_rss_mib": rss,
    }
    labs.down(plan.lab)
    return record


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="*", default=[1, 3, 6, 9])
    parser.add_argument("--green", action="append", default=[], help="shipped topology to run to all-green")
    parser.add_argument("--no-baseline", action="store_true")
    parser.add_argument("-o", "--output", type=Path, default=ROOT / "bench" / "results" / "boot.json")
    args = parser.parse_args()
    image = images.build_image("debian12-lab")
    accel = host.accelerator()
    results: dict[str, Any] = run_facts()
    results["host"]["accel"] = accel
    results["image"] = {"digest": image.digest, "qcow2_mib": round(image.disk.stat().st_size / 2**20, 1)}
    timings = ("agents_ready_s", "up_s", "down_s", "to_all_green_s")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        first = time.monotonic()
        results["template_first_use"] = {**bench_size(1, folder, cold=False), "templates": len(host.templates())}
        results["template_first_use"]["wall_s"] = round(time.monotonic() - first, 1)
        results["sizes"] = [
            {"nodes": size, **side_by_side(lambda cold, n=size: bench_size(n, folder, cold), timings)}
            for size in args.sizes
        ]
        if not args.no_baseline:
            raw = raw_baseline(image, accel, folder)
            one = next((r for r in results["sizes"] if r["nodes"] == 1), None)
            if one:
                for path in PATHS:
                    raw[f"labctl_{path}_over_raw_agent_ratio"] = round(
                        one[path]["agents_ready_s"] / raw["agent_ready_s"], 2
                    )
            results["raw_baseline"] = raw
    results["green"] = [
        {"lab": name, **side_by_side(lambda cold, n=name: bench_green(n, cold), timings)} for name in args.green
    ]
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
