"""labctl capture: where it listens (a node's interface, a link's near end, a LAN port, resolved
from the lab's saved plan), the tcpdump it runs (argv: the filter one word after `--`), the pcap
file it writes (0600) and the one-line errors. tcpdump here is a stand-in script on PATH that
records its argv: whether a real capture holds a call is tests/integration/test_voip.py's
business."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from labctl.backends import registry
from labctl.compile import compile_topology
from labctl.errors import LabctlError
from labctl.service import captures
from labctl.state import LabState
from labctl.topology.schema import load_topology
from tests.unit.cli.conftest import REPO, Cli

PCAP_HEADER = b"\xd4\xc3\xb2\xa1\x02\x00\x04\x00" + b"\x00" * 8 + b"\x00\x00\x04\x00\x01\x00\x00\x00"
FAKE_TCPDUMP = """#!/bin/sh
case "$*" in *'syntax error'*) echo "tcpdump: can't parse filter expression: syntax error" >&2; exit 1;; esac
[ "$1" = -d ] && exit 0  # compile the filter: it compiles
case "$*" in *lt-r3-*) echo "tcpdump: lt-r3: That device is not up" >&2; exit 1;; esac
printf '%s\\n' "$@" > "{argv}"
printf '{header}'
case "$*" in *'-c 3'*) ;; *) trap 'echo "7 packets captured" >&2; echo "0 packets dropped by kernel" >&2; exit 0' INT
  while :; do sleep 0.1; done;; esac
