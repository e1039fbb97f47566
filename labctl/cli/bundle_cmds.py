"""save, replay, bundle show: a lab as one file, handed to someone else and replayed years later."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from labctl.cli.output import console, literal, print_json
from labctl.cli.progress import PhaseReporter
from labctl.service import bundles, verify

bundle_app = typer.Typer(help="Look inside saved lab bundles (.labctl files).", no_args_is_help=True)


def save(
    lab: Annotated[str, typer.Argument(help="A running lab, or a topology (name or path).", metavar="LAB|TOPOLOGY")],
    output: Annotated[Path, typer.Option("-o", "--output", help="The bundle to write (FILE.labctl).")],
    with_image: Annotated[
        bool, typer.Option("--with-image", help="Include the node image, so a replay needs no network.")
    ] = False,
    with_disks: Annotated[
        bool,
        typer.Option(
            "--with-disks",
            help="Include each node's disk (a running lab's), so changes made by hand come back; implies --with-image.",
        ),
    ] = False,
    force: Annotated[bool, typer.Option("--force", help="Replace FILE if it exists.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print a summary as JSON.")] = False,
) -> None:
    """Write one file holding the lab's topology, demo, recipes, rendered configuration, image locks
    (and with --with-image the image, with --with-disks every node's disk), and its last demo report."""
    saved = bundles.save(lab, output, with_image, force, PhaseReporter(quiet=as_json), with_disks=with_disks)
    if as_json:
        print_json(saved.to_dict())
        return
    console.print(
        f"saved lab {saved.lab} to {literal(saved.path)}: {saved.members} files, {size(saved.bytes)}"
        f"{' with its image' if saved.with_image else ''}{' and disks' if saved.with_disks else ''}"
        f", in {saved.seconds:.1f} s",
        highlight=False,
    )


def size(count: int) -> str:
    return f"{count / 2**20:.1f} MiB" if count >= 2**20 else f"{count / 2**10:.0f} KiB"


def replay(
    bundle: Annotated[
        str, typer.Argument(help="A bundle written by `labctl save`, or its http(s) URL.", metavar="FILE.labctl|URL")
    ],
    name: Annotated[str | None, typer.Option("--name", help="Run the lab under this name.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the comparison and the report as JSON.")] = False,
) -> None:
    """Verify the bundle, bring its lab up, run its demo, and compare every verdict with the saved one
    (exit 0 only when each check has its saved verdict)."""
    reporter = PhaseReporter(quiet=as_json)
    result = bundles.replay(bundle, name, reporter)
    if as_json:
        print_json(result.to_dict())
    else:
        console.print(verify.table(result.report))
        console.print(verify.summary_line(result.report), highlight=False, soft_wrap=True)
        if result.changes:
            console.print(_changes(result.changes))
        console.print(_verdict_line(result), highlight=False, markup=False)
        console.print(f"total time {time.monotonic() - reporter.start:.0f} s", highlight=False)
    raise typer.Exit(0 if result.same else 1)


def _changes(changes: list[bundles.Change]) -> Table:
    table = Table(title="changed since the bundle was saved")
    for column in ("check", "subject", "saved", "now"):
        table.add_column(column)
    for change in changes:
        table.add_row(
            literal(change.check),
            literal(change.subject),
            change.saved or "(not saved)",
            change.now or "(not run)",
        )
    return table


def _verdict_line(result: bundles.Replayed) -> str:
    if not result.saved:
        return f"replay {result.lab}: the bundle holds no saved verdicts to compare with"
    if result.same:
        return f"replay {result.lab}: SAME: all {len(result.saved)} checks have their saved verdict"
    return f"replay {result.lab}: CHANGED: {len(result.changes)} of {len(result.saved)} checks differ from the bundle"


@bundle_app.command("show")
def show(
    bundle: Annotated[Path, typer.Argument(help="A bundle written by `labctl save`.", metavar="FILE.labctl")],
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """List what is inside a bundle: format, lab, image locks, saved verdicts. Boots nothing."""
    data = bundles.show(bundle)
    if as_json:
        print_json(data)
        return
    _print_show(data)


def _print_show(data: dict[str, Any]) -> None:
    console.print(
        f"{literal(data['bundle'])}: bundle format {data['format']}, written {literal(data['written'])} "
        f"by labctl {literal(data['labctl_version'])}",
        highlight=False,
    )
    console.print(
        f"lab {literal(data['lab'])}: topology {literal(data['topology'])}, demo {literal(data['demo'])}; "
        f"{data['members']} files, {size(data['bytes'])} unpacked",
        highlight=False,
    )
    for name, lock in data["images"].items():
        where = "included" if lock["included"] else "not included (a replay uses the cache or rebuilds it)"
        built = lock["snapshot_date"] or "a date this older image did not record"
        pin = lock["snapshot"] or f"no snapshot pinned, built at {built}"
        console.print(
            f"image {literal(name)} {literal(str(lock['input_digest'])[:12])}: {lock['suite']}, {literal(pin)}, "
            f"{lock['packages']} packages, {where}",
            highlight=False,
        )
        if lock["freeswitch"]:
            console.print(f"  FreeSWITCH from {literal(', '.join(lock['freeswitch']))}", highlight=False)
    if data["disks"]:
        console.print(
            f"disks of {literal(', '.join(data['disks']))}, and the lab's secrets (which they hold)", highlight=False
        )
    table = Table(title="saved verdicts")
    for column in ("check", "subject", "verdict"):
        table.add_column(column)
    for verdict in data["verdicts"]:
        table.add_row(literal(verdict["check"]), literal(verdict["subject"]), literal(verdict["status"]))
    console.print(table if data["verdicts"] else "no saved verdicts (no demo had run on the lab)")
    if data["verdicts"]:
        count = data.get("evidence", 0)
        console.print(f"{count} evidence file{'s' if count != 1 else ''} with the report (report/evidence/)")


def register(app: typer.Typer) -> None:
    app.command()(save)
    app.command()(replay)
    app.add_typer(bundle_app, name="bundle")
