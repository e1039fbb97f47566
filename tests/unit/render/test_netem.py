"""Impairments from the topology become a tc netem command in the base recipe, on both ends of a link."""

from __future__ import annotations

from pathlib import Path

from labctl.compile import compile_topology
from labctl.render.recipe import load_recipes
from labctl.render.render import render_node
from labctl.topology.schema import load_topology

TOPOLOGY = """
name: impaired
nodes: {a: {}, r: {roles: [router]}, b: {}}
links:
  - {endpoints: [a, r], delay: 30ms, jitter: 3ms, loss: 2%}
  - [r, b]
"""


def _tc_commands(tmp_path: Path, node: str) -> list[str]:
    path = tmp_path / "impaired.yaml"
    path.write_text(TOPOLOGY)
    plan = compile_topology(load_topology(path))
    recipes = load_recipes({"router", "host"})
    steps = render_node(plan, plan.node(node), recipes, {"ldap_admin": "x", "ldap_reader": "y", "root_password": "z"})
    return [c for c in steps["base"].commands if c.startswith("tc ")]


def test_both_ends_of_an_impaired_link_get_netem(tmp_path: Path) -> None:
    assert _tc_commands(tmp_path, "a") == ["tc qdisc replace dev r root netem delay 30ms 3ms loss 2%;"]
    assert _tc_commands(tmp_path, "r") == ["tc qdisc replace dev a root netem delay 30ms 3ms loss 2%;"]


def test_unimpaired_nodes_get_no_tc_command(tmp_path: Path) -> None:
    assert _tc_commands(tmp_path, "b") == []
