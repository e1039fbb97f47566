"""Read what QEMU's `file` audio backend wrote (a WAV whose header lengths stay 0 until QEMU exits:
the samples are everything after the 44-byte header) and measure how loud a tone is in it."""

from __future__ import annotations

import math
import struct

HEADER = 44
RATE = 44100  # QEMU's audiodev default: 44100 Hz, signed 16-bit, 2 channels
FRAME = 4


def left_channel(pcm: bytes) -> list[int]:
    """The left samples of interleaved s16le stereo (a partial frame at the end is dropped)."""
    whole = len(pcm) - len(pcm) % FRAME
    return [s for s, _ in struct.iter_unpack("<hh", pcm[:whole])]


def rms(samples: list[int]) -> float:
    return math.sqrt(sum(s * s for s in samples) / len(samples)) if samples else 0.0


def level(samples: list[int], hz: float, rate: int = RATE) -> float:
    """The amplitude of `hz` in the samples (Goertzel), on the same scale as the samples."""
    if not samples:
        return 0.0
    coeff = 2 * math.cos(2 * math.pi * hz / rate)
    s1 = s2 = 0.0
    for x in samples:
        s1, s2 = x + coeff * s1 - s2, s1
    power = s1 * s1 + s2 * s2 - coeff * s1 * s2
    return 2 * math.sqrt(max(power, 0.0)) / len(samples)


def dominant(samples: list[int], candidates: tuple[float, ...], rate: int = RATE) -> float | None:
    """The candidate frequency that carries most of the sound, None when it is silence (RMS < 100)."""
    if rms(samples) < 100:
        return None
    return max(candidates, key=lambda hz: level(samples, hz, rate))
