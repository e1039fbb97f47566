"""Reproducible Debian images: recipes in vm-recipes/images/<name>.yaml, built with mmdebstrap
into a compressed qcow2 plus the kernel and initrd for direct kernel boot, cached by the hash
of their inputs under the XDG cache dir.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

Step = Callable[[str], None]
"""Progress: one short line about what a build is doing now."""


@dataclass(frozen=True)
class ImageArtifacts:
    """A built image, ready to boot: nodes run on copy-on-write overlays of `disk`."""

    name: str
    digest: str  # hash of the inputs; names the cache folder
    disk: Path  # qcow2
    kernel: Path
    initrd: Path
    manifest: Path  # JSON: packages=versions, input hash, qcow2 sha256, suite, mirror/snapshot, date
