"""Shared Rich consoles; stdout carries results (JSON stays clean), stderr carries messages."""

from __future__ import annotations

import json
from typing import Any

from rich.console import Console
from rich.markup import escape

from labctl.suggest import escape_unsafe

# soft_wrap: a line is never broken at the terminal width (80 columns without a TTY, as in CI),
# so paths and messages stay whole for people and for scripts; tables still fit the width.
# emoji=False: user text such as ':x:' is printed as written, never turned into a picture.
console = Console(soft_wrap=True, emoji=False)
err_console = Console(stderr=True, soft_wrap=True, emoji=False)


def print_json(data: Any) -> None:
    """Plain, stable JSON on stdout (no Rich markup or wrapping)."""
    print(json.dumps(data, indent=2))


def literal(text: object) -> str:
    """User text for a markup-enabled print: Rich markup escaped, control characters and ANSI made visible.

    Descriptions, paths and error messages can hold `[/red]` (a markup error) or an escape sequence
    (which would rewrite the terminal); both must reach the screen as the characters they are.
    """
    return escape(escape_unsafe(str(text)))
