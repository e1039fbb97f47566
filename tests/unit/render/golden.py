"""Shared by the render tests: which labs and roles are rendered, with which secrets, and how a
rendered role step is written out as reviewable text."""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from pathlib import Path

from labctl.compile import compile_topology
from labctl.compile.plan import LabPlan
from labctl.render.recipe import MANIFEST, Recipe, load_recipes, recipes_root
from labctl.render.render import RoleStep, render_node
from labctl.roles import catalogue
from labctl.topology.schema import load_topology

REPO = Path(__file__).resolve().parents[3]
RENDERED = REPO / "tests" / "golden" / "rendered"
SHIPPED = sorted((REPO / "topologies").glob("*.yaml"))
EXTRA = sorted((REPO / "tests" / "golden" / "inputs").glob("*.yaml"))
REGEN = ".venv/bin/pytest tests/unit/render/test_render.py --regen-golden"
SECRETS: Mapping[str, str] = {name: f"test-secret-{name}" for name in catalogue().secrets()}


def available_roles() -> set[str]:
    """Roles that have a recipe folder right now; others are simply not rendered."""
    return {p.parent.name for p in recipes_root().glob(f"*/{MANIFEST}")}


@cache
def plan_of(path: Path) -> LabPlan:
    return compile_topology(load_topology(path))


def recipes_for(plan: LabPlan) -> dict[str, Recipe]:
    roles = {role for node in plan.nodes for role in node.roles} & available_roles()
    return load_recipes(roles)


@cache
def rendered(path: Path) -> dict[str, dict[str, RoleStep]]:
    """node -> role -> step, for every node of the topology at `path`."""
    plan = plan_of(path)
    recipes = recipes_for(plan)
    return {node.name: render_node(plan, node, recipes, SECRETS) for node in plan.nodes}


def cases() -> list[tuple[str, str, str]]:
    """(topology, node, role) for every shipped topology, node and rendered role."""
    return [(path.stem, node, role) for path in SHIPPED for node, steps in rendered(path).items() for role in steps]


def golden_path(topology: str, node: str, role: str) -> Path:
    return RENDERED / topology / node / f"{role}.txt"


def _block(text: str) -> list[str]:
    if not text:
        return ["\\ empty"]
    lines = text.splitlines()
    return lines if text.endswith("\n") else [*lines, "\\ no newline at end of file"]


def describe(topology: str, node: str, step: RoleStep) -> str:
    """Every file (path, mode, owner, content), every command and the ready probe, as text."""
    out = [f"# {topology} / {node} / {step.role}, rendered by labctl.render; regenerate with {REGEN}"]
    if step.skip_when is not None:
        out += ["=== skip when", *_block(step.skip_when + "\n")]
    for f in step.files:
        out += [f"=== file {f.path} (mode {f.mode}, owner {f.owner})", *_block(f.content)]
    for command in step.commands:
        out += ["=== command", *_block(command + "\n")]
    if step.ready is not None:
        out += [f"=== ready (timeout {step.ready.timeout:g} s, every {step.ready.interval:g} s)"]
        out += _block(step.ready.command + "\n")
    return "\n".join(out) + "\n"
