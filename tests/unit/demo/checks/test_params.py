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


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"timeout": "abc"}, "'timeout' must be a number from 1 to 3600, not 'abc'"),
        ({"timeout": 1e308}, "'timeout' must be a number from 1 to 3600, not 1e+308"),
        ({"timeout": float("nan")}, "'timeout' must be a number from 1 to 3600, not nan"),
        ({"timeout": float("inf")}, "'timeout' must be a number from 1 to 3600, not inf"),
        ({"timeout": True}, "'timeout' must be a number from 1 to 3600, not True"),
        ({"timeout": None}, "'timeout' must be a number from 1 to 3600, not None"),
        ({"timeout": [5]}, "'timeout' must be a number from 1 to 3600, not [5]"),
        ({"timeout": 0}, "'timeout' must be a number from 1 to 3600, not 0"),
        ({"interval": -1}, "'interval' must be a number from 0.1 to 600, not -1"),
        ({"interval": 0}, "'interval' must be a number from 0.1 to 600, not 0"),
        ({"interval": "2"}, "'interval' must be a number from 0.1 to 600, not '2'"),
    ],
)
def test_timing_refuses_what_is_not_a_sane_number(values: dict[str, object], message: str) -> None:
    with pytest.raises(LabctlError) as caught:
        Params("c", values, ()).timing(30, 2)
    assert str(caught.value) == f"check c: {message}"


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (5, "'x' must be a node name or a list of node names, not 5"),
        ({"a": 1}, "'x' must be a node name or a list of node names, not {'a': 1}"),
        (["h1", 2], "'x' must be a node name or a list of node names, not ['h1', 2]"),
        ([["h1"]], "'x' must be a node name or a list of node names, not [['h1']]"),
        (None, "'x' must be a node name or a list of node names, not None"),
        ([], "'x' is empty: nothing to check"),
        ("", "unknown node in 'x' '' (expected one of: h1, h2, ns, r1, r2, r3)"),
    ],
)
def test_nodes_refuses_what_is_not_node_names(ospf_dns: LabPlan, value: object, message: str) -> None:
    with pytest.raises(LabctlError) as caught:
        Params("c", {"x": value}, ("x",)).nodes(ospf_dns, "x", ["h1"])
    assert str(caught.value) == f"check c: {message}"


def test_node_is_exactly_one_node(ospf_dns: LabPlan) -> None:
    assert Params("c", {}, ("x",)).nodes(ospf_dns, "x", []) == []  # an empty default is no error
    assert Params("c", {"to": "h2"}, ("to",)).node(ospf_dns, "to") == "h2"
    assert Params("c", {}, ("to",)).node(ospf_dns, "to", "h1") == "h1"
    with pytest.raises(LabctlError, match=r"^check c: needs 'to'$"):
        Params("c", {}, ("to",)).node(ospf_dns, "to")
    with pytest.raises(LabctlError, match=r"^check c: 'to' must be one node name, not \['h1', 'h2'\]$"):
        Params("c", {"to": ["h1", "h2"]}, ("to",)).node(ospf_dns, "to")
    with pytest.raises(LabctlError, match=r"^check c: 'to' must be one node name, not 5$"):
        Params("c", {"to": 5}, ("to",)).node(ospf_dns, "to")
    with pytest.raises(LabctlError, match=r"unknown node in 'to' 'h9'"):
        Params("c", {"to": "h9"}, ("to",)).node(ospf_dns, "to")


def test_choice_and_string() -> None:
    params = Params("c", {"dial": "user", "bad": 3, "name": "h1", "empty": ""}, ("dial", "bad", "name", "empty"))
    assert params.choice("dial", "extension", ("user", "extension")) == "user"
    assert params.choice("other", "extension", ("user", "extension")) == "extension"
    with pytest.raises(LabctlError, match=r"^check c: 'bad' must be one of user, extension, not 3$"):
        params.choice("bad", "user", ("user", "extension"))
    assert params.string("name") == "h1"
    assert params.string("missing", "dflt") == "dflt"
    with pytest.raises(LabctlError, match=r"^check c: needs 'missing'$"):
        params.string("missing")
    with pytest.raises(LabctlError, match=r"^check c: 'empty' must be a non-empty string, not ''$"):
        params.string("empty")
    with pytest.raises(LabctlError, match=r"^check c: 'bad' must be a DNS name, not 3$"):
        params.string("bad", what="a DNS name")
    with pytest.raises(LabctlError, match=r"^check c: 'name' must be a digit, not 'h1'$"):
        params.string("name", pattern="[0-9]", what="a digit")


def test_number_takes_ints_and_floats_and_shows_bad_values_shortened() -> None:
    assert Params("c", {}, ()).timing(30, 2) == {"timeout": 30.0, "interval": 2.0}
    assert Params("c", {"timeout": 5, "interval": 0.5}, ()).timing(30, 2) == {"timeout": 5.0, "interval": 0.5}
    with pytest.raises(LabctlError) as caught:
        Params("c", {"timeout": "x" * 100}, ()).number("timeout", 1, 1, 2)
    assert str(caught.value) == "check c: 'timeout' must be a number from 1 to 2, not '" + "x" * 36 + "..."
