"""Errors a user can cause. They are values until the CLI, which prints them in one line each."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


class LabctlError(Exception):
    """Base of every error the CLI reports as a clear message (never a traceback)."""

    def lines(self) -> list[str]:
        return [str(self)]


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a topology file, located by line."""

    path: Path
    line: int
    message: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.message}"


class FileError(LabctlError):
    """A file labctl reads is invalid; carries every problem found, in file order, each as
    `file:line: message`. Each stage has its own subclass, so a caller knows which file kind failed."""

    MAX_LINES = 3

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = sorted(problems, key=lambda p: (str(p.path), p.line, p.message))
        super().__init__("\n".join(str(p) for p in self.problems))

    def lines(self) -> list[str]:
        shown = [str(p) for p in self.problems]
        if len(shown) <= self.MAX_LINES:
            return shown
        rest = len(shown) - (self.MAX_LINES - 1)
        return shown[: self.MAX_LINES - 1] + [f"... and {rest} more problems"]


class SourceError(FileError):
    """A file cannot be read as YAML at all (not a regular file, too big or deep, bad syntax)."""


class TopologyError(FileError):
    """A topology is invalid."""


class RecipeError(FileError):
    """A role recipe (vm-recipes/<role>/recipe.yaml) is invalid."""


class ImageRecipeError(FileError):
    """An image recipe (vm-recipes/images/<name>.yaml) is invalid."""


class DemoError(FileError):
    """A demo (demos/<name>.yaml) is invalid, or does not fit the lab it is run against."""


class BundleError(FileError):
    """A lab bundle (a saved demo, for replay) is invalid, or was written by a newer labctl."""
