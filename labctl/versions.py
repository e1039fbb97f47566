"""Format versions every on-disk file of labctl shares: what a valid version is, how a newer one is
refused, and the chain of migrations that brings an older one up to date. Foundation layer: the
lab state and saved plan (labctl.state.formats) and the YAML files people write
(labctl.yamlsource.check_version) both use it."""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from typing import Any

from labctl.errors import LabctlError
from labctl.suggest import visible

FORMAT_KEY = "format"
"""The top-level key that holds a file's format version."""

Migration = Callable[[dict[str, Any]], dict[str, Any]]
"""Turns a format-N mapping into format N+1."""


def is_version(found: Any) -> bool:
    """A format version is a whole number, 1 or more (not a bool, a string or a float)."""
    return isinstance(found, int) and not isinstance(found, bool) and found >= 1


def newer(what: str, found: int, supported: int) -> str:
    """The one line that refuses a file written by a newer labctl."""
    return f"{what} was written by a newer labctl (format {visible(str(found))}; this labctl reads up to {supported})"


def check_format(what: str, found: Any, supported: int) -> int:
    """Every on-disk format carries a version; refuse one this labctl cannot read, never guess.
    A missing or invalid version is damage (ValueError); a newer one is a clear LabctlError."""
    if not is_version(found):
        raise ValueError(f"no valid format version ({found!r})")
    if found > supported:
        raise LabctlError(newer(what, found, supported))
    return int(found)


def upgrade(data: dict[str, Any], found: int, current: int, steps: Mapping[int, Migration]) -> dict[str, Any]:
    """A copy of `data` (format `found`) brought up to format `current` by `steps[n]` (n -> n+1) in
    turn, its "format" key following; `data` itself is left as it was. A step that meets a shape it
    does not expect (KeyError, TypeError, AttributeError) is a ValueError naming its format."""
    result = copy.deepcopy(data)
    for version in range(found, current):
        step = steps[version]  # a missing step is labctl's bug, not the file's
        try:
            result = step(result)
        except (KeyError, TypeError, AttributeError) as exc:
            raise ValueError(f"format {version} does not have the expected shape ({exc!r})") from None
        result[FORMAT_KEY] = version + 1
    return result
