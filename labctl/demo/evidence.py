"""Evidence of a demo run: the files a probe leaves on its node (pcaps of what its judge read),
fetched after it has run and kept beside the report. A file that cannot be fetched (missing, too
big, the node gone) is noted in the result and never changes its verdict nor ends the run.

The names of the kept files are built here, pure: `<n>-<check>-<subject>-<label><suffix>`, where n
is the result's place in the report; every part is cut down to letters, digits and '_' joined by
'-', so a subject (made of node names and SIP URIs) can never name a path elsewhere."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import PurePosixPath

from labctl import cancel
from labctl.backends.base import Backend
from labctl.demo.model import Evidence, Probe, Result, first_line
from labctl.errors import LabctlError
from labctl.state import LabState

MAX_EVIDENCE_BYTES = 8 << 20
"""The biggest evidence file kept; a bigger one is noted as missing."""
MAX_PART = 60
UNSAFE = re.compile(r"[^A-Za-z0-9_]+")

Keep = Callable[[str, bytes], str]
"""keep(file name, data) -> the kept file's path relative to the report's folder."""


def name_part(text: str, limit: int = MAX_PART) -> str:
    """`text` as a file name part: runs of anything but ASCII letters, digits and '_' become one '-',
    none at either end, at most `limit` characters; "x" when nothing is left."""
    part = UNSAFE.sub("-", text).strip("-")[:limit].strip("-")
    return part or "x"


def evidence_name(number: int, check: str, subject: str, evidence: Evidence) -> str:
    """The file name of a probe's evidence: `<n>-<check>-<subject>-<label><suffix>`."""
    suffix = PurePosixPath(evidence.path).suffix
    safe_suffix = "." + name_part(suffix, 10) if suffix else ""
    return f"{number}-{name_part(check)}-{name_part(subject)}-{name_part(evidence.label, 20)}{safe_suffix}"


def fetch_evidence(backend: Backend, state: LabState, probe: Probe, number: int, result: Result, keep: Keep) -> None:
    """Fetch each evidence file of a probe whose command ran, keep it, and list it (or why not) in
    `result`. Only cancellation goes through."""
    if result.attempts == 0:  # skipped or stopped by its gate: the command never ran
        return
    for evidence in probe.evidence:
        try:
            data = backend.read_file(state, probe.node, evidence.path, MAX_EVIDENCE_BYTES)
            result.evidence.append(keep(evidence_name(number, probe.check, probe.subject, evidence), data))
        except cancel.Cancelled:
            raise
        except (LabctlError, OSError, ValueError) as exc:
            why = first_line(str(exc)) or type(exc).__name__
            result.evidence_missing.append(f"{evidence.label}: {why}")
