"""The zstd frame follower: whole frames pass, however they are cut into reads; a cut, a bad
header or bytes after the frame are damage. (python-zstandard alone ends quietly on a cut.)"""

from __future__ import annotations

import io
import random

import pytest
import zstandard

from labctl.bundle.zstdframe import FrameDamage, FrameGuard

DATA = random.Random(3).randbytes(300_000) + bytes(300_000)


def streamed(data: bytes, **options: object) -> bytes:
    out = io.BytesIO()
    with zstandard.ZstdCompressor(**options).stream_writer(out, closefd=False) as writer:  # type: ignore[arg-type]
        writer.write(data)
    return out.getvalue()


def follow(blob: bytes, size: int = 4096) -> None:
    guard = FrameGuard(io.BytesIO(blob))
    while guard.read(size):
        pass
    guard.finish()


FRAMES = {
    "streamed with checksum": streamed(DATA, level=3, threads=-1, write_checksum=True),
    "streamed without checksum": streamed(DATA, write_checksum=False),
    "one-shot with its size": zstandard.ZstdCompressor(write_checksum=True).compress(DATA),
    "empty": zstandard.ZstdCompressor(write_checksum=True).compress(b""),
}


@pytest.mark.parametrize("blob", FRAMES.values(), ids=FRAMES.keys())
@pytest.mark.parametrize("size", [1, 7, 4096, 1 << 20])
def test_a_whole_frame_passes_whatever_the_read_size(blob: bytes, size: int) -> None:
    follow(blob, size)


@pytest.mark.parametrize("blob", FRAMES.values(), ids=FRAMES.keys())
def test_every_cut_is_seen(blob: bytes) -> None:
    for cut in sorted({0, 1, 4, 5, 6, len(blob) // 3, len(blob) // 2, len(blob) - 4, len(blob) - 1}):
        if cut < len(blob):
            with pytest.raises(FrameDamage, match="cut short"):
                follow(blob[:cut])


def test_bytes_after_the_frame_are_damage() -> None:
    blob = FRAMES["streamed with checksum"]
    with pytest.raises(FrameDamage, match="bytes after the end"):
        follow(blob + blob)


def test_a_bad_header_is_damage() -> None:
    blob = FRAMES["one-shot with its size"]
    with pytest.raises(FrameDamage, match="magic"):
        follow(b"\x00" + blob[1:])
    with pytest.raises(FrameDamage, match="reserved bit"):
        follow(blob[:4] + bytes([blob[4] | 0x08]) + blob[5:])


def test_a_reserved_block_type_is_damage() -> None:
    blob = FRAMES["streamed without checksum"]
    header_end = 6  # magic, descriptor, window descriptor (no size, no dictionary)
    assert blob[4] & 0xE3 == 0
    with pytest.raises(FrameDamage, match="reserved type"):
        follow(blob[:header_end] + bytes([blob[header_end] | 0x06]) + blob[header_end + 1 :])


def test_cut_short_is_only_claimed_at_the_end_of_the_file() -> None:
    blob = FRAMES["streamed with checksum"]
    guard = FrameGuard(io.BytesIO(blob[: len(blob) // 2]))
    guard.read(10)
    assert not guard.cut_short
    while guard.read(4096):
        pass
    assert guard.cut_short
