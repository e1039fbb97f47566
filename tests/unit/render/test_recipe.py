"""labctl.render.recipe: manifests load into Recipes; bad manifests are refused with the line."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from labctl.errors import LabctlError, RecipeError
from labctl.render.recipe import BASE_ROLE, FileTemplate, ReadyProbe, load_recipe, load_recipes, recipes_root
from tests.unit.render.golden import available_roles


def write(root: Path, role: str, manifest: str, templates: tuple[str, ...] = ()) -> Path:
    folder = root / role
    folder.mkdir(parents=True)
    (folder / "recipe.yaml").write_text(textwrap.dedent(manifest))
    for name in templates:
        (folder / name).write_text(f"{name}\n")
    return folder / "recipe.yaml"


@pytest.mark.parametrize("role", sorted(available_roles()))
def test_every_shipped_recipe_loads(role: str) -> None:
    recipe = load_recipe(role)
    assert recipe.role == role
    assert set(recipe.templates) == {f.template for f in recipe.files}
    for f in recipe.files:
        assert f.path.startswith(("/", "{{ paths.")), f"{role}: {f.path}"  # absolute, or a declared guest path
        assert len(f.mode) == 4 and f.mode.startswith("0"), f"{role}: mode {f.mode}"
        assert f.owner.count(":") == 1


def test_a_manifest_becomes_a_recipe(tmp_path: Path) -> None:
    write(
        tmp_path,
        "dns",
        """\
        description: a test
        after: [router]
        files:
          - {path: /etc/a, template: a.j2}
          - {path: "/etc/{{ item.name }}", template: b.j2, mode: "0600", owner: "bind:bind", foreach: interfaces}
        commands: [one, two]
        ready: {command: probe, timeout: 5, interval: 0.5}
        skip: {unless_command: named, message: bind9 is missing, hint: install it}
        """,
        ("a.j2", "b.j2"),
    )
    write(tmp_path, "router", "description: r\n")
    recipe = load_recipe("dns", tmp_path)
    assert recipe.description == "a test"
    assert recipe.after == ("router",)
    assert recipe.files == (
        FileTemplate("/etc/a", "a.j2"),
        FileTemplate("/etc/{{ item.name }}", "b.j2", "0600", "bind:bind", "interfaces"),
    )
    assert recipe.commands == ("one", "two")
    assert recipe.ready == ReadyProbe("probe", 5, 0.5)
    assert recipe.skip_when == 'command -v named >/dev/null 2>&1 && exit 1; echo "bind9 is missing: install it"'
    assert recipe.templates == {"a.j2": "a.j2\n", "b.j2": "b.j2\n"}


def test_a_manifest_without_steps_is_a_recipe_that_does_nothing(tmp_path: Path) -> None:
    write(tmp_path, "host", "description: plain\n")
    recipe = load_recipe("host", tmp_path)
    assert (recipe.files, recipe.commands, recipe.ready, recipe.after) == ((), (), None, ())


@pytest.mark.parametrize(
    ("manifest", "expected"),
    [
        ("description: x\nfile: []\n", "recipe.yaml:2: unknown key in recipe 'file' (did you mean 'files'?)"),
        (
            "files:\n  - {path: /a, template: a.j2}\n  - {path: /b, templat: a.j2}\n",
            "recipe.yaml:3: each recipe file is a mapping with 'path' and 'template'",
        ),
        (
            "files:\n  - {path: /a, template: a.j2, mod: '0600'}\n",
            "recipe.yaml:2: unknown key in recipe file 'mod' (did you mean 'mode'?)",
        ),
        ("files:\n  - /etc/a\n", "recipe.yaml:2: each recipe file is a mapping with 'path' and 'template'"),
        (
            "commands: [x]\nready:\n  command: x\n  timeout: 3\n  intervall: 1\n",
            "recipe.yaml:2: unknown key in ready probe 'intervall' (did you mean 'interval'?)",
        ),
        ("ready: {timeout: 3}\n", "recipe.yaml:1: the ready probe is a mapping with a 'command'"),
    ],
)
def test_bad_manifests_are_refused_with_their_line(tmp_path: Path, manifest: str, expected: str) -> None:
    path = write(tmp_path, "router", manifest, ("a.j2",))
    with pytest.raises(RecipeError) as caught:
        load_recipe("router", tmp_path)
    assert caught.value.lines() == [f"{path.parent}/{expected}"]


def test_a_missing_template_names_the_recipe_and_file(tmp_path: Path) -> None:
    write(tmp_path, "router", "files: [{path: /etc/bird/bird.conf, template: bird.conf.j2}]\n")
    with pytest.raises(RecipeError, match=r"router/recipe\.yaml:1: recipe router: template bird\.conf\.j2 is missing"):
        load_recipe("router", tmp_path)


def test_an_unknown_role_suggests_a_recipe(tmp_path: Path) -> None:
    write(tmp_path, "router", "description: r\n")
    with pytest.raises(LabctlError, match=r"no recipe for role 'ruoter' .*\(did you mean 'router'\?\)"):
        load_recipe("ruoter", tmp_path)


def test_load_recipes_adds_base_and_checks_after(tmp_path: Path) -> None:
    write(tmp_path, BASE_ROLE, "description: b\n")
    write(tmp_path, "router", "description: r\n")
    assert sorted(load_recipes({"router"}, tmp_path)) == [BASE_ROLE, "router"]
    path = write(tmp_path, "dns", "after: [routr]\n")
    with pytest.raises(RecipeError) as caught:  # by the catalogue, whichever roles are loaded
        load_recipes({"router"}, tmp_path)
    assert caught.value.lines() == [f"{path}:1: unknown role 'routr' in 'after' (did you mean 'router'?)"]


def test_recipes_root_follows_labctl_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LABCTL_HOME", str(tmp_path))
    assert recipes_root() == tmp_path / "vm-recipes"
