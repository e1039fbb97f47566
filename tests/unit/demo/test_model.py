"""labctl.demo.model: a Report passes only when it has results and none failed."""

from __future__ import annotations

from labctl.demo.model import FAIL, PASS, SKIPPED, Report, Result


def result(status: str, subject: str = "s") -> Result:
    return Result("check", subject, status, "detail", 1.234, 2)


def test_an_empty_report_does_not_pass() -> None:
    assert not Report("d", "l").passed


def test_any_failure_fails_the_report() -> None:
    assert Report("d", "l", [result(PASS)]).passed
    assert Report("d", "l", [result(PASS), result(SKIPPED)]).passed
    assert not Report("d", "l", [result(PASS), result(FAIL), result(SKIPPED)]).passed


def test_counts_and_json_shape() -> None:
    report = Report("ospf-dns", "lab1", [result(PASS, "a"), result(FAIL, "b"), result(SKIPPED, "c")], seconds=12.34)
    assert report.counts() == {PASS: 1, FAIL: 1, SKIPPED: 1}
    data = report.to_dict()
    assert list(data) == ["demo", "lab", "passed", "seconds", "counts", "results"]
    assert (data["demo"], data["lab"], data["passed"], data["seconds"]) == ("ospf-dns", "lab1", False, 12.3)
    assert data["counts"] == {"pass": 1, "fail": 1, "skipped": 1}
    assert data["results"][1] == {
        "check": "check",
        "subject": "b",
        "status": "fail",
        "detail": "detail",
        "seconds": 1.23,
        "attempts": 2,
    }
