"""Count the TCG timer-check flake over many boots, with and without a kernel argument.

An experiment on the kernel command line below labctl: it boots libvirt domains by hand (the
libvirt backend's own domain XML), so it reaches past the service layer on purpose.

Each round boots `--parallel` single-node domains at once (half with labctl's KERNEL_CMDLINE,
half with it minus `--arg`), waits until each kernel is past its timer check (the initramfs
prints "Loading, please wait...") or panicked, and counts per variant: boots, the
"MP-BIOS bug: 8254 timer not connected to IO-APIC" message, "..MP-BIOS bug" fallbacks, and
panics ("IO-APIC + timer doesn't work!"). Domains are destroyed after each round.

    .venv/bin/python bench/tcg_timer.py [--rounds 10] [--parallel 4] [--arg no_timer_check] [-o FILE]
"""

from __future__ import annotations

import argparse
import json
import platform
import secrets
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from labctl.backends.libvirt import daemon
from labctl.backends.libvirt.domain_xml import KERNEL_CMDLINE, BootFiles, domain_xml
from labctl.service import images, topologies

ROOT = Path(__file__).resolve().parent.parent
PAST_TIMER_CHECK = "Loading, please wait"
MESSAGES = {
    "mp_bios_8254": "8254 timer not connected to IO-APIC",
    "panic": "Kernel panic",
    "timer_doesnt_work": "IO-APIC + timer doesn't work",
}
ONE = "name: timer\ndefaults: {memory: 256}\nnodes: {n0: {}}\n"


def boot_round(image: Any, node: Any, folder: Path, variants: list[str], timeout: float) -> list[dict[str, Any]]:
    uri = daemon.uri()
    started = []
    for i, cmdline in enumerate(variants):
        name = f"labctl_timer_{i}"
        overlay, log = folder / f"{name}.qcow2", folder / f"{name}.console.log"
        overlay.unlink(missing_ok=True)
        log.unlink(missing_ok=True)
        subprocess.run(
            ["qemu-img", "create", "-q", "-f", "qcow2", "-F", "qcow2", "-b", str(image.disk), str(overlay)], check=True
        )
        boot = BootFiles(str(image.kernel), str(image.initrd), str(overlay), str(log))
        ticket = secrets.token_urlsafe(18)
        xml = domain_xml("timer", name, node, boot, "tcg", True, ticket).replace(KERNEL_CMDLINE, cmdline)
        (folder / f"{name}.xml").touch(mode=0o600)  # the XML holds the display's password
        (folder / f"{name}.xml").write_text(xml)
        subprocess.run(["virsh", "-c", uri, "create", str(folder / f"{name}.xml")], check=True, capture_output=True)
        started.append((name, cmdline, log, time.monotonic()))
    results: dict[str, dict[str, Any]] = {}
    deadline = time.monotonic() + timeout
    try:
        while len(results) < len(started) and time.monotonic() < deadline:
            for name, cmdline, log, t0 in started:
                if name in results:
                    continue
                text = log.read_text(errors="replace") if log.exists() else ""
                if PAST_TIMER_CHECK in text or "Kernel panic" in text:
                    results[name] = {"cmdline": cmdline, "seconds": round(time.monotonic() - t0, 1), "console": text}
            time.sleep(0.5)
    finally:
        for name, *_ in started:
            subprocess.run(["virsh", "-c", uri, "destroy", name], capture_output=True)
    for name, cmdline, log, _ in started:
        if name not in results:
            text = log.read_text(errors="replace") if log.exists() else ""
            results[name] = {"cmdline": cmdline, "seconds": None, "console": text}
    return list(results.values())


def summary(counts: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {v: {k: x for k, x in c.items() if k != "seconds"} for v, c in counts.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--parallel", type=int, default=4)
    parser.add_argument("--arg", default="no_timer_check", help="the kernel argument under test")
    parser.add_argument("--timeout", type=float, default=120.0)
    parser.add_argument("-o", "--output", type=Path, default=ROOT / "bench" / "results" / "tcg_timer.json")
    args = parser.parse_args()
    if args.arg not in KERNEL_CMDLINE.split():
        raise SystemExit(f"{args.arg} is not in KERNEL_CMDLINE: {KERNEL_CMDLINE}")
    image = images.build_image("debian12-lab")
    with_arg = KERNEL_CMDLINE
    without = " ".join(a for a in KERNEL_CMDLINE.split() if a != args.arg)
    variants = {"with": with_arg, "without": without}
    counts: dict[str, dict[str, Any]] = {
        v: {"boots": 0, "no_verdict": 0, **dict.fromkeys(MESSAGES, 0), "seconds": []} for v in variants
    }
    examples: dict[str, str] = {}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        (folder / "one.yaml").write_text(ONE)
        node = topologies.load_plan(str(folder / "one.yaml")).nodes[0]
        for round_no in range(args.rounds):
            mix = [with_arg if i % 2 == round_no % 2 else without for i in range(args.parallel)]
            for boot in boot_round(image, node, folder, mix, args.timeout):
                variant = "with" if boot["cmdline"] == with_arg else "without"
                c = counts[variant]
                c["boots"] += 1
                if boot["seconds"] is None:
                    c["no_verdict"] += 1
                else:
                    c["seconds"].append(boot["seconds"])
                for key, text in MESSAGES.items():
                    if text in boot["console"]:
                        c[key] += 1
                        examples.setdefault(key, boot["console"][-3000:])
            print(f"round {round_no + 1}/{args.rounds}: {json.dumps(summary(counts))}", flush=True)
    result = {
        "host": {
            "cpus": subprocess.run(["nproc"], capture_output=True, text=True).stdout.strip(),
            "kernel": platform.release(),
        },
        "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "argument": args.arg,
        "parallel": args.parallel,
        "cmdline": variants,
        "counts": counts,
        "examples": examples,
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(summary(counts), indent=2))


if __name__ == "__main__":
    main()
