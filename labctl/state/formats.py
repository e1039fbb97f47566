"""Format versions of labctl's on-disk files: every load checks the version it finds, and an older
one is brought up to date by a chain of migrations, one per version step."""

from __future__ import annotations

from typing import Any

from labctl.errors import LabctlError


def check_format(what: str, found: Any, supported: int) -> None:
    """Every on-disk format carries a version; refuse one this labctl cannot read, never guess.
    A missing or invalid version is damage (ValueError); a newer one is a clear LabctlError."""
    if not isinstance(found, int) or isinstance(found, bool) or found < 1:
        raise ValueError(f"no valid format version ({found!r})")
    if found > supported:
        raise LabctlError(f"{what} was written by a newer labctl (format {found}; this labctl reads up to {supported})")
