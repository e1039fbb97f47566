"""tests/integration/wav.py, the judge of the desktop's recorded sound: a tone, silence, nothing, garbage."""

from __future__ import annotations

import math
import os
import struct

from tests.integration.wav import RATE, dominant, left_channel, level, rms

CANDIDATES = (400.0, 600.0, 1000.0, 1500.0)


def tone(hz: float, seconds: float = 0.5, amplitude: int = 8000) -> bytes:
    n = int(RATE * seconds)
    return b"".join(
        struct.pack("<hh", v, v) for v in (int(amplitude * math.sin(2 * math.pi * hz * i / RATE)) for i in range(n))
    )


def test_a_tone_is_found_among_the_candidates() -> None:
    samples = left_channel(tone(1000))
    assert dominant(samples, CANDIDATES) == 1000.0
    assert abs(level(samples, 1000) - 8000) < 400 and level(samples, 600) < 400


def test_silence_and_nothing_are_no_tone() -> None:
    assert dominant(left_channel(bytes(RATE * 4)), CANDIDATES) is None
    assert dominant(left_channel(b""), CANDIDATES) is None and rms([]) == 0.0


def test_noise_and_a_torn_frame_are_read_without_error() -> None:
    samples = left_channel(os.urandom(RATE) + b"\x01\x02\x03")
    assert len(samples) == RATE // 4
    assert dominant(samples, CANDIDATES) in (*CANDIDATES,)  # loud noise: some candidate, not a crash
