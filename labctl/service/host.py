"""This host: the accelerator verdict and the virtualisation daemon."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from labctl.backends.libvirt import daemon, ksm, kvm, template
from labctl.backends.libvirt.domain_xml import KERNEL_CMDLINE

__all__ = ["KERNEL_CMDLINE", "Started", "accelerator", "info", "start"]


@dataclass(frozen=True)
class Started:
    accelerator: str  # "KVM" or "TCG (software emulation)", with the probe's reason
    daemon: str  # what was done to have libvirtd running
    ksm: ksm.Ksm | None = None  # when asked to start it


def start(reprobe: bool = False, merge_pages: bool = False) -> Started:
    """Probe KVM, then make sure libvirtd runs (started by hand on hosts without systemd), and
    with `merge_pages` start the kernel's same-page merging (KSM) for the guests' memory."""
    merged = ksm.set_running(True) if merge_pages else None
    verdict = kvm.kvm_verdict(refresh=reprobe)
    accel = "KVM" if verdict.usable else "TCG (software emulation)"
    return Started(f"{accel}: {verdict.reason}", daemon.start(hide_kvm=not verdict.usable), merged)


def info() -> dict[str, Any]:
    verdict = kvm.kvm_verdict()
    return {
        "kvm_usable": verdict.usable,
        "kvm_reason": verdict.reason,
        "libvirt_uri": daemon.uri(),
        "libvirtd_reachable": daemon.reachable(),
        "ksm": ksm.status().to_dict(),
        "templates": len(templates()),
    }


def templates() -> list[dict[str, Any]]:
    """The booted templates in the image cache, one record each (key, parts, sizes, built, corrupt)."""
    return template.list_templates()


def accelerator() -> str:
    """'kvm' or 'tcg': what the default backend boots nodes with on this host."""
    return "kvm" if kvm.kvm_verdict().usable else "tcg"
