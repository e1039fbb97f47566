"""labctl.demo.spec: demos/<name>.yaml into a DemoSpec; bad demos are refused at their line."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from labctl.compile import compile_topology
from labctl.compile.plan import LabPlan
from labctl.demo.checks import check_types, probes_for
from labctl.demo.spec import CheckSpec, load_demo, validate_demo
from labctl.errors import DemoError, LabctlError
from labctl.topology.schema import load_topology
from tests.unit.demo.conftest import REPO

DEMOS = sorted((REPO / "demos").glob("*.yaml"))


def write(tmp_path: Path, text: str) -> str:
    path = tmp_path / "demo.yaml"
    path.write_text(textwrap.dedent(text))
    return str(path)


def refusal(tmp_path: Path, text: str) -> list[str]:
    with pytest.raises(DemoError) as caught:
        load_demo(write(tmp_path, text), check_types())
    return [line.removeprefix(str(tmp_path) + "/") for line in caught.value.lines()]


@pytest.mark.parametrize("path", DEMOS, ids=[p.stem for p in DEMOS])
def test_shipped_demos_load_and_expand_against_their_labs(path: Path) -> None:
    """Parameters are only checked when a check expands: do it here, not in front of a user."""
    demo = load_demo(path.stem, check_types())
    assert demo.name == path.stem and demo.checks and demo.source == path
    plan = compile_topology(load_topology(REPO / "topologies" / f"{path.stem}.yaml"))
    for check in demo.checks:
        assert probes_for(check.type, plan, check.params), f"{path.name}:{check.line} expands to no probes"


def test_a_demo_becomes_a_spec_with_lines(tmp_path: Path) -> None:
    demo = load_demo(
        write(
            tmp_path,
            """\
            name: small
            description: two checks
            checks:
              - ping_by_name: {timeout: 5}

              - ospf_neighbors:
            """,
        ),
        check_types(),
    )
    assert (demo.name, demo.description) == ("small", "two checks")
    assert demo.checks == (CheckSpec("ping_by_name", {"timeout": 5}, 4), CheckSpec("ospf_neighbors", {}, 6))


def test_the_name_defaults_to_the_file_name(tmp_path: Path) -> None:
    assert load_demo(write(tmp_path, "checks: []\n"), check_types()).name == "demo"


def test_an_unknown_check_type_is_refused_with_a_hint(tmp_path: Path) -> None:
    lines = refusal(tmp_path, "checks:\n  - ping_by_name: {}\n  - ping_by_nme: {}\n")
    assert lines == ["demo.yaml:3: unknown check type 'ping_by_nme' (did you mean 'ping_by_name'?)"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("- ping_by_name: {}\n", "demo.yaml:1: a demo is a mapping with a 'checks' list"),
        ("name: x\n", "demo.yaml:1: a demo is a mapping with a 'checks' list"),
        ("checks: {ping_by_name: {}}\n", "demo.yaml:1: a demo is a mapping with a 'checks' list"),
        (
            "name: x\ncheks: []\nchecks: []\n",
            "demo.yaml:2: unknown key in demo 'cheks' (did you mean 'checks'?)",
        ),
        ("checks:\n  - ping_by_name\n", "demo.yaml:2: each check is one mapping: `- <check type>: {parameters}`"),
        (
            "checks:\n  - {ping_by_name: {}, dns: {}}\n",
            "demo.yaml:2: each check is one mapping: `- <check type>: {parameters}`",
        ),
        ("checks:\n  - dns: [h1, h2]\n", "demo.yaml:2: parameters of dns must be a mapping"),
    ],
)
def test_bad_shapes_are_refused_at_their_line(tmp_path: Path, text: str, expected: str) -> None:
    assert refusal(tmp_path, text) == [expected]


def test_every_problem_is_reported_in_line_order(tmp_path: Path) -> None:
    lines = refusal(tmp_path, "checks:\n  - dsn: {}\n  - ping_by_name: 3\n  - ospf_neighbours: {}\n")
    assert [line.split(":")[1] for line in lines] == ["2", "3", "4"]
    assert "did you mean 'ospf_neighbors'" in lines[2]


def test_an_unknown_demo_name_suggests_one() -> None:
    with pytest.raises(LabctlError, match=r"no demo named 'ospf-dsn' .*\(did you mean 'ospf-dns'\?\)"):
        load_demo("ospf-dsn", check_types())


def plan_of(name: str) -> LabPlan:
    return compile_topology(load_topology(REPO / "topologies" / f"{name}.yaml"))


def invalid(tmp_path: Path, checks: str, lab: str = "ospf-dns") -> list[str]:
    demo = load_demo(write(tmp_path, "checks:\n" + checks), check_types())
    with pytest.raises(DemoError) as caught:
        validate_demo(demo, plan_of(lab))
    return [str(p).removeprefix(str(tmp_path) + "/") for p in caught.value.problems]


@pytest.mark.parametrize(
    ("check", "message"),
    [
        ("ping_by_name: {timeout: abc}", "check ping_by_name: 'timeout' must be a number from 1 to 3600, not 'abc'"),
        (
            "ping_by_name: {timeout: 1e308}",
            "check ping_by_name: 'timeout' must be a number from 1 to 3600, not '1e308'",
        ),
        (
            "ping_by_name: {timeout: 1.0e+308}",
            "check ping_by_name: 'timeout' must be a number from 1 to 3600, not 1e+308",
        ),
        ("ping_by_name: {timeout: .nan}", "check ping_by_name: 'timeout' must be a number from 1 to 3600, not nan"),
        ("ping_by_name: {interval: -1}", "check ping_by_name: 'interval' must be a number from 0.1 to 600, not -1"),
        ("ping_by_name: {interval: 0}", "check ping_by_name: 'interval' must be a number from 0.1 to 600, not 0"),
        ("ping_by_name: {from: 5}", "check ping_by_name: 'from' must be a node name or a list of node names, not 5"),
        (
            "ping_by_name: {to: {a: 1}}",
            "check ping_by_name: 'to' must be a node name or a list of node names, not {'a': 1}",
        ),
        ("ping_by_name: {from: h1, to: [h1]}", "check ping_by_name: every target is its own source: nothing to check"),
        ("ping_by_name: {from: []}", "check ping_by_name: 'from' is empty: nothing to check"),
        ("ospf_neighbors: {routers: []}", "check ospf_neighbors: 'routers' is empty: nothing to check"),
        ("ospf_neighbors: {routers: h1}", "check ospf_neighbors: 'h1' in 'routers' is not a router (it runs no BIRD)"),
        ("dns: {from: h1}", "check dns: needs 'name'"),
        ("dns: {name: 5}", "check dns: 'name' must be a DNS name, not 5"),
        ("dns: {name: 'a b'}", "check dns: 'name' must be a DNS name, not 'a b'"),
        (
            "dns: {name: h2, expect: banana}",
            "check dns: 'expect' must be an IPv4 address, 'plan' or 'none', not 'banana'",
        ),
        (
            "dns: {name: h2, expect: 10.0.0.256}",
            "check dns: 'expect' must be an IPv4 address, 'plan' or 'none', not '10.0.0.256'",
        ),
        ("dns: {name: h2, expect: 7}", "check dns: 'expect' must be a non-empty string, not 7"),
        (
            "dns: {name: h2, expect: none, fail_within: lots}",
            "check dns: 'fail_within' must be a number from 0.1 to 60, not 'lots'",
        ),
    ],
)
def test_wrong_parameters_are_one_line_at_the_check(tmp_path: Path, check: str, message: str) -> None:
    assert invalid(tmp_path, f"  - ping_by_name: {{}}\n  - {check}\n") == [f"demo.yaml:3: {message}"]


def test_every_bad_check_is_reported_and_good_ones_expand(tmp_path: Path) -> None:
    lines = invalid(tmp_path, "  - dns: {name: h2}\n  - ping_by_name: {from: 5}\n  - ospf_neighbors: {timeout: x}\n")
    assert [line.split(":")[1] for line in lines] == ["3", "4"]
    demo = load_demo(write(tmp_path, "checks:\n  - dns: {name: h2}\n  - ospf_neighbors:\n"), check_types())
    assert [[p.node for p in probes] for probes in validate_demo(demo, plan_of("ospf-dns"))] == [
        ["r1"],
        ["r1", "r2", "r3"],
    ]


def test_a_demo_without_checks_is_refused(tmp_path: Path) -> None:
    demo = load_demo(write(tmp_path, "checks: []\n"), check_types())
    with pytest.raises(DemoError) as caught:
        validate_demo(demo, plan_of("ospf-dns"))
    assert caught.value.lines() == [f"{tmp_path}/demo.yaml:1: the demo has no checks: it would prove nothing"]


def test_a_check_with_nothing_to_check_in_the_lab_is_refused(tmp_path: Path) -> None:
    no_phones = invalid(tmp_path, "  - sip_register: {}\n")
    assert no_phones == ["demo.yaml:2: check sip_register: the lab has no phones"]


def test_a_factory_that_breaks_on_a_value_is_one_line_not_a_traceback(tmp_path: Path) -> None:
    lines = invalid(tmp_path, "  - sip_invite: {from: alice, to: bob, media_seconds: lots}\n", lab="voip-demo")
    assert len(lines) == 1 and lines[0].startswith("demo.yaml:2: check sip_invite: ")
    assert "lots" in lines[0]


@pytest.mark.parametrize(
    ("line", "shown"),
    [
        ('name: "evil\\e[31mRED\\x01"', "'evil\\x1b[31mRED\\x01'"),  # garbage: ESC and a control character
        ("name: '[/red]'", "'[/red]'"),
        ("name: Big", "'Big'"),
        ("name: 1st", "'1st'"),
        ("name: 42", "'42'"),
        ("name: [a, b]", "'['a', 'b']'"),
        ("name: ''", "empty"),
        ("name:", "empty"),
        ("name: " + "a" * 65, "'" + "a" * 57 + "...'"),  # too long, and cut short in the message
    ],
)
def test_a_demo_name_must_be_a_label(tmp_path: Path, line: str, shown: str) -> None:
    lines = refusal(tmp_path, f"{line}\nchecks:\n  - ping_by_name: {{}}\n")
    assert lines == [f"demo.yaml:1: demo name {shown} must be a lowercase letter, then up to 63 letters, digits or '-'"]


@pytest.mark.parametrize("name", ["d", "ospf-dns", "a" * 64, "x1-2"])
def test_a_label_is_a_good_demo_name(tmp_path: Path, name: str) -> None:
    assert load_demo(write(tmp_path, f"name: {name}\nchecks: []\n"), check_types()).name == name
