"""labctl.demo.model: a Report passes only when it has results and every one passed; its verdict
tells a failure from an incomplete proof (nothing failed, something skipped)."""

from __future__ import annotations

import pytest

from labctl.demo.model import FAIL, INCOMPLETE, PASS, SKIPPED, Report, Result


def result(status: str, subject: str = "s") -> Result:
    return Result("check", subject, status, "detail", 1.234, 2)


def report(*statuses: str) -> Report:
    return Report("d", "l", [result(s) for s in statuses])


def test_an_empty_report_does_not_pass_and_is_a_failure() -> None:
    assert not Report("d", "l").passed
    assert Report("d", "l").verdict == FAIL


def test_a_skipped_check_is_not_a_pass() -> None:
    assert report(PASS).passed
    assert not report(PASS, SKIPPED).passed
    assert not report(SKIPPED).passed


@pytest.mark.parametrize(
    ("statuses", "verdict"),
    [
        ((PASS,), PASS),
        ((PASS, PASS), PASS),
        ((PASS, SKIPPED), INCOMPLETE),
        ((SKIPPED,), INCOMPLETE),
        ((PASS, FAIL), FAIL),
        ((PASS, FAIL, SKIPPED), FAIL),
        ((FAIL,), FAIL),
        ((PASS, "garbage"), FAIL),
        ((), FAIL),
    ],
)
def test_verdict(statuses: tuple[str, ...], verdict: str) -> None:
    assert report(*statuses).verdict == verdict


def test_counts_and_json_shape() -> None:
    rep = Report("ospf-dns", "lab1", [result(PASS, "a"), result(FAIL, "b"), result(SKIPPED, "c")], seconds=12.34)
    assert rep.counts() == {PASS: 1, FAIL: 1, SKIPPED: 1}
    data = rep.to_dict()
    assert list(data) == ["demo", "lab", "verdict", "passed", "seconds", "counts", "results"]
    assert (data["demo"], data["lab"], data["verdict"], data["passed"], data["seconds"]) == (
        "ospf-dns",
        "lab1",
        "fail",
        False,
        12.3,
    )
    assert data["counts"] == {"pass": 1, "fail": 1, "skipped": 1}
    assert data["results"][1] == {
        "check": "check",
        "subject": "b",
        "status": "fail",
        "detail": "detail",
        "seconds": 1.23,
        "attempts": 2,
        "evidence": [],
        "evidence_missing": [],
    }
    assert report(PASS, SKIPPED).to_dict()["verdict"] == "incomplete"
    assert report(PASS).to_dict()["verdict"] == "pass"
