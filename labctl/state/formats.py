"""Format versions of labctl's on-disk files: every load checks the version it finds, and an older
one is brought up to date by a chain of migrations, one per version step."""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from typing import Any

from labctl.errors import LabctlError


def check_format(what: str, found: Any, supported: int) -> int:
    """Every on-disk format carries a version; refuse one this labctl cannot read, never guess.
    A missing or invalid version is damage (ValueError); a newer one is a clear LabctlError."""
    if not isinstance(found, int) or isinstance(found, bool) or found < 1:
        raise ValueError(f"no valid format version ({found!r})")
    if found > supported:
        raise LabctlError(f"{what} was written by a newer labctl (format {found}; this labctl reads up to {supported})")
    return found


Migration = Callable[[dict[str, Any]], dict[str, Any]]
"""Turns a format-N document into format N+1 (any shape error in it is damage)."""


def migrate(what: str, data: Any, current: int, steps: Mapping[int, Migration]) -> dict[str, Any]:
    """`data` (a JSON object with a "format" key) checked and brought up to format `current` by
    `steps[n]` (n -> n+1) in turn; `data` itself is left as it was. Damage is a ValueError."""
    if not isinstance(data, dict):
        raise ValueError("not a JSON object")
    found = check_format(what, data.get("format"), current)
    result = copy.deepcopy(data)
    for version in range(found, current):
        try:
            result = steps[version](result)
        except (KeyError, TypeError, AttributeError) as exc:
            raise ValueError(f"format {version} does not have the expected shape ({exc!r})") from None
        result["format"] = version + 1
    return result
