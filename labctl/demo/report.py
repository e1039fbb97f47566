"""Demo reports: a Rich table, JSON (Report.to_dict) and JUnit XML."""

from __future__ import annotations

from xml.etree import ElementTree as ET

from rich.table import Table

from labctl.demo.model import FAIL, PASS, SKIPPED, Report, Result

STYLE = {PASS: "[green]PASS[/green]", FAIL: "[red]FAIL[/red]", SKIPPED: "[yellow]SKIPPED[/yellow]"}


def result_line(result: Result) -> str:
    return (
        f"{STYLE[result.status]} {result.check} {result.subject}: {result.detail} [dim]({result.seconds:.1f} s)[/dim]"
    )


def table(report: Report) -> Table:
    counts = report.counts()
    title = (f"demo {report.demo} on {report.lab}: {counts[PASS]} passed, {counts[FAIL]} failed, "
             f"{counts[SKIPPED]} skipped in {report.seconds:.0f} s")  # fmt: skip
    out = Table("check", "subject", "result", "detail", "time", title=title)
    for r in report.results:
        out.add_row(r.check, r.subject, STYLE[r.status], r.detail, f"{r.seconds:.1f} s")
    return out


def junit_xml(report: Report) -> str:
    counts = report.counts()
    suite = ET.Element(
        "testsuite",
        name=f"labctl.{report.demo}",
        tests=str(len(report.results)),
        failures=str(counts[FAIL]),
        skipped=str(counts[SKIPPED]),
        errors="0",
        time=f"{report.seconds:.2f}",
    )
    for r in report.results:
        case = ET.SubElement(suite, "testcase", classname=f"{report.lab}.{r.check}", name=r.subject,
                             time=f"{r.seconds:.2f}")  # fmt: skip
        if r.status == FAIL:
            ET.SubElement(case, "failure", message=r.detail).text = r.detail
        elif r.status == SKIPPED:
            ET.SubElement(case, "skipped", message=r.detail)
    suites = ET.Element("testsuites")
    suites.append(suite)
    ET.indent(suites)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(suites, encoding="unicode") + "\n"
