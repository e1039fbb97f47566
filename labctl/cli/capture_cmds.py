"""capture: tcpdump on the host side of a node's interface, link or LAN port, into a pcap."""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path
from typing import Annotated

import typer

from labctl.cli.output import err_console, literal
from labctl.errors import LabctlError
from labctl.service import captures


def _stdout() -> None:
    if sys.stdout.isatty():
        raise LabctlError("-w - writes binary pcap to stdout: pipe it (| wireshark -k -i -, | tcpdump -r -)")


def capture(
    first: Annotated[str, typer.Argument(help="A node (or LAB/NODE), or with three arguments the lab.")],
    second: Annotated[str, typer.Argument(help="One of its interfaces, a node it links to, or a LAN it is on.")],
    third: Annotated[str | None, typer.Argument(help="With LAB first: the interface, node or LAN.")] = None,
    write: Annotated[str, typer.Option("-w", "--write", help="The pcap file to write; - for stdout.")] = ...,  # type: ignore[assignment]
    bpf: Annotated[
        str | None, typer.Option("-f", "--filter", help="A tcpdump (BPF) filter, e.g. 'udp port 5060'.")
    ] = None,
    count: Annotated[int | None, typer.Option("-c", "--count", help="Stop after this many packets.")] = None,
    seconds: Annotated[float | None, typer.Option("--seconds", help="Stop after this many seconds.")] = None,
    snaplen: Annotated[int, typer.Option("--snaplen", help="Bytes kept of each packet.")] = captures.SNAPLEN_MAX,
) -> None:
    """Capture packets on the host side of a node's interface, link (A B) or LAN port into a pcap
    (root); Ctrl-C, --count or --seconds stops it. `-w -` streams: | wireshark -k -i -"""
    where = captures.point(first, second, third)
    captures.ready(where, bpf, count, snaplen, seconds)
    into = "stdout" if write == "-" else write
    if write == "-":
        _stdout()
        announce(where, into, count, seconds)
        result = captures.capture(where, sys.stdout.buffer, bpf, count, snaplen, seconds)
    else:
        result = into_file(where, Path(write), bpf, count, snaplen, seconds)
    packets = "an unknown number of" if result.packets is None else str(result.packets)
    dropped = f" ({result.dropped} dropped by the kernel)" if result.dropped else ""
    err_console.print(literal(f"{packets} packets captured into {into}{dropped}"))


def announce(where: captures.Point, into: str, count: int | None, seconds: float | None) -> None:
    err_console.print(
        literal(f"capturing {where.lab}/{where.node} {where.interface} (host device {where.device}) into {into}")
        + ("" if count or seconds else "; Ctrl-C stops")
    )


def into_file(
    where: captures.Point, path: Path, bpf: str | None, count: int | None, snaplen: int, seconds: float | None
) -> captures.Captured:
    """The capture in a new file beside `path` (0600: a capture can hold a lab's LDAP binds), which
    becomes `path` once tcpdump has stopped; a failed capture leaves nothing."""
    try:
        fd, temp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    except OSError as exc:
        raise LabctlError(f"cannot write {path}: {exc.strerror}") from None
    try:
        with os.fdopen(fd, "wb") as out:
            announce(where, str(path), count, seconds)
            result = captures.capture(where, out, bpf, count, snaplen, seconds)
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
    return result


def register(app: typer.Typer) -> None:
    app.command("capture")(capture)
