"""Demo reports: a Rich table, JSON (Report.to_dict) and JUnit XML."""

from __future__ import annotations

import re
from xml.etree import ElementTree as ET

from rich.markup import escape
from rich.table import Table

from labctl.demo.model import FAIL, INCOMPLETE, PASS, SKIPPED, Report, Result
from labctl.suggest import escape_unsafe

ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]")
NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
"""Characters XML 1.0 cannot carry, even escaped; command output (ANSI colours) may hold them."""


def shown(text: str) -> str:
    """Text from a demo file or a guest, for a markup-enabled print: ANSI sequences dropped, every
    other control character written as an escape (a raw ESC could rewrite the terminal), markup escaped."""
    return escape(escape_unsafe(ANSI.sub("", text)))


STYLE = {PASS: "[green]PASS[/green]", FAIL: "[red]FAIL[/red]", SKIPPED: "[yellow]SKIPPED[/yellow]"}


def result_line(result: Result) -> str:
    """Rich markup; the check's own text is shown(), since command output may hold '[/...]' or ESC."""
    text = shown(f"{result.check} {result.subject}: {result.detail}")
    return f"{STYLE[result.status]} {text} [dim]({result.seconds:.1f} s)[/dim]"


VERDICT_STYLE = {
    PASS: "[green]PASS[/green]",
    FAIL: "[red]FAIL[/red]",
    INCOMPLETE: "[yellow]INCOMPLETE[/yellow] (a skipped check proves nothing)",
}


def counts_text(report: Report) -> str:
    counts = report.counts()
    return f"{counts[PASS]} passed, {counts[FAIL]} failed, {counts[SKIPPED]} skipped"


def summary_line(report: Report) -> str:
    """One plain line after the table, Rich markup: the verdict and the three counts, always."""
    return f"demo {shown(report.demo)}: {VERDICT_STYLE[report.verdict]}: {counts_text(report)}"


def table(report: Report) -> Table:
    title = f"demo {shown(report.demo)} on {shown(report.lab)}: {counts_text(report)} in {report.seconds:.0f} s"
    out = Table("check", "subject", "result", "detail", "time", title=title)
    for r in report.results:
        out.add_row(shown(r.check), shown(r.subject), STYLE[r.status], shown(r.detail), f"{r.seconds:.1f} s")
    return out


def _xml_text(text: str) -> str:
    return NOT_XML.sub("?", ANSI.sub("", text))


def junit_xml(report: Report) -> str:
    counts = report.counts()
    suite = ET.Element(
        "testsuite",
        name=_xml_text(f"labctl.{report.demo}"),
        tests=str(len(report.results)),
        failures=str(counts[FAIL]),
        skipped=str(counts[SKIPPED]),
        errors="0",
        time=f"{report.seconds:.2f}",
    )
    for r in report.results:
        case = ET.SubElement(
            suite,
            "testcase",
            classname=_xml_text(f"{report.lab}.{r.check}"),
            name=_xml_text(r.subject),
            time=f"{r.seconds:.2f}",
        )
        detail = _xml_text(r.detail)
        if r.status == FAIL:
            ET.SubElement(case, "failure", message=detail).text = detail
        elif r.status == SKIPPED:
            ET.SubElement(case, "skipped", message=detail)
    suites = ET.Element("testsuites")
    suites.append(suite)
    ET.indent(suites)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(suites, encoding="unicode") + "\n"
