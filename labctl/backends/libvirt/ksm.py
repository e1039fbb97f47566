"""Kernel same-page merging (KSM) for the lab's guests: nodes booted from one image hold many
identical pages (the same kernel, libraries and page cache), which KSM can merge. QEMU marks guest
memory mergeable by default; the kernel only scans when `run` is 1, off by default. Scanning costs
CPU (ksmd), so labctl turns it on only when asked (`labctl host start --ksm`)."""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from labctl.errors import LabctlError

SYSFS = Path("/sys/kernel/mm/ksm")
PAGE = os.sysconf("SC_PAGE_SIZE")


@dataclass(frozen=True)
class Ksm:
    available: bool
    running: bool
    pages_shared: int = 0  # distinct merged pages kept
    pages_sharing: int = 0  # guest pages pointing at them beyond the first: the saving, in pages

    @property
    def saved_bytes(self) -> int:
        return self.pages_sharing * PAGE

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "saved_bytes": self.saved_bytes}


def _number(path: Path) -> int:
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return 0


def status(root: Path = SYSFS) -> Ksm:
    if not (root / "run").is_file():
        return Ksm(available=False, running=False)
    return Ksm(
        available=True,
        running=_number(root / "run") == 1,
        pages_shared=_number(root / "pages_shared"),
        pages_sharing=_number(root / "pages_sharing"),
    )


def set_running(on: bool, root: Path = SYSFS) -> Ksm:
    """Start (or stop, keeping what is merged) the kernel's merging; LabctlError when it cannot."""
    if not status(root).available:
        raise LabctlError(f"this kernel has no KSM ({root} is missing; CONFIG_KSM)")
    try:
        (root / "run").write_text("1\n" if on else "0\n")
    except OSError as exc:
        raise LabctlError(f"cannot {'start' if on else 'stop'} KSM ({root / 'run'}: {exc.strerror})") from None
    return status(root)
