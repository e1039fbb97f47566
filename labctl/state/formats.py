"""Format versions of labctl's JSON files (lab state, saved plan): every load checks the version it
finds, and an older one is brought up to date by a chain of migrations, one per version step. The
checks and the chain are shared with the YAML formats (labctl.versions)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from labctl.versions import FORMAT_KEY, Migration, check_format, upgrade

__all__ = ["Migration", "check_format", "migrate"]


def migrate(what: str, data: Any, current: int, steps: Mapping[int, Migration]) -> dict[str, Any]:
    """`data` (a JSON object with a "format" key) checked and brought up to format `current` by
    `steps[n]` (n -> n+1) in turn; `data` itself is left as it was. Damage is a ValueError."""
    if not isinstance(data, dict):
        raise ValueError("not a JSON object")
    return upgrade(data, check_format(what, data.get(FORMAT_KEY), current), current, steps)
