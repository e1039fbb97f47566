"""A pass-through reader that follows the structure of one zstd frame, block header by block
header, as its bytes go to the decompressor. python-zstandard's stream reader ends quietly on a
cut-short stream (its content checksum is then never checked), so without this a truncated
bundle could read as a shorter one. Format: RFC 8878, section 3.1.1."""

from __future__ import annotations

from collections.abc import Callable
from typing import BinaryIO

MAGIC = b"\x28\xb5\x2f\xfd"
_DICT_ID_BYTES = (0, 1, 2, 4)
_CONTENT_SIZE_BYTES = (0, 2, 4, 8)
_RLE, _RESERVED = 1, 3


class FrameDamage(Exception):
    """The bytes are not one whole zstd frame; the message says how, in a few words."""


class FrameGuard:
    """Reads from `raw` and checks that the bytes seen are exactly one zstd frame: magic, frame
    header, blocks up to the last one, the content checksum, and nothing after it."""

    def __init__(self, raw: BinaryIO) -> None:
        self._raw = raw
        self._head = bytearray()
        self._need = 5  # magic + frame header descriptor
        self._step: Callable[[bytes], None] = self._descriptor
        self._skip = 0
        self._checksum = False
        self._last = False
        self.done = False
        self.ended = False

    @property
    def cut_short(self) -> bool:
        """The file ended before its frame did: what a truncated download looks like."""
        return self.ended and not self.done

    def read(self, size: int = -1) -> bytes:
        data = self._raw.read(size)
        if not data and size:
            self.ended = True
        self._follow(data)
        return data

    def finish(self) -> None:
        """Read what the decompressor left, and check that the frame ended, and the file with it."""
        while self.read(1 << 16):
            pass
        if not self.done:
            raise FrameDamage("the file is cut short")

    def _follow(self, data: bytes) -> None:
        at = 0
        while at < len(data):
            if self.done:
                raise FrameDamage("there are bytes after the end of the zstd stream")
            if self._skip:
                taken = min(self._skip, len(data) - at)
                at += taken
                self._skip -= taken
                if not self._skip:
                    self._block_end()
                continue
            taken = min(self._need - len(self._head), len(data) - at)
            self._head += data[at : at + taken]
            at += taken
            if len(self._head) == self._need:
                head = bytes(self._head)
                self._head.clear()
                self._step(head)

    def _descriptor(self, head: bytes) -> None:
        if head[:4] != MAGIC:
            raise FrameDamage("the zstd frame's magic number is wrong")
        flags = head[4]
        if flags & 0x08:
            raise FrameDamage("the zstd frame header sets a reserved bit")
        single_segment = bool(flags & 0x20)
        self._checksum = bool(flags & 0x04)
        size_bytes = _CONTENT_SIZE_BYTES[flags >> 6] or (1 if single_segment else 0)
        rest = (0 if single_segment else 1) + _DICT_ID_BYTES[flags & 0x03] + size_bytes
        if rest:
            self._expect(rest, self._frame_header)
        else:
            self._expect(3, self._block_header)

    def _frame_header(self, head: bytes) -> None:
        self._expect(3, self._block_header)

    def _block_header(self, head: bytes) -> None:
        value = int.from_bytes(head, "little")
        kind = (value >> 1) & 0x03
        if kind == _RESERVED:
            raise FrameDamage("a zstd block has the reserved type")
        self._last = bool(value & 1)
        self._skip = 1 if kind == _RLE else value >> 3
        if not self._skip:
            self._block_end()

    def _block_end(self) -> None:
        if not self._last:
            self._expect(3, self._block_header)
        elif self._checksum:
            self._expect(4, self._end)
        else:
            self.done = True

    def _end(self, head: bytes) -> None:
        self.done = True

    def _expect(self, count: int, step: Callable[[bytes], None]) -> None:
        self._need = count
        self._step = step
