"""Render a whole lab at once: every node's role steps and the waves they run in.

Pure apart from reading the recipes: nothing is returned until every node rendered, so a wrong
template or recipe is reported (as `file:line`) before any VM exists.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from labctl.compile.plan import LabPlan
from labctl.errors import LabctlError
from labctl.render.recipe import Recipe, load_recipes
from labctl.render.render import RenderedFile, RoleStep, render_node, role_order


@dataclass(frozen=True)
class RenderedLab:
    """What `up` pushes: per node, its role steps in the order they run; and the waves of roles
    (each wave starts once every node finished the roles of the waves before it)."""

    lab: str
    waves: tuple[tuple[str, ...], ...]
    nodes: Mapping[str, tuple[RoleStep, ...]]

    def wave_of(self, role: str) -> int:
        return next(i for i, wave in enumerate(self.waves) if role in wave)

    def wave_steps(self) -> Iterator[list[tuple[str, RoleStep]]]:
        """For each wave, the (node, step) pairs it runs, nodes in plan order."""
        for wave in self.waves:
            yield [(node, step) for node, steps in self.nodes.items() for step in steps if step.role in wave]


def plan_roles(plan: LabPlan) -> set[str]:
    return {role for node in plan.nodes for role in node.roles}


def render_lab(plan: LabPlan, recipes: Mapping[str, Recipe], secrets: Mapping[str, str]) -> RenderedLab:
    """Every node of `plan` rendered; RecipeError/RenderError (file:line) on the first problem."""
    waves = tuple(tuple(wave) for wave in role_order(recipes, plan_roles(plan)))
    position = {role: i for i, wave in enumerate(waves) for role in wave}
    nodes: dict[str, tuple[RoleStep, ...]] = {}
    for node in plan.nodes:
        steps = render_node(plan, node, recipes, secrets)
        ordered = tuple(sorted(steps.values(), key=lambda step: (position[step.role], step.role)))
        _check_files(node.name, ordered)
        nodes[node.name] = ordered
    return RenderedLab(lab=plan.lab, waves=waves, nodes=nodes)


def render_plan(plan: LabPlan, secrets: Mapping[str, str], recipes_root: Path | None = None) -> RenderedLab:
    """Load the recipes the plan's roles need, then render the whole lab."""
    return render_lab(plan, load_recipes(plan_roles(plan), recipes_root), secrets)


def _check_files(node: str, steps: tuple[RoleStep, ...]) -> None:
    """One guest path holds one file: two different files at one path, or a file where another
    file needs a folder, could not both be pushed (nor kept under rendered/<node>/files/)."""
    seen: dict[str, tuple[str, RenderedFile]] = {}
    for step in steps:
        for f in step.files:
            earlier = seen.setdefault(f.path, (step.role, f))
            if earlier[1] != f:
                raise LabctlError(
                    f"node '{node}': roles {earlier[0]} and {step.role} both write {f.path}, with different contents"
                )
    folders = {str(parent) for path in seen for parent in Path(path).parents}
    clash = sorted(folders & set(seen))
    if clash:
        raise LabctlError(f"node '{node}': {clash[0]} is written as a file, and other files are written inside it")
