"""Probes and results. A check type expands into probes; a probe is a command to run on a
node plus a judge of its output (netlab's exec_/valid_ split), retried until it passes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from labctl.backends.base import ExecResult

PASS, FAIL, SKIPPED = "pass", "fail", "skipped"


@dataclass(frozen=True)
class Verdict:
    status: str  # pass | fail | skipped
    detail: str = ""


Judge = Callable[[ExecResult], Verdict]


@dataclass(frozen=True)
class Probe:
    check: str
    subject: str
    node: str
    command: str
    judge: Judge
    timeout: float = 30.0
    interval: float = 2.0
    command_timeout: float = 60.0
    skip_unless: tuple[str, str] | None = None  # (node, command): SKIPPED with its output when it fails


@dataclass
class Result:
    check: str
    subject: str
    status: str
    detail: str
    seconds: float
    attempts: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "check": self.check,
            "subject": self.subject,
            "status": self.status,
            "detail": self.detail,
            "seconds": round(self.seconds, 2),
            "attempts": self.attempts,
        }


@dataclass
class Report:
    demo: str
    lab: str
    results: list[Result] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def passed(self) -> bool:
        return all(r.status != FAIL for r in self.results) and bool(self.results)

    def counts(self) -> dict[str, int]:
        return {s: sum(r.status == s for r in self.results) for s in (PASS, FAIL, SKIPPED)}

    def to_dict(self) -> dict[str, Any]:
        return {
            "demo": self.demo,
            "lab": self.lab,
            "passed": self.passed,
            "seconds": round(self.seconds, 1),
            "counts": self.counts(),
            "results": [r.to_dict() for r in self.results],
        }
