"""The VoIP platform: `labctl up voip-demo` ends green (FreeSWITCH checks SKIPPED with a reason
when its packages are absent), the same holds on a differently shaped topology, and the
negative checks are shown to catch real failures."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.integration.lab import ROOT, labctl, running_lab

SIPNET = str(ROOT / "tests" / "integration" / "data" / "sipnet.yaml")


@pytest.fixture(scope="module")
def voip() -> Iterator[dict[str, Any]]:
    with running_lab("voip-demo", "--junit", "/tmp/labctl-voip.junit.xml") as (plan, up):
        yield {"plan": plan, "up": up}


def test_voip_demo_is_green(voip: dict[str, Any]) -> None:
    up = voip["up"]
    assert up.returncode == 0, f"{up.stdout}\n{up.stderr}"
    assert "total time" in up.stdout


def test_freeswitch_checks_are_skipped_with_a_reason_or_pass(voip: dict[str, Any]) -> None:
    report = json.loads(labctl("demo", "run", "voip-demo", "--json", check=False).stdout)
    fs_phones = {
        n["name"] for n in voip["plan"]["nodes"] if n["phone"] and n["phone"]["registrar_kind"] == "freeswitch"
    }
    fs_results = [r for r in report["results"] if r["subject"].split()[0] in fs_phones]
    assert fs_results, "the demo has no checks for FreeSWITCH phones"
    for result in fs_results:
        assert result["status"] in ("pass", "skipped"), result
        if result["status"] == "skipped":
            assert "FreeSWITCH is not installed" in result["detail"]
    kamailio = [r for r in report["results"] if r["subject"].split()[0] not in fs_phones]
    assert kamailio and all(r["status"] == "pass" for r in kamailio), kamailio


@pytest.fixture(scope="module")
def sipnet() -> Iterator[dict[str, Any]]:
    with running_lab(SIPNET) as (plan, up):
        yield {"plan": plan, "up": up}


def test_other_topology_is_green(sipnet: dict[str, Any]) -> None:
    up = sipnet["up"]
    assert up.returncode == 0, f"{up.stdout}\n{up.stderr}"


@pytest.mark.parametrize(
    "check",
    [
        "sip_register_rejected: {from: ben, password: ben-pass-9, timeout: 5}",  # the right password
        "sip_invite_unknown: {from: ann, to: ben, timeout: 5}",  # a user that exists
        "sip_register: {phones: [ann], timeout: 5}",
    ],
)
def test_negative_checks_catch_real_failures(sipnet: dict[str, Any], tmp_path: Path, check: str) -> None:
    """Fed a situation where the expected refusal does not happen, each check must fail."""
    if check.startswith("sip_register:"):
        # break registration for real: the phone's password no longer matches LDAP
        labctl(
            "exec",
            "sipnet/ann",
            "--",
            "sh",
            "-c",
            "sed -i 's/^passwd=.*/passwd=not-the-password/' /var/lib/labctl-phone/linphonerc.template",
        )
    demo = tmp_path / "control.yaml"
    demo.write_text(f"name: control\nchecks:\n  - {check}\n")
    try:
        result = labctl("demo", "run", str(demo), "--lab", "sipnet", "--json", check=False)
        report = json.loads(result.stdout)
        assert result.returncode == 1 and report["results"][0]["status"] == "fail", report
    finally:
        if check.startswith("sip_register:"):
            labctl("reconfigure", "sipnet")
