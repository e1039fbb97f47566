"""Is KVM usable? /dev/kvm can exist and still hang every guest (nested virtualisation),
so boot a kernel with no root disk under -accel kvm: a working KVM panics and exits at once.
"""

from __future__ import annotations

import glob
import json
import os
import platform
import shutil
import subprocess
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

from labctl.errors import LabctlError
from labctl.paths import cache_dir

PROBE_TIMEOUT = 20.0
KERNEL_PACKAGE = "linux-image-cloud-amd64"


@dataclass(frozen=True)
class KvmVerdict:
    usable: bool
    reason: str
    seconds: float


def _cache_file() -> Path:
    return cache_dir() / "kvm-probe.json"


def probe_kernel() -> Path:
    """A kernel to probe with: the host's own, else one taken from Debian's cloud kernel package."""
    for candidate in sorted(glob.glob("/boot/vmlinuz-*")):
        if os.access(candidate, os.R_OK):
            return Path(candidate)
    target = cache_dir() / "probe" / "vmlinuz"
    if target.exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        deps = subprocess.run(
            ["apt-cache", "depends", "--no-recommends", KERNEL_PACKAGE], capture_output=True, text=True
        ).stdout
        real = [line.split()[-1] for line in deps.splitlines() if "Depends: linux-image-" in line]
        if not real:
            raise LabctlError(f"cannot find a kernel to probe KVM with (apt-cache knows no {KERNEL_PACKAGE})")
        subprocess.run(["apt-get", "download", real[0]], cwd=tmp, check=True, capture_output=True)
        deb = next(Path(tmp).glob("*.deb"))
        subprocess.run(["dpkg-deb", "-x", str(deb), tmp + "/x"], check=True)
        kernel = next(Path(tmp, "x", "boot").glob("vmlinuz-*"))
        shutil.copy(kernel, target)
    return target


def probe_kvm(kernel: Path | None = None, timeout: float = PROBE_TIMEOUT) -> KvmVerdict:
    import time

    if not os.path.exists("/dev/kvm"):
        return KvmVerdict(False, "/dev/kvm does not exist", 0.0)
    if not os.access("/dev/kvm", os.R_OK | os.W_OK):
        return KvmVerdict(False, "/dev/kvm is not accessible", 0.0)
    qemu = shutil.which("qemu-system-x86_64")
    if qemu is None:
        raise LabctlError("qemu-system-x86_64 is not installed (apt install qemu-system-x86)")
    kernel = kernel or probe_kernel()
    argv = [
        qemu,
        "-accel",
        "kvm",
        "-cpu",
        "host",
        "-m",
        "128",
        "-nodefaults",
        "-nographic",
        "-no-reboot",
        "-serial",
        "null",
        "-kernel",
        str(kernel),
        "-append",
        "panic=-1 console=ttyS0",
    ]
    start = time.monotonic()
    try:
        result = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return KvmVerdict(False, f"a guest kernel hung for {timeout:.0f} s under KVM", time.monotonic() - start)
    elapsed = time.monotonic() - start
    if result.returncode != 0:
        detail = " ".join(result.stderr.split()) or f"exit code {result.returncode}"
        detail = detail if len(detail) <= 160 else "..." + detail[-160:]  # its end says why; marked as cut
        return KvmVerdict(False, f"qemu -accel kvm failed: {detail}", elapsed)
    return KvmVerdict(True, f"a guest kernel booted and exited in {elapsed:.1f} s", elapsed)


def kvm_verdict(refresh: bool = False) -> KvmVerdict:
    """The probe's verdict, cached per host kernel (the probe costs up to PROBE_TIMEOUT seconds)."""
    cache = _cache_file()
    host = platform.release()
    if not refresh and cache.exists():
        data = json.loads(cache.read_text())
        if data.get("host_kernel") == host:
            return KvmVerdict(data["usable"], data["reason"], data["seconds"])
    verdict = probe_kvm()
    cache.parent.mkdir(parents=True, exist_ok=True)
    cache.write_text(json.dumps({"host_kernel": host, **asdict(verdict)}))
    return verdict
