"""The freeswitch recipe rendered for real labs: voip-demo's pbx, and campus (other domain, other
addressing, an extension with a leading zero)."""

from __future__ import annotations

import shlex
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from labctl.compile import compile_topology
from labctl.compile.plan import LabPlan, NodePlan
from labctl.render.recipe import load_recipes
from labctl.render.render import RenderedFile, RoleStep, render_node
from labctl.roles import catalogue
from labctl.topology.schema import load_topology

REPO = Path(__file__).resolve().parents[3]
RECIPE = REPO / "vm-recipes" / "freeswitch"
LABS = {
    "voip-demo": REPO / "topologies" / "voip-demo.yaml",
    "campus": REPO / "tests" / "golden" / "inputs" / "campus.yaml",
}
SECRETS: Mapping[str, str] = {name: f"test-secret-{name}" for name in catalogue().secrets()}
CONF = "/etc/freeswitch/"


@dataclass(frozen=True)
class Rendered:
    plan: LabPlan
    node: NodePlan
    step: RoleStep

    @property
    def files(self) -> dict[str, RenderedFile]:
        return {f.path: f for f in self.step.files}

    def text(self, path: str) -> str:
        return self.files[path].content

    def unit_args(self, unit: str) -> list[str]:
        """The ExecStart command of a systemd unit the recipe writes, split like systemd would."""
        lines = self.text(f"/etc/systemd/system/{unit}").splitlines()
        return shlex.split(next(line for line in lines if line.startswith("ExecStart=")).removeprefix("ExecStart="))

    def option(self, unit: str, name: str) -> str:
        args = self.unit_args(unit)
        return args[args.index(name) + 1]


@cache
def rendered(lab: str) -> Rendered:
    plan = compile_topology(load_topology(LABS[lab]))
    node = next(n for n in plan.nodes if n.has("freeswitch"))
    steps = render_node(plan, node, load_recipes({"freeswitch"}), SECRETS)
    return Rendered(plan, node, steps["freeswitch"])
