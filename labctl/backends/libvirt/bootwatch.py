"""Judge a booting node by its serial console, not by a fixed clock. Pure: snapshots in, verdicts out
(read_console, at the end, reads the log).

A node is still booting while its console keeps advancing (systemd prints a status line per unit,
see KERNEL_CMDLINE). It is given up on only when it is really stuck: no new console text for
`stall` seconds, or past a hard `ceiling`. A kernel panic or a reset (a second kernel banner) is
reported at once, so the caller can restart that node instead of tearing the whole lab down.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

PANIC_MARKERS = ("Kernel panic - not syncing", "IO-APIC + timer doesn't work")
BOOT_BANNER = "Linux version "  # the kernel's first line; printed at loglevel 6, once per boot
UNIT_FAILURE = re.compile(
    r"(?:Failed to start|Dependency failed for|Timed out waiting for device|Failed to mount) [^\n]+"
)
# systemd's spinner rewrites one line every second; it shows what boot waits for, not progress
SPINNER = re.compile(r"A (?:start|stop) job is running for (.+?) \(")
SPINNER_LINE = re.compile(r"[^\r\n]*A (?:start|stop) job is running for [^\r\n]*")
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
PRINTK_TIME = re.compile(r"^\[\s*\d+\.\d+\]\s*")

Kind = Literal["booting", "panic", "reset", "stuck"]


@dataclass(frozen=True)
class Verdict:
    kind: Kind
    reason: str = ""

    @property
    def restartable(self) -> bool:
        return self.kind in ("panic", "reset")


def clean(text: str) -> str:
    """Console text without terminal escapes, and with every line break as \\n."""
    return ANSI.sub("", text).replace("\r\n", "\n").replace("\r", "\n")


def progress_text(text: str) -> str:
    """The part of the console that counts as progress: everything but systemd's spinner lines."""
    return SPINNER_LINE.sub("", clean(text)).strip()


def unit_failures(text: str) -> list[str]:
    """Lines naming a unit that failed or a device that never came, in order, without repeats."""
    found: list[str] = []
    for match in UNIT_FAILURE.finditer(clean(text)):
        line = match.group(0).strip().rstrip(".")
        if line not in found:
            found.append(line)
    return found


def waiting_for(text: str) -> str | None:
    """The job systemd's spinner last showed, if any ("/dev/ttyS0", "Network Configuration", ...)."""
    jobs = SPINNER.findall(clean(text))
    return jobs[-1].strip() if jobs else None


def panic_line(text: str) -> str | None:
    for line in clean(text).splitlines():
        if any(marker in line for marker in PANIC_MARKERS):
            return PRINTK_TIME.sub("", line.strip())
    return None


def boots(text: str) -> int:
    return clean(text).count(BOOT_BANNER)


def describe(text: str) -> str:
    """What the console says went wrong: failed units first, then what boot was waiting for."""
    parts = unit_failures(text)
    job = waiting_for(text)
    if job:
        parts.append(f"still waiting for {job}")
    return "; ".join(parts)


class BootWatch:
    """Feed it (time, whole console text of this boot attempt) as often as you like."""

    def __init__(self, start: float, stall: float, ceiling: float) -> None:
        self.start = start
        self.stall = stall
        self.ceiling = ceiling
        self.last_progress = start
        self.seen = ""

    def observe(self, now: float, text: str) -> Verdict:
        panic = panic_line(text)
        if panic is not None:
            return Verdict("panic", f"kernel panic: {panic}")
        if boots(text) > 1:
            return Verdict("reset", "the node reset and booted again")
        current = progress_text(text)
        if current != self.seen:
            self.seen = current
            self.last_progress = now
        why = describe(text)
        if now - self.start > self.ceiling:
            return Verdict("stuck", _join(f"still not ready after {self.ceiling:.0f} s", why))
        if now - self.last_progress > self.stall:
            quiet = now - self.last_progress
            return Verdict("stuck", _join(f"no console progress for {quiet:.0f} s", why))
        return Verdict("booting")


def _join(head: str, why: str) -> str:
    return f"{head}: {why}" if why else head


CONSOLE_READ_LIMIT = 4 * 2**20  # a console larger than this is judged by its last part


def read_console(path: Path) -> str:
    try:
        with path.open("rb") as log:
            size = log.seek(0, os.SEEK_END)
            log.seek(max(0, size - CONSOLE_READ_LIMIT))
            return log.read().decode(errors="replace")
    except OSError:
        return ""
