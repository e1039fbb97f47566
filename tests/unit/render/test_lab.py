"""labctl.render.lab: a whole lab rendered at once, in wave order, refused as a whole on any problem."""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import pytest

import labctl.render.lab as lab_module
from labctl.errors import LabctlError, RecipeError
from labctl.render.lab import RenderedLab, render_lab, render_plan
from labctl.render.recipe import BASE_ROLE, load_recipes
from labctl.render.render import RenderedFile, RoleStep, render_node
from tests.unit.render.golden import REPO, SECRETS, plan_of, recipes_for

VOIP = REPO / "topologies" / "voip-demo.yaml"


def test_every_node_of_voip_demo_is_rendered_in_wave_order() -> None:
    plan = plan_of(VOIP)
    lab = render_plan(plan, SECRETS)
    assert lab.lab == plan.lab
    assert list(lab.nodes) == [n.name for n in plan.nodes]
    assert lab.waves[0] == (BASE_ROLE,)
    recipes = recipes_for(plan)
    for node in plan.nodes:
        steps = lab.nodes[node.name]
        assert {s.role: s for s in steps} == render_node(plan, node, recipes, SECRETS)
        waves = [lab.wave_of(s.role) for s in steps]
        assert waves == sorted(waves), node.name
        assert steps[0].role == BASE_ROLE


def test_wave_steps_run_every_step_once_wave_by_wave() -> None:
    lab = render_plan(plan_of(VOIP), SECRETS)
    pushed = [(i, node, step.role) for i, wave in enumerate(lab.wave_steps()) for node, step in wave]
    assert sorted((node, role) for _, node, role in pushed) == sorted(
        (node, s.role) for node, steps in lab.nodes.items() for s in steps
    )
    assert all(role in lab.waves[i] for i, _, role in pushed)


def test_one_broken_template_fails_the_whole_lab(tmp_path: Path) -> None:
    plan = plan_of(REPO / "topologies" / "ospf-dns.yaml")
    root = tmp_path / "vm-recipes"
    shutil.copytree(REPO / "vm-recipes", root)
    (root / "dns" / "zone.db.j2").write_text("ok\n{{ plan.no_such_thing }}\n")
    with pytest.raises(RecipeError, match=rf"^{root}/dns/zone\.db\.j2:2: node ns: .*no_such_thing"):
        render_lab(plan, load_recipes({"router", "dns", "host"}, root), SECRETS)


def one_file_lab(monkeypatch: pytest.MonkeyPatch, *steps: RoleStep) -> None:
    plan = plan_of(REPO / "topologies" / "line.yaml")
    monkeypatch.setattr(lab_module, "render_node", lambda *_a: {s.role: s for s in steps})
    render_lab(plan, recipes_for(plan), SECRETS)


def step(role: str, *files: RenderedFile) -> RoleStep:
    return RoleStep(role=role, files=files, commands=(), ready=None, skip_when=None)


def test_two_roles_writing_one_path_differently_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    a = RenderedFile("/etc/x", "a\n", "0644", "root:root")
    one_file_lab(monkeypatch, step(BASE_ROLE, a), step("host", a))  # the same file twice is one file
    with pytest.raises(LabctlError, match="roles base and host both write /etc/x, with different contents"):
        one_file_lab(monkeypatch, step(BASE_ROLE, a), step("host", dataclasses.replace(a, content="b\n")))


def test_a_file_where_another_file_needs_a_folder_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(LabctlError, match="/etc/x is written as a file, and other files are written inside it"):
        one_file_lab(
            monkeypatch,
            step(BASE_ROLE, RenderedFile("/etc/x", "", "0644", "root:root")),
            step("host", RenderedFile("/etc/x/y", "", "0644", "root:root")),
        )


def test_rendered_lab_is_plain_data() -> None:
    lab = RenderedLab(lab="l", waves=((BASE_ROLE,),), nodes={})
    assert list(lab.wave_steps()) == [[]]
