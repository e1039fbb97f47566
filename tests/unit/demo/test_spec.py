"""labctl.demo.spec: demos/<name>.yaml into a DemoSpec; bad demos are refused at their line."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from labctl.compile import compile_topology
from labctl.demo.checks import check_types, probes_for
from labctl.demo.spec import CheckSpec, load_demo
from labctl.errors import LabctlError, TopologyError
from labctl.topology.schema import load_topology
from tests.unit.demo.conftest import REPO

DEMOS = sorted((REPO / "demos").glob("*.yaml"))


def write(tmp_path: Path, text: str) -> str:
    path = tmp_path / "demo.yaml"
    path.write_text(textwrap.dedent(text))
    return str(path)


def refusal(tmp_path: Path, text: str) -> list[str]:
    with pytest.raises(TopologyError) as caught:
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
