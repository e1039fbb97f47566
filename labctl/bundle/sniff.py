"""What a file that is not a bundle is, from its first bytes, so the refusal can say so."""

from __future__ import annotations

from labctl.bundle.zstdframe import MAGIC

SNIFF_BYTES = 512
"""Enough for a tar header, whose "ustar" mark is at offset 257."""

_KINDS = (
    ((b"PK\x03\x04", b"PK\x05\x06", b"PK\x07\x08"), "a zip archive"),
    ((b"\x1f\x8b",), "gzip data"),
    ((b"\xfd7zXZ\x00",), "xz data"),
    ((b"BZh",), "bzip2 data"),
)


def not_a_bundle(head: bytes) -> str | None:
    """None when `head` starts a zstd frame; otherwise what the file looks like, in a few words."""
    if head.startswith(MAGIC):
        return None
    if not head:
        return "an empty file"
    for magics, kind in _KINDS:
        if head.startswith(magics):
            return kind
    if head[257:262] == b"ustar":
        return "a plain tar archive"
    return "not a zstd-compressed tar"
