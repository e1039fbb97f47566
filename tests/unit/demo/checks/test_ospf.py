"""labctl.demo.checks.ospf: which neighbours each router must have, and the judge of birdc's table."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from labctl.compile.plan import LabPlan
from labctl.demo.checks.ospf import expected_neighbors
from labctl.demo.model import FAIL, PASS
from labctl.errors import LabctlError
from labctl.lab.links import effective_plan
from tests.unit.demo.checks.outputs import BIRD_DOWN, BIRD_HEADER, BIRD_NO_PROTOCOL, R1_FULL, R1_R2_GONE, R3_FULL
from tests.unit.demo.conftest import Judge, Probes

HEADER = BIRD_HEADER

THREE_ROUTERS_ON_A_LAN = """\
name: lan
nodes:
  a: {roles: [router]}
  b: {roles: [router]}
  c: {roles: [router]}
lans:
  core: [a, b, c]
"""


def neighbour(router_id: str, state: str, iface: str, ip: str) -> str:
    return f"{router_id:<12}\t  1\t{state:<10}\t 3.100\t{iface:<10} {ip}\n"


def test_expected_neighbours_are_the_other_routers_per_interface(ospf_dns: LabPlan) -> None:
    assert expected_neighbors(ospf_dns, ospf_dns.node("r1")) == {"r2": {"10.0.0.2"}, "r3": {"10.0.0.3"}}
    assert expected_neighbors(ospf_dns, ospf_dns.node("r2")) == {"r1": {"10.0.0.1"}, "r3": {"10.0.0.3"}}


def test_a_link_taken_down_is_no_longer_expected(ospf_dns: LabPlan) -> None:
    cut = effective_plan(ospf_dns, [["r1", "r2"], ["r2", "r1"]])
    assert expected_neighbors(cut, cut.node("r1")) == {"r3": {"10.0.0.3"}}


def test_one_probe_per_router(probes: Probes) -> None:
    found = probes("ospf_neighbors")
    assert [p.node for p in found] == ["r1", "r2", "r3"]
    assert found[0].command == "birdc show ospf neighbors lab_ospf"


def test_full_adjacencies_on_every_interface_pass(probes: Probes, judge: Judge) -> None:
    (probe,) = probes("ospf_neighbors", routers="r1")
    verdict = judge(probe, R1_FULL)
    assert (verdict.status, verdict.detail) == (PASS, "2 adjacencies on r2, r3")


def test_a_neighbour_still_forming_fails_naming_it(probes: Probes, judge: Judge) -> None:
    (probe,) = probes("ospf_neighbors", routers="r1")
    output = HEADER + neighbour("10.0.0.2", "Full/PtP", "r2", "10.255.0.2")
    output += neighbour("10.0.0.3", "ExStart/PtP", "r3", "10.255.0.9")
    verdict = judge(probe, output)
    assert (verdict.status, verdict.detail) == (FAIL, "no Full adjacency with r3: 10.0.0.3")


def test_no_neighbours_at_all_fails_naming_every_one(probes: Probes, judge: Judge) -> None:
    (probe,) = probes("ospf_neighbors", routers="r2")
    verdict = judge(probe, HEADER)
    assert (verdict.status, verdict.detail) == (FAIL, "no Full adjacency with r1: 10.0.0.1; r3: 10.0.0.3")


def test_the_right_router_on_the_wrong_interface_fails(probes: Probes, judge: Judge) -> None:
    (probe,) = probes("ospf_neighbors", routers="r1")
    output = HEADER + neighbour("10.0.0.2", "Full/PtP", "r3", "10.255.0.9")
    output += neighbour("10.0.0.3", "Full/PtP", "r2", "10.255.0.2")
    verdict = judge(probe, output)
    assert verdict.status == FAIL
    assert "no Full adjacency with r2: 10.0.0.2; r3: 10.0.0.3" in verdict.detail


def test_an_adjacency_over_a_link_taken_down_fails(ospf_dns: LabPlan, probes: Probes, judge: Judge) -> None:
    cut = effective_plan(ospf_dns, [["r1", "r2"], ["r2", "r1"]])
    (probe,) = probes("ospf_neighbors", cut, routers="r1")
    verdict = judge(probe, R1_FULL)
    assert (verdict.status, verdict.detail) == (FAIL, "unexpected adjacency with r2: 10.0.0.2")
    assert judge(probe, HEADER + neighbour("10.0.0.3", "Full/PtP", "r3", "10.255.0.9")).status == PASS


FOUR_ROUTERS_ON_A_LAN = THREE_ROUTERS_ON_A_LAN.replace(
    "  c: {roles: [router]}\n", "  c: {roles: [router]}\n  d: {roles: [router]}\n"
).replace("[a, b, c]", "[a, b, c, d]")


def test_two_way_between_lan_drothers_counts(plan: Callable[[str], LabPlan], probes: Probes, judge: Judge) -> None:
    """a sees the DR and the BDR as Full neighbours, so a is a DROther: 2-Way with DROther d is normal."""
    lab = plan(FOUR_ROUTERS_ON_A_LAN)
    b, c, d = (lab.node(n).router_id for n in "bcd")
    (probe,) = probes("ospf_neighbors", lab, routers="a")
    dr_bdr = HEADER + neighbour(b, "Full/DR", "core", "10.10.0.2") + neighbour(c, "Full/BDR", "core", "10.10.0.3")
    assert judge(probe, dr_bdr + neighbour(d, "2-Way/Other", "core", "10.10.0.4")).status == PASS
    assert judge(probe, dr_bdr + neighbour(d, "2-Way/DROther", "core", "10.10.0.4")).status == PASS
    assert judge(probe, dr_bdr + neighbour(d, "Full/Other", "core", "10.10.0.4")).status == PASS
    assert judge(probe, dr_bdr).status == FAIL


def test_two_way_fails_when_this_router_is_the_dr_or_bdr(
    plan: Callable[[str], LabPlan], probes: Probes, judge: Judge
) -> None:
    """Seeing only the DR (no BDR among the neighbours): this router is the BDR and must be Full with all."""
    lab = plan(THREE_ROUTERS_ON_A_LAN)
    b, c = lab.node("b").router_id, lab.node("c").router_id
    (probe,) = probes("ospf_neighbors", lab, routers="a")
    output = HEADER + neighbour(b, "Full/DR", "core", "10.10.0.2") + neighbour(c, "2-Way/Other", "core", "10.10.0.3")
    verdict = judge(probe, output)
    assert (verdict.status, verdict.detail) == (FAIL, f"no Full adjacency with core: {c}")


def test_two_way_on_a_point_to_point_link_fails(probes: Probes, judge: Judge) -> None:
    (probe,) = probes("ospf_neighbors", routers="r1")
    output = HEADER + neighbour("10.0.0.2", "Full/PtP", "r2", "10.255.0.2")
    output += neighbour("10.0.0.3", "2-Way/PtP", "r3", "10.255.0.9")
    verdict = judge(probe, output)
    assert (verdict.status, verdict.detail) == (FAIL, "no Full adjacency with r3: 10.0.0.3")
    garbage = HEADER + neighbour("10.0.0.2", "Full/PtP", "r2", "10.255.0.2")
    garbage += neighbour("10.0.0.3", "2-Way/Other", "r3", "10.255.0.9")  # a DROther role on a ptp link
    assert judge(probe, garbage).status == FAIL


def isolated_r1(ospf_dns: LabPlan) -> LabPlan:
    return effective_plan(ospf_dns, [["r1", "r2"], ["r1", "r3"]])


def test_a_router_with_no_neighbour_expected_passes_only_when_bird_answered(
    ospf_dns: LabPlan, probes: Probes, judge: Judge
) -> None:
    (probe,) = probes("ospf_neighbors", isolated_r1(ospf_dns), routers="r1")
    verdict = judge(probe, HEADER)
    assert (verdict.status, verdict.detail) == (
        PASS,
        "BIRD answered; no adjacency, as expected (no other router on its links)",
    )
    assert judge(probe, "").status == FAIL
    assert judge(probe, "", exit_code=1, stderr=BIRD_DOWN).status == FAIL
    assert judge(probe, "BIRD 2.0.12 ready.\n").status == FAIL


@pytest.mark.parametrize(
    ("exit_code", "stdout", "stderr", "detail"),
    [
        (1, BIRD_DOWN, "", "birdc exited 1: " + BIRD_DOWN.strip()),
        (1, "", BIRD_DOWN, "birdc exited 1: " + BIRD_DOWN.strip()),
        (127, "", "sh: 1: birdc: not found\n", "birdc is not installed: sh: 1: birdc: not found"),
        (0, "", "", "not birdc's lab_ospf neighbour table: no output"),
        (0, "garbage\n", "", "not birdc's lab_ospf neighbour table: garbage"),
        (1, BIRD_NO_PROTOCOL, "", "birdc exited 1: " + BIRD_NO_PROTOCOL.splitlines()[1]),
        (
            0,
            BIRD_NO_PROTOCOL,
            "",
            "not birdc's lab_ospf neighbour table: " + " | ".join(BIRD_NO_PROTOCOL.split("\n")[:2]),
        ),
        (0, "BIRD 2.0.12 ready.\nother:\n", "", "not birdc's lab_ospf neighbour table: BIRD 2.0.12 ready. | other:"),
        (0, R1_FULL + "Unable to connect\n", "", "unexpected line from birdc: Unable to connect"),
        (
            0,
            R1_FULL + "10.0.0.9 x Full/PtP 3.5 r2 10.255.0.2\n",
            "",
            "unexpected line from birdc: 10.0.0.9 x Full/PtP 3.5 r2 10.255.0.2",
        ),
        (0, HEADER + "\x00\xff\n", "", "unexpected line from birdc: \x00\xff"),
        (2, R1_FULL, "", "birdc exited 2: " + R1_FULL.splitlines()[1]),
        (-1, "", "", "birdc exited -1: no output"),
    ],
)
def test_errors_garbage_and_unexpected_exits_fail(
    probes: Probes, judge: Judge, exit_code: int, stdout: str, stderr: str, detail: str
) -> None:
    (probe,) = probes("ospf_neighbors", routers="r1")
    verdict = judge(probe, stdout, exit_code=exit_code, stderr=stderr)
    assert (verdict.status, verdict.detail) == (FAIL, detail)


def test_a_routers_entry_must_be_a_router(probes: Probes) -> None:
    with pytest.raises(LabctlError, match=r"^check ospf_neighbors: 'ns' in 'routers' is not a router"):
        probes("ospf_neighbors", routers=["r1", "ns"])


def test_real_tables_from_the_lab(probes: Probes, judge: Judge) -> None:
    (r1,) = probes("ospf_neighbors", routers="r1")
    (r3,) = probes("ospf_neighbors", routers="r3")
    assert judge(r3, R3_FULL).detail == "2 adjacencies on r1, r2"
    gone = judge(r1, R1_R2_GONE)  # BIRD stopped on r2, 45 s later
    assert (gone.status, gone.detail) == (FAIL, "no Full adjacency with r2: 10.0.0.2")
