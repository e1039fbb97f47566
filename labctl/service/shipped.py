"""The files a project folder ships (topologies/, demos/): each loaded, or why it does not load."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Generic, TypeVar

from labctl.errors import LabctlError
from labctl.paths import data_dir

T = TypeVar("T")


@dataclass(frozen=True)
class Listed(Generic[T]):
    """One shipped file: loaded, or the first line of why it does not load."""

    name: str
    value: T | None
    problem: str | None


def shipped(folder: str, load: Callable[[Path], T], invalid: type[LabctlError]) -> list[Listed[T]]:
    """Every <folder>/*.yaml by name; an `invalid` error while loading one lists it as invalid."""
    listed: list[Listed[T]] = []
    for path in sorted(data_dir(folder).glob("*.yaml")):
        try:
            listed.append(Listed(path.stem, load(path), None))
        except invalid as exc:
            listed.append(Listed(path.stem, None, exc.lines()[0]))
    return listed
