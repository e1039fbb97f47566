"""Benchmark labctl's lifecycle on this host and write JSON (default bench/results/boot.json).

Measures, for generated labs of 1, 3 and 6 nodes: seconds from `up` to every guest agent
answering, the whole `up`, QEMU RSS and overlay size per node, and `down`. A raw baseline
boots the same domain XML with one `virsh create` and waits for its agent, so labctl's own
overhead shows as a ratio. `--green LAB` adds the time from `up` to an all-green demo for a
shipped topology (e.g. ospf-dns, voip-demo) and the lab's total QEMU RSS.

    .venv/bin/python bench/boot.py [--sizes 1 3 6] [--green ospf-dns --green voip-demo] [-o FILE]
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
from labctl.backends.libvirt.backend import LibvirtBackend
from labctl.backends.libvirt.domain_xml import BootFiles, domain_xml
from labctl.backends.libvirt.record import NodeRecord
from labctl.backends.registry import create_backend
from labctl.compile import compile_topology
from labctl.compile.plan import LabPlan
from labctl.demo.checks import check_types
from labctl.demo.runner import run_demo
from labctl.demo.spec import load_demo
from labctl.images.cache import ensure_image
from labctl.lab import lifecycle
from labctl.paths import data_dir
from labctl.state import LabState
from labctl.topology.schema import load_topology

ROOT = Path(__file__).resolve().parent.parent


def chain_topology(size: int) -> str:
    """A line of `size` nodes: hosts at both ends, routers between (one host when size is 1)."""
    names = [f"n{i}" for i in range(size)]
    nodes = {n: ("{}" if i in (0, size - 1) else "{roles: [router]}") for i, n in enumerate(names)}
    body = "\n".join(f"  {n}: {spec}" for n, spec in nodes.items())
    links = "\n".join(f"  - [{a}, {b}]" for a, b in itertools.pairwise(names))
    return f"name: bench{size}\ndefaults: {{memory: 256}}\nnodes:\n{body}\nlinks:\n{links or '  []'}\n"


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


def overlay_mib(state: LabState) -> dict[str, float]:
    records = {n: NodeRecord.from_dict(r) for n, r in state.nodes.items()}  # this bench measures libvirt's overlays
    return {n: round(Path(r.overlay).stat().st_size / 2**20, 1) for n, r in records.items()}


class Timeline:
    def __init__(self) -> None:
        self.start = time.monotonic()
        self.agents: dict[str, float] = {}

    def event(self, node: str, message: str) -> None:
        if message == "agent ready":
            self.agents[node] = time.monotonic() - self.start

    def phase(self, _text: str) -> None:
        return None


def bench_size(backend: LibvirtBackend, size: int, folder: Path) -> dict[str, Any]:
    path = folder / f"bench{size}.yaml"
    path.write_text(chain_topology(size))
    plan = compile_topology(load_topology(path))
    lifecycle.down(backend, plan.lab, lambda _n, _m: None)
    timeline = Timeline()
    result = lifecycle.up(backend, plan, str(path), timeline.event, timeline.phase)
    record = {
        "nodes": size,
        "agents_ready_s": round(max(timeline.agents.values()), 1),
        "up_s": round(result.seconds, 1),
        "qemu_rss_mib": qemu_rss_mib(plan.lab),
        "overlay_mib": overlay_mib(result.state),
    }
    start = time.monotonic()
    lifecycle.down(backend, plan.lab, lambda _n, _m: None)
    record["down_s"] = round(time.monotonic() - start, 1)
    return record


def raw_baseline(backend: LibvirtBackend, plan: LabPlan, folder: Path) -> dict[str, Any]:
    """One `virsh create` of the same domain, and the wait for its agent, without labctl."""
    node = plan.nodes[0]
    image = backend.images[node.image]
    overlay = folder / "raw.qcow2"
    subprocess.run(
        ["qemu-img", "create", "-q", "-f", "qcow2", "-F", "qcow2", "-b", str(image.disk), str(overlay)], check=True
    )
    boot = BootFiles(str(image.kernel), str(image.initrd), str(overlay), str(folder / "raw.console.log"))
    xml_path = folder / "raw.xml"
    xml = domain_xml("benchraw", "labctl_benchraw_n0", node, boot, backend.accel(), True, secrets.token_urlsafe(18))
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


def bench_green(backend: LibvirtBackend, name: str) -> dict[str, Any]:
    topo = load_topology(data_dir("topologies") / f"{name}.yaml")
    plan = compile_topology(topo)
    lifecycle.down(backend, plan.lab, lambda _n, _m: None)
    start = time.monotonic()
    result = lifecycle.up(backend, plan, str(topo.source), lambda _n, _m: None, lambda _t: None)
    up_s = time.monotonic() - start
    report = run_demo(backend, result.state, plan, load_demo(plan.demo or name, check_types()), lambda _r: None)
    rss = qemu_rss_mib(plan.lab)
    record = {
        "lab": name,
        "nodes": len(plan.nodes),
        "up_s": round(up_s, 1),
        "to_all_green_s": round(time.monotonic() - start, 1),
        "demo_passed": report.passed,
        "demo_counts": report.counts(),
        "qemu_rss_total_mib": round(sum(rss.values()), 1),
        "qemu_rss_mib": rss,
    }
    lifecycle.down(backend, plan.lab, lambda _n, _m: None)
    return record


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="*", default=[1, 3, 6])
    parser.add_argument("--green", action="append", default=[], help="shipped topology to run to all-green")
    parser.add_argument("--no-baseline", action="store_true")
    parser.add_argument("-o", "--output", type=Path, default=ROOT / "bench" / "results" / "boot.json")
    args = parser.parse_args()
    image, _ = ensure_image("debian12-lab", lambda _s: None)
    backend = create_backend("libvirt", {"debian12-lab": image})
    assert isinstance(backend, LibvirtBackend)  # this bench measures the libvirt backend itself
    results: dict[str, Any] = {
        "host": {
            "cpus": subprocess.run(["nproc"], capture_output=True, text=True).stdout.strip(),
            "kernel": platform.release(),
            "accel": backend.accel(),
        },
        "image": {"digest": image.digest, "qcow2_mib": round(image.disk.stat().st_size / 2**20, 1)},
        "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        results["sizes"] = [bench_size(backend, size, folder) for size in args.sizes]
        if not args.no_baseline:
            (folder / "one.yaml").write_text(chain_topology(1))
            raw = raw_baseline(backend, compile_topology(load_topology(folder / "one.yaml")), folder)
            one = next((r for r in results["sizes"] if r["nodes"] == 1), None)
            if one:
                raw["labctl_over_raw_agent_ratio"] = round(one["agents_ready_s"] / raw["agent_ready_s"], 2)
            results["raw_baseline"] = raw
    results["green"] = [bench_green(backend, name) for name in args.green]
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
