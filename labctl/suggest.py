"""'Did you mean' hints for misspelt words, and user values shown safely inside messages."""

from __future__ import annotations

import difflib
import unicodedata
from collections.abc import Iterable

SHOWN_MAX = 60
"""Longer values are cut in messages, so a huge string still gives a short line."""
BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f")


def is_unsafe_char(char: str) -> bool:
    """Control, format-breaking or bidirectional characters: they can rewrite a terminal or a line."""
    return unicodedata.category(char) in ("Cc", "Cs", "Zl", "Zp") or char in BIDI_CONTROLS


def escape_unsafe(text: str) -> str:
    """`text` with every unsafe character written as an escape (`\\n`, `\\x1b`, `\\u202e`)."""
    if not any(is_unsafe_char(c) for c in text):
        return text
    return "".join(_escaped(c) if is_unsafe_char(c) else c for c in text)


def _escaped(char: str) -> str:
    named = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}
    return named.get(char) or (f"\\x{ord(char):02x}" if ord(char) < 256 else f"\\u{ord(char):04x}")


def visible(text: str) -> str:
    """`text` on one short line: unsafe characters as escapes, long text cut."""
    if len(text) > SHOWN_MAX:
        text = text[: SHOWN_MAX - 3] + "..."
    return escape_unsafe(text)


def quoted(value: object) -> str:
    """A user's value inside a message: `'value'`, made visible."""
    return f"'{visible(str(value))}'"


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
    return f"unknown {kind} {quoted(word)}{place}{hint}"
