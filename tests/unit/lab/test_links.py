"""labctl.lab.links: `A B` and `NODE LAN` name attachments; effective_plan drops the ones taken down."""

from __future__ import annotations

from pathlib import Path

import pytest

from labctl.compile import compile_topology
from labctl.compile.plan import LabPlan
from labctl.errors import LabctlError
from labctl.lab.links import attachments, capture_point, effective_plan
from labctl.topology.schema import load_topology

REPO = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def ring() -> LabPlan:
    return compile_topology(load_topology(REPO / "topologies" / "ospf-dns.yaml"))


def test_a_link_names_both_ends(ring: LabPlan) -> None:
    assert attachments(ring, "r1", "r2") == [("r1", "r2"), ("r2", "r1")]
    assert attachments(ring, "r3", "r1") == [("r3", "r1"), ("r1", "r3")]


def test_node_and_lan_name_one_port(ring: LabPlan) -> None:
    assert attachments(ring, "h1", "lan1") == [("h1", "lan1")]
    assert attachments(ring, "r3", "lan2") == [("r3", "lan2")]


def test_an_unknown_node_is_refused_with_a_hint(ring: LabPlan) -> None:
    with pytest.raises(LabctlError, match=r"^lab 'ospf-dns' has no node 'rr1' \(did you mean 'r1'\?\)$"):
        attachments(ring, "rr1", "r2")


def test_nodes_without_a_link_are_refused(ring: LabPlan) -> None:
    with pytest.raises(LabctlError) as caught:
        attachments(ring, "h1", "h2")
    assert str(caught.value) == "there is no link between 'h1' and 'h2'"


def test_nodes_on_a_shared_lan_are_told_how_to_name_the_port(ring: LabPlan) -> None:
    with pytest.raises(LabctlError) as caught:
        attachments(ring, "r1", "h1")
    assert str(caught.value) == "there is no link between 'r1' and 'h1' (they share LAN 'lan1': say `r1 lan1`)"


def test_a_lan_the_node_is_not_on_is_refused_with_a_hint(ring: LabPlan) -> None:
    with pytest.raises(LabctlError) as caught:
        attachments(ring, "h1", "lan2")
    assert str(caught.value).startswith("'lan2' is neither a node linked to 'h1' nor a LAN it is on")
    with pytest.raises(LabctlError, match=r"\(did you mean 'lan1'\?\)$"):
        attachments(ring, "h1", "lan11")


def test_a_capture_listens_on_an_interface_a_link_s_near_end_or_a_lan_port(ring: LabPlan) -> None:
    assert capture_point(ring, "r1", "r2") == ("r1", "r2")  # the link's end on r1 (named for its peer)
    assert capture_point(ring, "r2", "r1") == ("r2", "r1")
    assert capture_point(ring, "h1", "lan1") == ("h1", "lan1")
    lo = ring.node("h1").interfaces[0].name
    assert capture_point(ring, "h1", lo) == ("h1", lo)


def test_a_capture_point_that_names_nothing_is_refused_with_what_there_is(ring: LabPlan) -> None:
    with pytest.raises(LabctlError) as caught:
        capture_point(ring, "h1", "lan11")
    assert str(caught.value) == (
        "'lan11' is none of h1's interfaces (lan1), a node linked to it, or a LAN it is on (did you mean 'lan1'?)"
    )
    with pytest.raises(LabctlError, match=r"^there is no link between 'h1' and 'h2'$"):
        capture_point(ring, "h1", "h2")
    with pytest.raises(LabctlError, match=r"^lab 'ospf-dns' has no node 'rr1'"):
        capture_point(ring, "rr1", "r2")


def test_effective_plan_removes_interfaces_taken_down(ring: LabPlan) -> None:
    cut = effective_plan(ring, [["r1", "r2"], ["r2", "r1"], ["h1", "lan1"]])
    assert [i.name for i in cut.node("r1").interfaces] == ["lan1", "r3"]
    assert [i.name for i in cut.node("r2").interfaces] == ["r3"]
    assert cut.node("h1").interfaces == ()
    assert cut.node("r3").interfaces == ring.node("r3").interfaces
    assert [i.name for i in ring.node("r1").interfaces] == ["lan1", "r2", "r3"]  # the original is untouched
    assert (cut.lab, cut.segments, cut.dns) == (ring.lab, ring.segments, ring.dns)


def test_effective_plan_without_cuts_is_the_plan(ring: LabPlan) -> None:
    assert effective_plan(ring, []) is ring
    assert effective_plan(ring, [["r1", "no-such-interface"]]) == ring
