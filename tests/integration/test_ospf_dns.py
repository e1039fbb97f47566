"""OSPF and DNS on the ospf-dns ring: the demo passes after `up`, again after a ring link is
cut (so routing converged, not luck), and a demo expecting a wrong answer fails clearly."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.integration.lab import labctl, running_lab


@pytest.fixture(scope="module")
def ring() -> Iterator[dict[str, Any]]:
    with running_lab("ospf-dns", "--junit", "/tmp/labctl-ospf-dns.junit.xml") as (plan, up):
        assert up.returncode == 0, f"up + demo failed:\n{up.stdout}\n{up.stderr}"
        yield plan


def _demo(*extra: str) -> tuple[int, dict[str, Any]]:
    result = labctl("demo", "run", "ospf-dns", "--json", *extra, check=False)
    return result.returncode, json.loads(result.stdout)


def test_up_ran_the_demo_green(ring: dict[str, Any]) -> None:
    junit = Path("/tmp/labctl-ospf-dns.junit.xml").read_text()
    assert "<testsuite" in junit and 'failures="0"' in junit


def test_demo_passes_again_after_a_ring_link_goes_down(ring: dict[str, Any]) -> None:
    labctl("link", "down", "r1", "r2")
    try:
        route = labctl("exec", "r1", "--", "ip", "route", "get", "10.0.0.2").stdout
        code, report = _demo()
        assert code == 0, report
        names = {r["subject"] for r in report["results"] if r["check"] == "ospf_neighbors"}
        assert names == {"r1", "r2", "r3"}
        # the path from r1 to r2 now goes round through r3
        route = labctl("exec", "r1", "--", "ip", "route", "get", "10.0.0.2").stdout
        assert "dev r3" in route, route
    finally:
        labctl("link", "up", "r1", "r2")


def test_netem_delay_is_applied(ring: dict[str, Any]) -> None:
    labctl("link", "set", "r2", "r3", "--delay", "200ms")
    try:
        out = labctl("exec", "r2", "--", "ping", "-c3", "-i0.3", "-q", "r3-r2").stdout
        avg = float(out.split("=")[-1].split("/")[1])
        assert avg >= 350, out  # 200 ms each way
    finally:
        labctl("link", "set", "r2", "r3", "--clear")


def test_wrong_expectation_fails_with_a_reason(ring: dict[str, Any], tmp_path: Path) -> None:
    demo = tmp_path / "wrong.yaml"
    demo.write_text("name: wrong\nchecks:\n  - dns: {from: h1, name: h2, expect: 10.9.9.9, timeout: 4}\n")
    result = labctl("demo", "run", str(demo), "--lab", "ospf-dns", "--json", check=False)
    assert result.returncode == 1
    report = json.loads(result.stdout)
    assert report["passed"] is False
    assert "expected 10.9.9.9" in report["results"][0]["detail"]


def _run(tmp_path: Path, name: str, check: str) -> tuple[int, dict[str, Any]]:
    demo = tmp_path / f"{name}.yaml"
    demo.write_text(f"name: {name}\nchecks:\n  - {check}\n")
    result = labctl("demo", "run", str(demo), "--lab", "ospf-dns", "--json", check=False)
    return result.returncode, json.loads(result.stdout)


def test_expect_none_fails_when_no_server_answers(ring: dict[str, Any], tmp_path: Path) -> None:
    """Negative control: with named stopped, silence must not pass for "no such name"."""
    check = "dns: {from: h2, name: www.example.com, expect: none, timeout: 4}"
    labctl("exec", "ns", "--", "systemctl", "stop", "named")
    try:
        code, report = _run(tmp_path, "none", check)
        assert (code, report["verdict"]) == (1, "fail"), report
        assert "no DNS server answered (exit 9)" in report["results"][0]["detail"], report
    finally:
        labctl("exec", "ns", "--", "systemctl", "start", "named")
    code, report = _run(tmp_path, "none", check.replace("timeout: 4", "timeout: 30"))
    assert (code, report["verdict"]) == (0, "pass"), report


def test_ping_by_name_fails_when_names_do_not_resolve(ring: dict[str, Any], tmp_path: Path) -> None:
    """Negative control: with named stopped the nodes cannot resolve each other, so ping by name must
    fail and say why, then pass again once named is back."""
    check = "ping_by_name: {from: h2, to: [h1], timeout: 4}"
    labctl("exec", "ns", "--", "systemctl", "stop", "named")
    try:
        code, report = _run(tmp_path, "ping", check)
        assert (code, report["verdict"]) == (1, "fail"), report
        assert "h1 (unresolved)" in report["results"][0]["detail"], report
    finally:
        labctl("exec", "ns", "--", "systemctl", "start", "named")
    code, report = _run(tmp_path, "ping", check.replace("timeout: 4", "timeout: 60"))
    assert (code, report["verdict"]) == (0, "pass"), report


def test_ospf_fails_when_bird_is_stopped(ring: dict[str, Any], tmp_path: Path) -> None:
    """Negative control: a router whose BIRD is down fails with birdc's error, not "0 adjacencies"."""
    labctl("exec", "r2", "--", "systemctl", "stop", "bird")
    try:
        code, report = _run(tmp_path, "ospf", "ospf_neighbors: {routers: r2, timeout: 4}")
        assert (code, report["verdict"]) == (1, "fail"), report
        assert report["results"][0]["detail"].startswith("birdc exited 1: Unable to connect"), report
    finally:
        labctl("exec", "r2", "--", "systemctl", "start", "bird")
    code, report = _run(tmp_path, "ospf", "ospf_neighbors: {timeout: 120}")  # converged again
    assert (code, report["verdict"]) == (0, "pass"), report