echo "3 packets captured" >&2; echo "2 packets dropped by kernel" >&2
"""


class TapBackend:
    """The host device of every attachment: a name derived from it; none for the node 'off'."""

    def __init__(self, images: object = None, disks: object = None, cold: bool = False) -> None:
        pass

    def capture_device(self, state: LabState, node: str, interface: str) -> str:
        if node == "h2":
            raise LabctlError(f"node '{node}' is not running: its {interface} has no device on this host (lt-x)")
        return f"lt-{node}-{interface}"


@pytest.fixture
def ring(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """The lab 'ring' (ospf-dns) running on TapBackend, and a stand-in tcpdump; the file its argv goes to."""
    monkeypatch.setitem(registry._FACTORIES, "libvirt", TapBackend)
    plan = compile_topology(load_topology(REPO / "topologies" / "ospf-dns.yaml"))
    nodes: dict[str, dict[str, object]] = {n.name: {} for n in plan.nodes}
    LabState(lab="ring", backend="libvirt", topology="t", plan=plan.to_dict(), phase="up", nodes=nodes).save()
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    argv = tmp_path / "argv.txt"
    header = "".join(f"\\{b:03o}" for b in PCAP_HEADER)
    (bin_dir / "tcpdump").write_text(FAKE_TCPDUMP.format(argv=argv, header=header))
    (bin_dir / "tcpdump").chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
    return argv


def test_a_capture_writes_the_pcap_0600_from_tcpdump_on_the_node_s_host_device(
    cli: Cli, ring: Path, tmp_path: Path
) -> None:
    hostile = "udp port 5060 and not host 10.0.0.1; rm -rf / $(reboot) -w /etc/passwd"
    run = cli("capture", "ring/r1", "r2", "-w", "call.pcap", "-c", "3", "-f", hostile)
    assert run.code == 0, run
    assert run.stderr.splitlines() == [
        "capturing ring/r1 r2 (host device lt-r1-r2) into call.pcap",
        "3 packets captured into call.pcap (2 dropped by the kernel)",
    ]
    assert ring.read_text().splitlines() == [
        *("-i", "lt-r1-r2", "-n", "-U", "-s", "262144", "-w", "-", "-c", "3"),
        *("--", hostile),  # one word after `--`: never an option, never a shell
    ]
    written = tmp_path / "call.pcap"
    assert written.read_bytes() == PCAP_HEADER and stat.S_IMODE(written.stat().st_mode) == 0o600
    assert not (tmp_path / "etc").exists()


@pytest.mark.parametrize(
    ("args", "device"),
    [
        (("ring", "h1", "lan1"), "lt-h1-lan1"),  # LAB NODE TARGET
        (("h1", "lan1"), "lt-h1-lan1"),  # NODE alone, when one running lab has it
        (("ring/r2", "r3"), "lt-r2-r3"),  # the near end of the link r2-r3
    ],
)
def test_the_three_ways_to_name_where_to_listen(cli: Cli, ring: Path, args: tuple[str, ...], device: str) -> None:
    run = cli("capture", *args, "-w", "x.pcap", "--seconds", "0.5")
    assert run.code == 0, run
    assert f"(host device {device})" in run.stderr and "7 packets captured into x.pcap" in run.stderr
    assert ring.read_text().splitlines()[1] == device


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("ring/h1", "lan11"), "'lan11' is none of h1's interfaces (lan1), a node linked to it, or a LAN it is on"),
        (("ring/h1", "h2"), "there is no link between 'h1' and 'h2'"),
        (("ring/rr1", "r2"), "lab 'ring' has no node 'rr1' (did you mean 'r1'?)"),
        (("ring/h2", "lan2"), "node 'h2' is not running: its lan2 has no device on this host (lt-x)"),
        (("ring/r1", "r2", "-f", "udp and syntax error"), "tcpdump refused the filter: tcpdump: can't parse filter"),
        (("ring/r1", "r2", "-f", "udp\nport 5060"), "--filter must be a tcpdump (BPF) expression on one line"),
        (("ring/r1", "r2", "-f", " "), "--filter must be a tcpdump (BPF) expression on one line, not empty"),
        (("ring/r1", "r2", "-c", "0"), "--count must be from 1 to 10000000, not 0"),
        (("ring/r1", "r2", "--snaplen", "0"), "--snaplen must be from 1 to 262144 bytes, not 0"),
        (("ring/r1", "r2", "--seconds", "-1"), "--seconds must be above 0 and at most 86400, not -1"),
        (("ring/r1", "r2", "-w", "/nonexistent/dir/x.pcap"), "cannot write /nonexistent/dir/x.pcap: No such file"),
        (("Ring/r1", "r2"), "invalid lab name"),
    ],
)
def test_each_mistake_is_one_line_and_no_file_is_left(
    cli: Cli, ring: Path, tmp_path: Path, args: tuple[str, ...], message: str
) -> None:
    argv = list(args) if "-w" in args else [*args, "-w", "x.pcap"]
    run = cli("capture", *argv)
    assert (run.code, run.stdout) == (1, ""), run
    assert run.stderr.count("\n") == 1 and message in run.stderr, run.stderr
    assert not (tmp_path / "x.pcap").exists() and not list(tmp_path.glob(".x.pcap.*"))


def test_a_capture_that_fails_once_started_leaves_no_file(cli: Cli, ring: Path, tmp_path: Path) -> None:
    run = cli("capture", "ring/r3", "r1", "-w", "x.pcap")
    assert run.code == 1 and run.stderr.endswith(
        "error: tcpdump on r3 r1 (lt-r3-r1) failed: tcpdump: lt-r3: That device is not up\n"
    )
    assert list(tmp_path.glob("*x.pcap*")) == []


def test_without_tcpdump_the_error_says_how_to_install_it(
    cli: Cli, ring: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    run = cli("capture", "ring/r1", "r2", "-w", "x.pcap")
    assert run.code == 1 and run.stderr == f"error: {captures.NOT_INSTALLED}\n"


def test_tcpdump_s_statistics_and_words_are_read_safely() -> None:
    assert captures.said(
        "listening on lt-x\n12 packets captured\n14 packets received by filter\n0 packets dropped by kernel\n"
    ) == captures.Captured(12, 0)
    assert captures.said("") == captures.Captured(None, None)
    assert captures.said("1 packet captured\n") == captures.Captured(1, None)
    assert captures.printable("first\n\x1b[31mlast\x07\n\n") == "?[31mlast?"
    assert captures.printable("") == "no message"
