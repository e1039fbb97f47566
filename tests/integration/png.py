"""Read the pixels of an 8-bit RGB or RGBA PNG (what Chromium's and libvirt's screenshots are), with
the standard library only, and tell a rendered picture from a blank one."""

from __future__ import annotations

import struct
import zlib
from collections import Counter
from pathlib import Path

SIGNATURE = b"\x89PNG\r\n\x1a\n"
Pixel = tuple[int, int, int]


def _paeth(a: int, b: int, c: int) -> int:
    p = a + b - c
    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
    return a if pa <= pb and pa <= pc else (b if pb <= pc else c)


def read_png(path: Path) -> tuple[int, int, list[list[Pixel]]]:
    """(width, height, rows of RGB pixels); ValueError for anything else than 8-bit RGB(A), not interlaced."""
    data = path.read_bytes()
    if not data.startswith(SIGNATURE):
        raise ValueError(f"{path} is not a PNG")
    pos, idat, header = len(SIGNATURE), b"", b""
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]
        pos += 12 + length
        if kind == b"IHDR":
            header = body
        elif kind == b"IDAT":
            idat += body
        elif kind == b"IEND":
            break
    width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", header)
    if depth != 8 or colour not in (2, 6) or interlace:
        raise ValueError(f"{path}: only 8-bit RGB/RGBA PNGs, not interlaced, are read (depth {depth}, type {colour})")
    step = 3 if colour == 2 else 4
    raw, stride = zlib.decompress(idat), width * step
    rows: list[list[Pixel]] = []
    previous = bytearray(stride)
    for y in range(height):
        kind, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1 : (y + 1) * (stride + 1)])
        for i in range(stride):
            left = line[i - step] if i >= step else 0
            up, corner = previous[i], previous[i - step] if i >= step else 0
            line[i] = (line[i] + (0, left, up, (left + up) // 2, _paeth(left, up, corner))[kind]) & 0xFF
        rows.append([(line[x], line[x + 1], line[x + 2]) for x in range(0, stride, step)])
        previous = line
    return width, height, rows


def colours(rows: list[list[Pixel]], box: tuple[int, int, int, int] | None = None) -> Counter[Pixel]:
    """How often each colour shows in `box` (left, top, right, bottom; the whole picture by default)."""
    left, top, right, bottom = box or (0, 0, len(rows[0]), len(rows))
    return Counter(p for row in rows[top:bottom] for p in row[left:right])


def rendered(counts: Counter[Pixel], dominant_max: float = 0.99, distinct_min: int = 2) -> bool:
    """A picture shows something: no one colour covers all of it, and it has a few colours."""
    total = sum(counts.values())
    return total > 0 and len(counts) >= distinct_min and counts.most_common(1)[0][1] / total <= dominant_max
