"""Whatever the file holds, validation ends in a FileError of at most 3 lines, never another exception.

Seeded mutations of good topologies, both of the YAML text and of the parsed structure.
"""

from __future__ import annotations

import copy
import random
from pathlib import Path
from typing import Any

import pytest
import yaml

from labctl.compile import compile_topology
from labctl.errors import FileError
from labctl.topology.schema import load_topology

REPO = Path(__file__).resolve().parents[3]
SOURCES = [REPO / "topologies" / "voip-demo.yaml", *sorted((REPO / "tests" / "golden" / "inputs").glob("*.yaml"))]
SNIPPETS = list(":-[]{}&*!|>'\"#%,?\t\n ") + ["<<: *phone", "&x ", "*x", "!!binary ", "? ", "---\n", "yes", "~"]
VALUES: list[Any] = [None, 0, -1, 10**9, "", "no", True, 1.5, [], {}, [1], ["r1"], {"a": 1}, "10.0.0.0/33", "::1/64"]
HOSTILE: list[Any] = [10**30, "a\nb", "\x1b[2J", "[/red]", "$(id)", "\u0663", "x" * 5000, float("inf"), "\u202e"]


def validate(text: str) -> None:
    try:
        compile_topology(load_topology(Path("fuzz.yaml"), text))
    except FileError as exc:
        assert 1 <= len(exc.lines()) <= 3
        for problem in exc.problems:
            assert "\n" not in problem.message and "\x1b" not in problem.message, "one line, no escape sequence"
            assert len(problem.message) < 400, "a huge value is cut in messages"


@pytest.mark.parametrize("seed", range(6))
def test_mangled_text(seed: int) -> None:
    rng = random.Random(seed)
    sources = [p.read_text() for p in SOURCES]
    for _ in range(100):
        chars = list(rng.choice(sources))
        for _ in range(rng.randint(1, 4)):
            at = rng.randrange(len(chars))
            roll = rng.random()
            if roll < 0.4:
                chars[at] = rng.choice(SNIPPETS)
            elif roll < 0.7:
                chars.insert(at, rng.choice(SNIPPETS))
            else:
                del chars[at]
        validate("".join(chars))


def paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix] if prefix else []
    if isinstance(value, dict):
        for key, item in value.items():
            found += paths(item, prefix + (key,))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            found += paths(item, prefix + (i,))
    return found


@pytest.mark.parametrize("seed", range(6))
def test_wrong_values_anywhere(seed: int) -> None:
    rng = random.Random(seed)
    docs = [yaml.safe_load(p.read_text()) for p in SOURCES]
    for _ in range(100):
        doc = copy.deepcopy(rng.choice(docs))
        for _ in range(rng.randint(1, 3)):
            *parents, last = rng.choice(paths(doc))
            holder = doc
            for step in parents:
                holder = holder[step]
            if rng.random() < 0.8:
                holder[last] = copy.deepcopy(rng.choice(VALUES + HOSTILE))
            else:
                del holder[last]
        validate(yaml.safe_dump(doc))
