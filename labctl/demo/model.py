"""Probes and results. A check type expands into probes; a probe is a command to run on a
node plus a judge of its output (netlab's exec_/valid_ split), retried until it passes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from labctl.backends.base import ExecResult
from labctl.compile.plan import LabPlan

PASS, FAIL, SKIPPED = "pass", "fail", "skipped"
INCOMPLETE = "incomplete"
"""A report's verdict when nothing failed but something was skipped: a skipped check proves nothing."""


@dataclass(frozen=True)
class Verdict:
    status: str  # pass | fail | skipped
    detail: str = ""


Judge = Callable[[ExecResult], Verdict]


def first_line(text: str, limit: int = 200) -> str:
    """The first non-blank line of `text`, stripped, cut to `limit` characters (marked "...")."""
    line = next((s.strip() for s in text.splitlines() if s.strip()), "")
    return line if len(line) <= limit else line[: limit - 3] + "..."


@dataclass(frozen=True)
class Evidence:
    """A file a probe leaves on its node for the report to keep (a pcap of what the judge read)."""

    label: str  # tells the probe's evidence files apart in their names: sip, rtp
    path: str  # absolute, on the probe's node


@dataclass(frozen=True)
class Access:
    """The nodes a probe reads (runs commands on, sends traffic to, asks) and the nodes whose state it
    changes (calls, registrations, links). Checks whose probes change nothing another check uses
    run at once (labctl.demo.schedule)."""

    reads: frozenset[str] = frozenset()
    writes: frozenset[str] = frozenset()


def reads_only(plan: LabPlan) -> Access:
    """A probe that may read any node of the lab (pings, queries) and changes none."""
    return Access(reads=frozenset(node.name for node in plan.nodes))


def phones_changed(plan: LabPlan, phones: set[str]) -> Access:
    """A SIP probe: it changes the state of these phones (a call, a registration) and reads them and
    every node that is not a phone (registrars, routers, DNS, LDAP). Probes on other phones run at
    once: the registrars handle many calls and registrations at a time."""
    others = {node.name for node in plan.nodes if node.phone is None}
    return Access(reads=frozenset(others | phones), writes=frozenset(phones))


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
    skip_unless: tuple[str, str] | None = None
    """(node, command), run before the probe. Exit 0 with a first line "SKIP: <reason>" makes the probe
    SKIPPED; exit 0 otherwise lets it run; anything else (non-zero exit, no answer) is a FAIL."""
    evidence: tuple[Evidence, ...] = ()
    """Files the command leaves on the node, fetched after the probe has run (whatever its verdict)."""
    access: Access | None = None
    """What the probe touches beyond running on its node; None: it may change any node, so its
    check runs alone."""


@dataclass
class Result:
    check: str
    subject: str
    status: str
    detail: str
    seconds: float
    attempts: int
    evidence: list[str] = field(default_factory=list)
    """The evidence files kept, relative to the report's folder (evidence/<file>)."""
    evidence_missing: list[str] = field(default_factory=list)
    """Evidence that could not be kept, one "<label>: <why>" each; it never changes the verdict."""

    def to_dict(self) -> dict[str, Any]:
        return {
            "check": self.check,
            "subject": self.subject,
            "status": self.status,
            "detail": self.detail,
            "seconds": round(self.seconds, 2),
            "attempts": self.attempts,
            "evidence": list(self.evidence),
            "evidence_missing": list(self.evidence_missing),
        }


@dataclass
class Report:
    demo: str
    lab: str
    results: list[Result] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def passed(self) -> bool:
        """Every check passed, and there was at least one: a skipped check is not a pass."""
        return bool(self.results) and all(r.status == PASS for r in self.results)

    @property
    def verdict(self) -> str:
        """pass | fail | incomplete (nothing failed, something skipped). No results at all is a fail."""
        if not self.results or any(r.status not in (PASS, SKIPPED) for r in self.results):
            return FAIL
        return PASS if self.passed else INCOMPLETE

    def counts(self) -> dict[str, int]:
        return {s: sum(r.status == s for r in self.results) for s in (PASS, FAIL, SKIPPED)}

    def to_dict(self) -> dict[str, Any]:
        return {
            "demo": self.demo,
            "lab": self.lab,
            "verdict": self.verdict,
            "passed": self.passed,
            "seconds": round(self.seconds, 1),
            "counts": self.counts(),
            "results": [r.to_dict() for r in self.results],
        }
