"""Packet captures on the host side of a lab's links (`labctl capture`): tcpdump on the host device
that carries one attachment's traffic both ways (the node's tap), written as a standard pcap to a
file or to a stream (`-w -`, for `wireshark -k -i -`). Nothing is sent: a capture only listens."""

from __future__ import annotations

import re
import shutil
import signal
import subprocess
from dataclasses import dataclass
from typing import IO

from labctl.backends.registry import backend_for
from labctl.errors import LabctlError
from labctl.lab.links import capture_point
from labctl.service.labs import resolve_node
from labctl.state.saved_plan import saved_plan

SNAPLEN_MAX = 262144  # tcpdump's own default and ceiling
COUNT_MAX = 10_000_000
SECONDS_MAX = 86400.0
NOT_INSTALLED = "labctl capture needs tcpdump on this host: apt-get install tcpdump (scripts/install.sh installs it)"


@dataclass(frozen=True)
class Point:
    """Where a capture listens: a node's interface, and the host device that carries it."""

    lab: str
    node: str
    interface: str
    device: str


@dataclass(frozen=True)
class Captured:
    """What tcpdump said it did once it stopped."""

    packets: int | None  # "N packets captured", None when it did not say
    dropped: int | None  # "N packets dropped by kernel"


def point(first: str, second: str, third: str | None = None) -> Point:
    """`[LAB/]NODE TARGET`, or `LAB NODE TARGET`: TARGET is one of the node's interfaces, the node
    at the other end of a link (the capture is on this node's end) or a LAN it is on (its port)."""
    ref, target = (f"{first}/{second}", third) if third is not None else (first, second)
    state, node = resolve_node(ref)
    node, interface = capture_point(saved_plan(state), node, target)
    return Point(state.lab, node, interface, backend_for(state).capture_device(state, node, interface))


def tcpdump_argv(device: str, bpf: str | None, count: int | None, snaplen: int) -> list[str]:
    """tcpdump writing `device`'s packets as a pcap to its stdout, each as soon as it is seen (pure).
    The filter is one argument after `--`: never a shell word, never an option."""
    argv = ["tcpdump", "-i", device, "-n", "-U", "-s", str(snaplen), "-w", "-"]
    if count is not None:
        argv += ["-c", str(count)]
    return argv + (["--", bpf] if bpf else [])


def check_limits(bpf: str | None, count: int | None, snaplen: int, seconds: float | None) -> None:
    if bpf is not None and (not bpf.strip() or any(ord(c) < 32 or ord(c) == 127 for c in bpf)):
        raise LabctlError("--filter must be a tcpdump (BPF) expression on one line, not empty")
    if count is not None and not 1 <= count <= COUNT_MAX:
        raise LabctlError(f"--count must be from 1 to {COUNT_MAX}, not {count}")
    if not 1 <= snaplen <= SNAPLEN_MAX:
        raise LabctlError(f"--snaplen must be from 1 to {SNAPLEN_MAX} bytes, not {snaplen}")
    if seconds is not None and not 0 < seconds <= SECONDS_MAX:
        raise LabctlError(f"--seconds must be above 0 and at most {SECONDS_MAX:.0f}, not {seconds:g}")


def said(stderr: str) -> Captured:
    """tcpdump's closing statistics, from its stderr (pure)."""

    def number(what: str) -> int | None:
        found = re.search(rf"^(\d+) packets? {what}$", stderr, re.M)
        return int(found.group(1)) if found else None

    return Captured(number("captured"), number("dropped by kernel"))


def printable(text: str) -> str:
    """One line of tcpdump's words for a terminal: no escape sequences, at most 200 characters."""
    line = next((ln for ln in reversed(text.strip().splitlines()) if ln.strip()), "no message")
    return "".join(c if c.isprintable() else "?" for c in line)[:200]


def ready(where: Point, bpf: str | None, count: int | None, snaplen: int, seconds: float | None) -> None:
    """Everything checked before a capture starts (and before its file exists): the limits, tcpdump
    installed, and the filter compiled by it for the device (`-d`: nothing captured)."""
    check_limits(bpf, count, snaplen, seconds)
    if shutil.which("tcpdump") is None:
        raise LabctlError(NOT_INSTALLED)
    if bpf is None:
        return
    compiled = subprocess.run(
        ["tcpdump", "-d", "-i", where.device, "--", bpf], capture_output=True, text=True, timeout=30
    )
    if compiled.returncode != 0:
        raise LabctlError(f"tcpdump refused the filter: {printable(compiled.stderr)}")


def capture(
    where: Point, out: IO[bytes], bpf: str | None, count: int | None, snaplen: int, seconds: float | None
) -> Captured:
    """Run tcpdump on `where` into `out` (once `ready` has passed) until it has `count` packets,
    `seconds` have passed, or the user interrupts (Ctrl-C reaches tcpdump too: it flushes and stops)."""
    argv = tcpdump_argv(where.device, bpf, count, snaplen)
    with subprocess.Popen(argv, stdout=out, stderr=subprocess.PIPE, text=True) as proc:
        try:
            _, stderr = proc.communicate(timeout=seconds)
        except (subprocess.TimeoutExpired, KeyboardInterrupt):  # --seconds, or a SIGINT to labctl alone
            proc.send_signal(signal.SIGINT)
            _, stderr = proc.communicate()
    result = said(stderr)
    if "Broken pipe" in stderr:  # the reader of a stream went away (wireshark closed): the end
        return result
    if proc.returncode != 0 and result.packets is None:
        raise LabctlError(f"tcpdump on {where.node} {where.interface} ({where.device}) failed: {printable(stderr)}")
    return result
