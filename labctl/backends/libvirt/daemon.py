"""Make sure libvirtd is running. On hosts without systemd, start virtlogd and libvirtd
ourselves; when /dev/kvm exists but is unusable, hide it from libvirtd (a private mount
namespace) or libvirtd re-probes QEMU for a minute on every domain start.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

from labctl.errors import LabctlError

DEFAULT_URI = "qemu:///system"
MASK_FILE = "/run/labctl-kvm-mask"
QEMU_CONF = "/etc/libvirt/qemu.conf"
QEMU_CONF_OVERLAY = "/run/labctl-qemu.conf"
START_TIMEOUT = 30.0


def uri() -> str:
    return os.environ.get("LABCTL_LIBVIRT_URI", DEFAULT_URI)


def quiet_libvirt() -> None:
    """libvirt prints every error to stderr by default; we report them ourselves."""
    import libvirt

    libvirt.registerErrorHandler(lambda _ctx, _err: None, None)


def reachable(libvirt_uri: str | None = None) -> bool:
    import libvirt

    quiet_libvirt()
    try:
        conn = libvirt.open(libvirt_uri or uri())
    except libvirt.libvirtError:
        return False
    conn.close()
    return True


def how_to_start() -> str:
    return "start it with `labctl host start` (or `systemctl start libvirtd` on hosts with systemd)"


def _has_systemd() -> bool:
    return os.path.isdir("/run/systemd/system")


def _running(name: str) -> bool:
    return subprocess.run(["pgrep", "-x", name], capture_output=True).returncode == 0


def start(hide_kvm: bool) -> str:
    """Start libvirtd; returns a sentence saying what was done."""
    if reachable():
        return "libvirtd is already running"
    if os.geteuid() != 0:
        raise LabctlError(f"libvirtd is not reachable at {uri()} and only root can start it; {how_to_start()}")
    if _has_systemd():
        subprocess.run(["systemctl", "start", "virtlogd", "libvirtd"], check=True)
        how = "started libvirtd with systemctl"
    else:
        for tool in ("virtlogd", "libvirtd", "unshare"):
            if shutil.which(tool) is None:
                raise LabctlError(f"{tool} is not installed (run scripts/install.sh)")
        if not _running("virtlogd"):
            subprocess.run(["virtlogd", "-d"], check=True)
        if _running("libvirtd"):
            raise LabctlError(f"libvirtd is running but {uri()} does not answer; check its logs")
        if hide_kvm and os.path.exists("/dev/kvm"):
            open(MASK_FILE, "a").close()
            # libvirt's per-domain /dev namespace would try to copy the masking mount and fail,
            # so libvirtd (only it, in its private namespace) also sees a qemu.conf without them.
            original = Path(QEMU_CONF).read_text() if os.path.exists(QEMU_CONF) else ""
            with open(QEMU_CONF_OVERLAY, "w") as conf:
                conf.write(original + "\n# added by labctl for the masked /dev/kvm\nnamespaces = []\n")
            script = (
                f"mount --bind {MASK_FILE} /dev/kvm && mount --bind {QEMU_CONF_OVERLAY} {QEMU_CONF} && exec libvirtd -d"
            )
            subprocess.run(["unshare", "-m", "--propagation", "private", "sh", "-c", script], check=True)
            how = "started libvirtd with /dev/kvm hidden (KVM is unusable here)"
        else:
            subprocess.run(["libvirtd", "-d"], check=True)
            how = "started libvirtd"
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if reachable():
            return how
        time.sleep(0.5)
    raise LabctlError(f"{how}, but {uri()} still does not answer after {START_TIMEOUT:.0f} s")
