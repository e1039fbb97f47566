"""Progress on the terminal for long work: a live status line per phase, a line per event."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

from rich.markup import escape
from rich.status import Status

from labctl.cli.output import err_console


class PhaseReporter:
    """Prints each phase with its elapsed time and keeps a spinner for the current one."""

    def __init__(self, quiet: bool = False) -> None:
        self.quiet = quiet
        self.start = time.monotonic()
        self.status: Status | None = None

    def _elapsed(self) -> str:
        return f"{time.monotonic() - self.start:6.1f}s"

    def phase(self, text: str) -> None:
        if self.quiet:
            return
        err_console.print(f"[dim]{self._elapsed()}[/dim] [bold]{escape(text)}[/bold]", highlight=False)
        if self.status is not None:
            self.status.update(text)

    def event(self, node: str, text: str) -> None:
        if self.quiet:
            return
        who = f"[cyan]{node}[/cyan]: " if node else ""
        err_console.print(f"[dim]{self._elapsed()}[/dim]   {who}{escape(text)}", highlight=False)

    def step(self, text: str) -> None:
        if self.status is not None and not self.quiet:
            self.status.update(f"{text} [dim]({self._elapsed().strip()})[/dim]")

    @contextmanager
    def live(self, text: str) -> Iterator[PhaseReporter]:
        if self.quiet or not err_console.is_terminal:
            yield self
            return
        with err_console.status(text) as status:
            self.status = status
            try:
                yield self
            finally:
                self.status = None
