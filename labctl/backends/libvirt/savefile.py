"""libvirt's QEMU save file, read and rewritten: how one saved guest becomes many clones.

A save file (libvirt 9.0, src/qemu/qemu_saveimage.h) is a 92-byte header, then `data_len` bytes
holding the domain XML and a cookie (each ended by a NUL, then zero padding), then QEMU's migration
stream. libvirt checks an XML given at restore against the saved one and refuses another name,
UUID or MAC; so a clone gets a header of its own, written in front of the unchanged stream
(docs/research/booted-templates.md, E2 and E4). Pure: bytes in, bytes out.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

MAGIC = b"LibvirtQemudSave"
MAGIC_PARTIAL = b"LibvirtQemudPart"  # a save that did not finish
VERSION = 2
HEADER = struct.Struct("<16s5I14I")  # magic, version, data_len, was_running, compressed, cookieOffset, unused
MAX_DATA = 16 * 2**20  # an XML and cookie larger than this is not a save file of ours


class SaveFileError(ValueError):
    """The bytes are not a complete, uncompressed libvirt QEMU save file."""


@dataclass(frozen=True)
class SavedDomain:
    xml: str
    cookie: bytes  # libvirt's cookie, copied verbatim (without its NUL)
    stream_offset: int  # where QEMU's migration stream starts in the file


def header_size(head: bytes) -> int:
    """How many bytes of the file hold the header, XML and cookie (read this much, then parse)."""
    if len(head) < HEADER.size:
        raise SaveFileError("shorter than a save file's header")
    magic, version, data_len, _running, compressed, _cookie, *_ = HEADER.unpack_from(head)
    if magic == MAGIC_PARTIAL:
        raise SaveFileError("the save did not finish")
    if magic != MAGIC:
        raise SaveFileError("not a libvirt QEMU save file")
    if version != VERSION:
        raise SaveFileError(f"save file version {version}, expected {VERSION}")
    if compressed != 0:
        raise SaveFileError("a compressed save file")
    if not 0 < data_len <= MAX_DATA:
        raise SaveFileError(f"implausible XML length {data_len}")
    return HEADER.size + int(data_len)


def parse(head: bytes) -> SavedDomain:
    """The domain XML and cookie of a save file, from its first `header_size` bytes."""
    end = header_size(head)
    if len(head) < end:
        raise SaveFileError("the file ends inside its XML")
    _magic, _version, data_len, _running, _compressed, cookie_offset, *_ = HEADER.unpack_from(head)
    data = head[HEADER.size : end]
    xml_end = data.find(b"\0")
    if xml_end <= 0:
        raise SaveFileError("no domain XML")
    cookie = b""
    if cookie_offset:
        if not xml_end < cookie_offset < data_len:
            raise SaveFileError(f"cookie offset {cookie_offset} outside the data")
        cookie = data[cookie_offset:].split(b"\0", 1)[0]
    try:
        xml = data[:xml_end].decode()
    except UnicodeDecodeError:
        raise SaveFileError("the domain XML is not UTF-8") from None
    return SavedDomain(xml=xml, cookie=cookie, stream_offset=end)


def clone_header(xml: str, cookie: bytes, running: bool = True) -> bytes:
    """A header for a clone: its own XML, the template's cookie; the template's stream follows."""
    body = xml.encode()
    if b"\0" in body or b"\0" in cookie:
        raise SaveFileError("a NUL inside the XML or cookie")
    data = body + b"\0" + (cookie + b"\0" if cookie else b"")
    offset = len(body) + 1 if cookie else 0
    return HEADER.pack(MAGIC, VERSION, len(data), int(running), 0, offset, *([0] * 14)) + data
