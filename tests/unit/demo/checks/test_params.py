"""labctl.demo.checks: the registry of check types and Params, which refuses unknown parameters."""

from __future__ import annotations

import pytest

from labctl.compile.plan import LabPlan
from labctl.demo.checks import COMMON, Params, check_types
from labctl.errors import LabctlError
from tests.unit.demo.conftest import Probes


def test_the_basic_check_types_are_registered() -> None:
    types = check_types()
    assert {"ping_by_name", "dns", "ospf_neighbors"} <= set(types)
    assert list(types) == sorted(types)


def test_unknown_parameters_are_refused_with_a_hint(probes: Probes) -> None:
    with pytest.raises(LabctlError, match=r"^check ping_by_name: unknown parameter 'form' \(did you mean 'from'\?\)$"):
        probes("ping_by_name", form="h1")
    with pytest.raises(
        LabctlError, match=r"^check ospf_neighbors: unknown parameter 'router' \(did you mean 'routers'"
    ):
        probes("ospf_neighbors", router="r1")
    with pytest.raises(LabctlError, match=r"check dns: unknown parameter 'expected' \(did you mean 'expect'\?\)"):
        probes("dns", name="h1", expected="plan")


def test_with_no_close_match_the_allowed_names_are_listed() -> None:
    with pytest.raises(LabctlError) as caught:
        Params("x", {"zzz": 1}, ("alpha",))
    assert str(caught.value) == "check x: unknown parameter 'zzz' (expected one of: alpha, interval, timeout)"


def test_timeout_and_interval_are_accepted_everywhere(probes: Probes) -> None:
    assert set(COMMON) == {"timeout", "interval"}
    for check in ("ping_by_name", "ospf_neighbors"):
        found = probes(check, timeout=7, interval=0.5)
        assert {(p.timeout, p.interval) for p in found} == {(7.0, 0.5)}


def test_nodes_accepts_a_name_or_a_list_and_checks_them(ospf_dns: LabPlan) -> None:
    params = Params("c", {"one": "h1", "many": ["h1", "r2"]}, ("one", "many", "none"))
    assert params.nodes(ospf_dns, "one", []) == ["h1"]
    assert params.nodes(ospf_dns, "many", []) == ["h1", "r2"]
    assert params.nodes(ospf_dns, "none", ["ns"]) == ["ns"]
    assert params.get("missing", 3) == 3
    with pytest.raises(LabctlError, match=r"check c: unknown node in 'x' 'rr1' \(did you mean 'r1'\?\)"):
        Params("c", {"x": ["rr1"]}, ("x",)).nodes(ospf_dns, "x", [])
