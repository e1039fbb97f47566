"""'Did you mean' hints for misspelt words."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """' (did you mean 'x'?)' for the closest choice, or '' when nothing is close."""
    close = difflib.get_close_matches(word, sorted(choices), n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""


def unknown(kind: str, word: object, choices: Iterable[str], where: str = "") -> str:
    """ "unknown <kind> '<word>' <where> (did you mean ...?)", or the choices when they are few."""
    choices = list(choices)
    hint = did_you_mean(str(word), choices)
    if not hint and len(choices) <= 8:
        hint = f" (expected one of: {', '.join(sorted(choices))})" if choices else " (there are none)"
    place = f" {where}" if where else ""
    return f"unknown {kind} '{word}'{place}{hint}"
