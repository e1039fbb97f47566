"""Running a demo from the command line: where its JUnit report goes, and how its results print."""

from __future__ import annotations

import json
from pathlib import Path

from labctl.cli.output import console, err_console, literal
from labctl.errors import LabctlError
from labctl.service import verify
from labctl.service.labs import LabState


def junit_target(junit: str) -> Path:
    """Where the JUnit report goes, refused before the demo runs rather than after."""
    path = Path(junit)
    if path.is_dir():
        raise LabctlError(f"--junit {junit}: is a folder; give a file name")
    if not path.parent.is_dir():
        raise LabctlError(f"--junit {junit}: folder {path.parent} does not exist")
    return path


def run_demo(state: LabState, demo: str, as_json: bool, junit: str | None) -> int:
    """Run `demo` on the lab; print the report; return the exit code (verify.EXIT_CODES)."""
    prepared = verify.prepare(state, demo)  # wrong parameters: one line at the check, before anything runs
    target = junit_target(junit) if junit else None
    if not as_json:
        err_console.print(
            f"[bold]running demo {literal(prepared.spec.name)}[/bold] ({len(prepared.spec.checks)} checks)"
        )
    report = verify.run(prepared, lambda r: None if as_json else err_console.print(verify.result_line(r)))
    if as_json:
        print(json.dumps(report.to_dict(), indent=2))
        err_console.print(verify.summary_line(report), highlight=False, soft_wrap=True)
    else:
        console.print(verify.table(report))
        console.print(verify.summary_line(report), highlight=False, soft_wrap=True)
    if target:
        try:
            target.write_text(verify.junit_xml(report))
        except OSError as exc:
            raise LabctlError(f"--junit {junit}: cannot write it: {exc.strerror}") from None
    return verify.EXIT_CODES[report.verdict]
