"""labctl.demo.report: JUnit XML that CI tools can read, and Rich output that never chokes on text."""

from __future__ import annotations

import json
from xml.etree import ElementTree as ET

from rich.console import Console

from labctl.demo.model import FAIL, PASS, SKIPPED, Report, Result
from labctl.demo.report import junit_xml, result_line, summary_line, table

REPORT = Report(
    "ospf-dns",
    "ring",
    [
        Result("ping_by_name", "h1 -> 5 nodes", PASS, "5 names reached", 3.2, 1),
        Result("dns", "h2: www.example.com", FAIL, "took 4.0 s to fail; expected under 3 s", 30.0, 12),
        Result("sip_register", "carol (carol@pbx)", SKIPPED, "FreeSWITCH is not installed on pbx", 0.4, 0),
        Result("ospf_neighbors", "r1", FAIL, "no Full adjacency with r2: 10.0.0.2", 60.1, 30),
    ],
    seconds=93.75,
)


def parse(xml: str) -> ET.Element:
    assert xml.startswith('<?xml version="1.0" encoding="UTF-8"?>\n')
    return ET.fromstring(xml.encode())


def test_junit_counts_tests_failures_and_skips() -> None:
    root = parse(junit_xml(REPORT))
    assert root.tag == "testsuites"
    (suite,) = root
    assert suite.attrib == {
        "name": "labctl.ospf-dns",
        "tests": "4",
        "failures": "2",
        "skipped": "1",
        "errors": "0",
        "time": "93.75",
    }
    cases = suite.findall("testcase")
    assert [(c.get("classname"), c.get("name")) for c in cases] == [
        ("ring.ping_by_name", "h1 -> 5 nodes"),
        ("ring.dns", "h2: www.example.com"),
        ("ring.sip_register", "carol (carol@pbx)"),
        ("ring.ospf_neighbors", "r1"),
    ]
    assert [len(c) for c in cases] == [0, 1, 1, 1]
    failure = cases[1].find("failure")
    assert failure is not None
    assert failure.get("message") == failure.text == "took 4.0 s to fail; expected under 3 s"
    skipped = cases[2].find("skipped")
    assert skipped is not None and skipped.get("message") == "FreeSWITCH is not installed on pbx"
    assert cases[3].get("time") == "60.10"


def test_junit_survives_markup_quotes_and_control_characters() -> None:
    detail = 'got <a & "b"> \x1b[31mred\x1b[0m\x00 end'
    root = parse(junit_xml(Report("d", "l", [Result("c", "s <1>", FAIL, detail, 1.0, 1)])))
    failure = root.find("testsuite/testcase/failure")
    assert failure is not None
    assert failure.get("message") == 'got <a & "b"> red? end'
    assert root.find("testsuite/testcase[@name='s <1>']") is not None


def test_junit_of_an_empty_report_is_valid() -> None:
    suite = parse(junit_xml(Report("d", "l"))).find("testsuite")
    assert suite is not None and suite.get("tests") == "0" and len(suite) == 0


def test_json_round_trips() -> None:
    data = json.loads(json.dumps(REPORT.to_dict()))
    assert data["passed"] is False and data["counts"] == {"pass": 1, "fail": 2, "skipped": 1}
    assert [r["status"] for r in data["results"]] == ["pass", "fail", "skipped", "fail"]


def render(markup: object) -> str:
    console = Console(width=200, record=True, color_system=None)
    console.print(markup)
    return console.export_text()


def test_result_line_shows_text_that_looks_like_markup_verbatim() -> None:
    result = Result("dns", "h1: [bold]x", FAIL, "cannot read [/etc/hosts]", 1.25, 1)
    assert render(result_line(result)) == "FAIL dns h1: [bold]x: cannot read [/etc/hosts] (1.2 s)\n"


def test_table_lists_every_result_with_the_counts_in_its_title() -> None:
    text = render(table(REPORT))
    assert "demo ospf-dns on ring: 1 passed, 2 failed, 1 skipped in 94 s" in text
    for status in ("PASS", "FAIL", "SKIPPED"):
        assert status in text
    broken = Report("d", "l", [Result("c", "[/x]", PASS, "[/y]", 0, 1)])
    assert "[/x]" in render(table(broken)) and "[/y]" in render(table(broken))


def test_summary_line_always_shows_the_verdict_and_three_counts() -> None:
    assert render(summary_line(REPORT)) == "demo ospf-dns: FAIL: 1 passed, 2 failed, 1 skipped\n"
    incomplete = Report("voip-demo", "l", [REPORT.results[0], REPORT.results[2]])
    assert render(summary_line(incomplete)) == (
        "demo voip-demo: INCOMPLETE (a skipped check proves nothing): 1 passed, 0 failed, 1 skipped\n"
    )
    assert (
        render(summary_line(Report("[x]", "l", [REPORT.results[0]])))
        == "demo [x]: PASS: 1 passed, 0 failed, 0 skipped\n"
    )
    assert render(summary_line(Report("d", "l"))) == "demo d: FAIL: 0 passed, 0 failed, 0 skipped\n"


HOSTILE = "\x1b]0;pwned\x07\x1b[31mred\x1b[0m\x01 [/b]"


def test_guest_text_reaches_the_terminal_without_control_characters() -> None:
    """ANSI colour sequences are dropped; every other control character is shown as an escape."""
    result = Result("ospf_neighbors", "r1\x1b[2J", FAIL, HOSTILE, 1.0, 1)
    line = render(result_line(result))
    assert line == "FAIL ospf_neighbors r1: \\x1b]0;pwned\\x07red\\x01 [/b] (1.0 s)\n"
    report = Report("evil\x1b[31mRED\x01", "lab\x1b", [result])
    for text in (render(table(report)), render(summary_line(report))):
        assert not any(c in text for c in "\x1b\x07\x01")
    assert "demo evilRED\\x01 on lab\\x1b" in render(table(report))


def test_junit_survives_a_hostile_demo_lab_and_check_name() -> None:
    report = Report("evil\x1b[31mRED\x01", "l\x02ab", [Result("c\x00k", "s\ud800", FAIL, HOSTILE, 1.0, 1)])
    suite = parse(junit_xml(report)).find("testsuite")
    assert suite is not None and suite.get("name") == "labctl.evilRED?"
    case = suite.find("testcase")
    assert case is not None and case.get("classname") == "l?ab.c?k" and case.get("name") == "s?"
