"""How the service layer reports progress on long work, without knowing about terminals.

The CLI passes a PhaseReporter (spinner and lines on stderr), bench/ a timeline recorder, tests a
recorder or QUIET. Every callback may be called from worker threads (nodes boot in parallel)."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from typing import Protocol


class Listener(Protocol):
    def phase(self, text: str) -> None:
        """A new phase of the work began (`starting 9 nodes`, `configuring nodes`)."""

    def event(self, node: str, text: str) -> None:
        """Something happened on one node ('' for the lab as a whole)."""

    def step(self, text: str) -> None:
        """Fine-grained progress inside the current phase (an image build's steps)."""

    def live(self, text: str) -> AbstractContextManager[object]:
        """The span of a long phase (the CLI shows a spinner while it lasts)."""


class Quiet:
    """A listener that says nothing."""

    def phase(self, text: str) -> None:
        return None

    def event(self, node: str, text: str) -> None:
        return None

    def step(self, text: str) -> None:
        return None

    def live(self, text: str) -> AbstractContextManager[object]:
        return nullcontext()


QUIET = Quiet()

Event = Callable[[str, str], None]
