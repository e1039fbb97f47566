"""demo: run a demo's checks against a running lab."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from labctl.backends.base import Backend
from labctl.backends.registry import backend_for
from labctl.cli.output import console, err_console, literal
from labctl.demo.checks import check_types
from labctl.demo.model import FAIL, INCOMPLETE, PASS
from labctl.demo.report import junit_xml, result_line, summary_line, table
from labctl.demo.runner import run_demo as run_checks
from labctl.demo.spec import load_demo, validate_demo
from labctl.errors import LabctlError
from labctl.lab.links import effective_plan
from labctl.paths import data_dir
from labctl.state import LabState, saved_plan

EXIT_CODES = {PASS: 0, FAIL: 1, INCOMPLETE: 3}
"""A demo's exit code by its verdict: 0 every check passed; 1 a check failed, or there were none;
3 none failed but some were skipped (an incomplete proof). 2 stays click's usage error."""

demo_app = typer.Typer(help="Verify running labs with declarative checks.", no_args_is_help=True)


def junit_target(junit: str) -> Path:
    """Where the JUnit report goes, refused before the demo runs rather than after."""
    path = Path(junit)
    if path.is_dir():
        raise LabctlError(f"--junit {junit}: is a folder; give a file name")
    if not path.parent.is_dir():
        raise LabctlError(f"--junit {junit}: folder {path.parent} does not exist")
    return path


def run_demo(backend: Backend, state: LabState, demo: str, as_json: bool, junit: str | None) -> int:
    """Run `demo` on the lab; print the report; return the exit code (EXIT_CODES)."""
    spec = load_demo(demo, check_types())
    plan = effective_plan(saved_plan(state), state.links_down)
    validate_demo(spec, plan)  # wrong parameters: one line at the check, before anything runs
    target = junit_target(junit) if junit else None
    if not as_json:
        err_console.print(f"[bold]running demo {literal(spec.name)}[/bold] ({len(spec.checks)} checks)")
    report = run_checks(backend, state, plan, spec, lambda r: None if as_json else err_console.print(result_line(r)))
    if as_json:
        print(json.dumps(report.to_dict(), indent=2))
        err_console.print(summary_line(report), highlight=False, soft_wrap=True)
    else:
        console.print(table(report))
        console.print(summary_line(report), highlight=False, soft_wrap=True)
    if target:
        try:
            target.write_text(junit_xml(report))
        except OSError as exc:
            raise LabctlError(f"--junit {junit}: cannot write it: {exc.strerror}") from None
    return EXIT_CODES[report.verdict]


@demo_app.command("run")
def run(
    demo: Annotated[str, typer.Argument(help="Demo name (demos/NAME.yaml) or path.")],
    lab: Annotated[str | None, typer.Option(help="Running lab; defaults to the demo's name.")] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
    junit: Annotated[str | None, typer.Option("--junit", help="Also write JUnit XML here.")] = None,
) -> None:
    """Run a demo against a running lab. Exit 0 when every check passed, 1 when one failed (or none
    ran), 3 when none failed but some were skipped."""
    from labctl.cli.lab_cmds import require_state

    state = require_state(lab if lab is not None else Path(demo).stem)
    raise typer.Exit(run_demo(backend_for(state), state, demo, as_json, junit))


@demo_app.command("list")
def list_demos() -> None:
    """The demos in demos/."""
    for path in sorted(data_dir("demos").glob("*.yaml")):
        try:
            spec = load_demo(str(path), check_types())
        except LabctlError as exc:
            console.print(
                f"{literal(f'{path.stem:<16}')} [red]invalid[/red]: {literal(exc.lines()[0])}", highlight=False
            )
            continue
        description = spec.description if len(spec.description) <= 60 else spec.description[:57] + "..."
        console.print(
            f"{literal(f'{spec.name:<16}')} {len(spec.checks):>3} checks  {literal(description)}", highlight=False
        )


def register(app: typer.Typer) -> None:
    app.add_typer(demo_app, name="demo")
