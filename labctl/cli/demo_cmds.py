"""demo: run a demo's checks against a running lab."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from labctl.cli.output import console, literal
from labctl.cli.reports import run_demo
from labctl.service import labs, verify

demo_app = typer.Typer(help="Verify running labs with declarative checks.", no_args_is_help=True)


@demo_app.command("run")
def run(
    demo: Annotated[str, typer.Argument(help="Demo name (demos/NAME.yaml) or path.")],
    lab: Annotated[str | None, typer.Option(help="Running lab; defaults to the demo's name.")] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
    junit: Annotated[str | None, typer.Option("--junit", help="Also write JUnit XML here.")] = None,
) -> None:
    """Run a demo against a running lab. Exit 0 when every check passed, 1 when one failed (or none
    ran), 3 when none failed but some were skipped."""
    state = labs.require_state(lab if lab is not None else Path(demo).stem)
    raise typer.Exit(run_demo(state, demo, as_json, junit))


@demo_app.command("list")
def list_demos() -> None:
    """The demos in demos/."""
    for listed in verify.shipped_demos():
        if listed.value is None:
            console.print(
                f"{literal(f'{listed.name:<16}')} [red]invalid[/red]: {literal(listed.problem)}", highlight=False
            )
            continue
        spec = listed.value
        description = spec.description if len(spec.description) <= 60 else spec.description[:57] + "..."
        console.print(
            f"{literal(f'{spec.name:<16}')} {len(spec.checks):>3} checks  {literal(description)}", highlight=False
        )


def register(app: typer.Typer) -> None:
    app.add_typer(demo_app, name="demo")
