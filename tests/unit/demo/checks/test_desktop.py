"""labctl.demo.checks.desktop: the desktop phone's judge fed passing, failing, empty and garbage
output (the passing one as the probe printed it on voip-desktop's alice), and its parameters."""

from __future__ import annotations

import pytest

from labctl.backends.base import ExecResult
from labctl.demo.checks.desktop import judge
from labctl.demo.model import FAIL, PASS
from labctl.errors import LabctlError
from tests.unit.demo.conftest import Probes, shipped_plan

SEEN = "--- windows\nLinphone\nCalls\n--- registration\nLinphoneRegistrationOk\n--- end\n"


def out(stdout: str, code: int = 0, stderr: str = "") -> ExecResult:
    return ExecResult(code, stdout, stderr)


def test_the_window_and_a_registered_account_pass() -> None:
    verdict = judge(out(SEEN))
    assert verdict.status == PASS and "registered" in verdict.detail


@pytest.mark.parametrize(
    ("stdout", "said"),
    [
        (SEEN.replace("Linphone\nCalls", "Calls"), "no window titled Linphone on the desktop (windows: Calls)"),
        (SEEN.replace("Linphone\n", "Linphone - old\n", 1), "no window titled Linphone"),
        (SEEN.replace("Ok", "Failed"), "its account is LinphoneRegistrationFailed"),
        (SEEN.replace("LinphoneRegistrationOk\n", ""), "its account is not registering"),
        ("--- windows\nCannot open display.\n--- registration\n--- end\n", "windows: Cannot open display."),
    ],
)
def test_a_missing_window_or_registration_fails(stdout: str, said: str) -> None:
    verdict = judge(out(stdout))
    assert verdict.status == FAIL and said in verdict.detail, verdict.detail


@pytest.mark.parametrize(
    "result",
    [out(""), out(SEEN.replace("--- end\n", "")), out("\x00\xff garbage\n--- end"), out(SEEN, 1, "agent gone")],
)
def test_empty_cut_short_garbage_or_a_failed_script_fails(result: ExecResult) -> None:
    verdict = judge(result)
    assert verdict.status == FAIL and "did not finish" in verdict.detail


def test_it_probes_the_desktop_phones_only(probes: Probes) -> None:
    desk = shipped_plan("voip-desktop")
    assert [p.node for p in probes("desktop_phone", desk)] == ["alice"]
    with pytest.raises(LabctlError, match="bob is not a desktop phone"):
        probes("desktop_phone", desk, phones=["bob"])
    with pytest.raises(LabctlError, match="the lab has no desktop phone"):
        probes("desktop_phone", shipped_plan("voip-demo"))
