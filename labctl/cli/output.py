"""Shared Rich consoles; stdout carries results (JSON stays clean), stderr carries messages."""

from __future__ import annotations

import json
from typing import Any

from rich.console import Console

console = Console()
err_console = Console(stderr=True)


def print_json(data: Any) -> None:
    """Plain, stable JSON on stdout (no Rich markup or wrapping)."""
    print(json.dumps(data, indent=2))
