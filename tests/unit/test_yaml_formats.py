"""The YAML files people write (topology, demo, role recipe, image recipe) say which labctl format
they were written for (`format:`, none meaning 1). Every format's fixture loads
(tests/fixtures/<kind>/v<N>), a newer or bad format is refused at the key's line by each loader, and
each loader runs its migrations."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from labctl import roles
from labctl.compile import compile_topology
from labctl.demo import spec as demo_spec
from labctl.demo.checks import check_types
from labctl.demo.spec import load_demo, validate_demo
from labctl.errors import DemoError, FileError, ImageRecipeError, RecipeError, TopologyError
from labctl.images import recipe as image_recipe
from labctl.images.recipe import load_image_recipe
from labctl.render.recipe import load_recipe, load_recipes
from labctl.roles import catalogue
from labctl.topology import schema
from labctl.topology.schema import load_topology

REPO = Path(__file__).resolve().parents[2]
FIXTURES = REPO / "tests" / "fixtures"


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty LABCTL_HOME: image recipes go in vm-recipes/images/, with no roles beside them."""
    (tmp_path / "home" / "vm-recipes" / "images").mkdir(parents=True)
    monkeypatch.setenv("LABCTL_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


def without_format(text: str) -> str:
    """The same file as one written before the `format:` key (same line numbers)."""
    assert "\nformat: 1\n" in text
    return text.replace("\nformat: 1\n", "\n# (no format key)\n")


# -- the fixtures of every format load -------------------------------------------------------------
def test_topology_v1_loads_compiles_and_reads_as_without_the_key() -> None:
    text = (FIXTURES / "topology" / "v1.yaml").read_text()
    topo = load_topology(Path("v1.yaml"), text)
    assert (topo.name, topo.description, topo.domain, topo.demo) == (
        "fixture",
        "every key of a format-1 topology",
        "fixture.lab",
        "voip-demo",
    )
    by_name = {node.name: node for node in topo.nodes}
    assert list(by_name) == ["r1", "r2", "dir", "pbx", "alice", "h1"]
    assert (by_name["r2"].roles, by_name["r2"].memory, by_name["r2"].vcpus) == (("router", "dns"), 320, 2)
    assert (by_name["h1"].roles, by_name["h1"].memory, by_name["h1"].image) == (("host",), 256, "debian12-lab")
    assert by_name["alice"].phone is not None and by_name["alice"].phone.registrar == "pbx"
    assert [(link.a, link.b, link.netem.delay, link.netem.loss) for link in topo.links] == [
        ("r1", "r2", None, None),
        ("r1", "h1", "20ms", "1%"),
    ]
    assert [(lan.name, lan.members, lan.netem.delay) for lan in topo.lans] == [
        ("core", ("r2", "dir", "pbx"), None),
        ("desk", ("r1", "alice"), "10ms"),
    ]
    assert topo.addressing.lan == "10.100.0.0/16"
    assert topo.sip is not None and [(u.name, u.extension) for u in topo.sip.users] == [("alice", "1001")]
    compile_topology(topo)
    assert load_topology(Path("v1.yaml"), without_format(text)) == topo


def test_demo_v1_loads_expands_and_reads_as_without_the_key(tmp_path: Path) -> None:
    path = FIXTURES / "demo" / "v1.yaml"
    demo = load_demo(str(path), check_types())
    assert (demo.name, demo.description) == ("fixture", "every key of a format-1 demo")
    assert [(c.type, c.params, c.line) for c in demo.checks] == [
        ("ping_by_name", {"timeout": 60}, 7),
        ("ospf_neighbors", {}, 8),
    ]
    plan = compile_topology(load_topology(FIXTURES / "topology" / "v1.yaml"))
    assert all(validate_demo(demo, plan))
    (tmp_path / "v1.yaml").write_text(without_format(path.read_text()))
    assert load_demo(str(tmp_path / "v1.yaml"), check_types()).checks == demo.checks


def test_recipe_v1_declares_orders_and_loads_its_steps_and_reads_as_without_the_key(tmp_path: Path) -> None:
    root = FIXTURES / "recipe" / "v1"
    found = catalogue(root)
    assert found.names() == ("db", "web")
    assert found.base is not None and (found.base.packages, found.base.secrets) == (("curl",), ("root_password",))
    web = found.role("web")
    assert (web.after, web.requires.roles, web.requires.sections) == (("db",), ("db",), ("sip",))
    assert (web.provides, web.packages, web.services, web.secrets) == (
        ("web-server",),
        ("nginx",),
        ("nginx",),
        ("web_token",),
    )
    assert web.skip is not None and (web.skip.unless_command, web.skip.package) == ("nginx", "nginx-light")
    assert web.colour == "#a0c4ff"
    recipes = load_recipes({"db", "web"}, root)
    assert sorted(recipes) == ["base", "db", "web"]
    (site,) = recipes["web"].files
    assert (site.path, site.template, site.mode, site.owner, site.foreach) == (
        "/etc/web/{{ item }}.conf",
        "site.conf.j2",
        "0640",
        "root:www-data",
        "sites",
    )
    assert recipes["web"].commands == ("systemctl restart nginx",)
    assert recipes["web"].ready is not None and recipes["web"].ready.timeout == 30
    assert recipes["base"].templates == {"hostname.j2": "{{ node.name }}\n"}

    copy = tmp_path / "v1"
    shutil.copytree(root, copy)
    for manifest in copy.glob("*/recipe.yaml"):
        manifest.write_text(without_format(manifest.read_text()))
    assert catalogue(copy).roles == tuple(
        roles.Role(**{**vars(role), "manifest": copy / role.name / "recipe.yaml"}) for role in found.roles
    )
    assert load_recipes({"db", "web"}, copy) == recipes


def test_image_v1_loads_and_the_key_is_not_in_the_digest(home: Path) -> None:
    text = (FIXTURES / "image" / "v1.yaml").read_text()
    (home / "vm-recipes" / "images" / "fixture.yaml").write_text(text)
    recipe = load_image_recipe("fixture", {})
    assert (recipe.suite, recipe.snapshot, recipe.components, recipe.variant, recipe.size_mib) == (
        "bookworm",
        "20250101T000000Z",
        ("main", "contrib"),
        "apt",
        2048,
    )
    assert (recipe.packages, recipe.disable_services) == (("iproute2", "systemd-sysv"), ("ssh",))
    assert recipe.freeswitch is not None and recipe.freeswitch.services == ("freeswitch",)
    (home / "vm-recipes" / "images" / "fixture.yaml").write_text(without_format(text))
    assert load_image_recipe("fixture", {}) == recipe
    assert load_image_recipe("fixture", {}).digest() == recipe.digest()


# -- every loader checks the key -------------------------------------------------------------------
@dataclass(frozen=True)
class Kind:
    """One YAML format: how a test writes and loads a file of it, and what a minimal valid one holds."""

    name: str  # as the refusal names it: "this <name> was written by a newer labctl"
    body: str
    error: type[FileError]
    load: Callable[[Path, str], Path]  # (tmp folder, text) -> the file it loaded
    module: Any  # holds <PREFIX>_FORMAT and <PREFIX>_MIGRATIONS
    prefix: str


def _topology(folder: Path, text: str) -> Path:
    load_topology(folder / "t.yaml", text, catalogue(REPO / "vm-recipes"))
    return folder / "t.yaml"


def _demo(folder: Path, text: str) -> Path:
    (folder / "d.yaml").write_text(text)
    load_demo(str(folder / "d.yaml"), check_types())
    return folder / "d.yaml"


def _recipe(folder: Path, text: str) -> Path:
    manifest = folder / "recipes" / "web" / "recipe.yaml"
    manifest.parent.mkdir(parents=True, exist_ok=True)
    manifest.write_text(text)
    catalogue(folder / "recipes")
    load_recipe("web", folder / "recipes")
    return manifest


def _image(folder: Path, text: str) -> Path:
    path = folder / "home" / "vm-recipes" / "images" / "fixture.yaml"
    path.write_text(text)
    load_image_recipe("fixture", {})
    return path


KINDS = [
    Kind("topology", "name: t\nnodes:\n  a: {}\n", TopologyError, _topology, schema, "TOPOLOGY"),
    Kind("demo", "checks:\n  - ping_by_name: {}\n", DemoError, _demo, demo_spec, "DEMO"),
    Kind("recipe", "description: a web server\n", RecipeError, _recipe, roles, "RECIPE"),
    Kind(
        "image recipe",
        "suite: bookworm\nmirror: http://deb.debian.org/debian\nkernel: linux-image-amd64\npackages: [bash]\n",
        ImageRecipeError,
        _image,
        image_recipe,
        "IMAGE",
    ),
]
IDS = [kind.prefix.lower() for kind in KINDS]
RULE = "format must be a whole number from 1 up (the labctl format the file is written for), not"


def refusal(kind: Kind, folder: Path, value: str) -> str:
    """The one line `kind`'s loader refuses a file with `format: <value>` on line 2 with, its folder cut."""
    with pytest.raises(kind.error) as caught:
        kind.load(folder, f"# written by a later labctl\nformat: {value}\n{kind.body}")
    (line,) = caught.value.lines()
    return line.removeprefix(f"{folder}/")


@pytest.mark.parametrize("kind", KINDS, ids=IDS)
def test_no_key_and_every_supported_format_load(kind: Kind, home: Path) -> None:
    kind.load(home.parent, kind.body)
    kind.load(home.parent, f"format: 1\n{kind.body}")


@pytest.mark.parametrize("kind", KINDS, ids=IDS)
@pytest.mark.parametrize(("value", "shown"), [("2", "2"), ("1" + "0" * 70, "1" + "0" * 56 + "...")])
def test_a_newer_format_is_refused_at_the_key_in_one_line(kind: Kind, home: Path, value: str, shown: str) -> None:
    line = refusal(kind, home.parent, value)
    assert line.split(":", 2)[1:] == [
        "2",
        f" this {kind.name} was written by a newer labctl (format {shown}; this labctl reads up to 1)",
    ]


@pytest.mark.parametrize("kind", KINDS, ids=IDS)
@pytest.mark.parametrize(
    ("value", "shown"),
    [
        ("0", "'0'"),
        ("-1", "'-1'"),
        ('"1"', "the string '1'"),
        ("one", "the string 'one'"),
        ("1.5", "'1.5'"),
        ("true", "'true'"),
        ("null", "'null'"),
        ("", "empty"),
        ("[1]", "a list"),
        ("{v: 1}", "a mapping"),
    ],
)
def test_a_bad_format_is_refused_at_the_key_in_one_line(kind: Kind, home: Path, value: str, shown: str) -> None:
    assert refusal(kind, home.parent, value).split(":", 2)[1:] == ["2", f" {RULE} {shown}"]


@pytest.mark.parametrize("kind", KINDS, ids=IDS)
def test_a_misspelt_key_suggests_format(kind: Kind, home: Path) -> None:
    with pytest.raises(kind.error, match=r"'formt'.*did you mean 'format'"):
        kind.load(home.parent, f"formt: 1\n{kind.body}")


@pytest.mark.parametrize("kind", KINDS, ids=IDS)
def test_each_loader_runs_its_migrations(kind: Kind, home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Once the format is 2, a format-1 file (with or without the key) is migrated before it is read."""

    def drop_obsolete(data: dict[str, Any]) -> dict[str, Any]:
        return {key: value for key, value in data.items() if key != "obsolete"}

    old = f"obsolete: gone in format 2\n{kind.body}"
    with pytest.raises(kind.error, match=r"unknown key.*'obsolete'"):
        kind.load(home.parent, old)
    monkeypatch.setattr(kind.module, f"{kind.prefix}_FORMAT", 2)
    monkeypatch.setattr(kind.module, f"{kind.prefix}_MIGRATIONS", {1: drop_obsolete})
    kind.load(home.parent, old)
    kind.load(home.parent, f"format: 1\n{old}")
    kind.load(home.parent, f"format: 2\n{kind.body}")
    with pytest.raises(kind.error, match=r"unknown key.*'obsolete'"):
        kind.load(home.parent, f"format: 2\n{old}")


@pytest.mark.parametrize("kind", KINDS, ids=IDS)
def test_a_migration_that_meets_a_shape_it_does_not_expect_is_refused_at_the_key(
    kind: Kind, home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def needs_a_missing_key(data: dict[str, Any]) -> dict[str, Any]:
        return {**data, "renamed": data["missing"]}

    monkeypatch.setattr(kind.module, f"{kind.prefix}_FORMAT", 2)
    monkeypatch.setattr(kind.module, f"{kind.prefix}_MIGRATIONS", {1: needs_a_missing_key})
    assert refusal(kind, home.parent, "1").split(":", 2)[1:] == [
        "2",
        f" cannot read this {kind.name} in format 1: format 1 does not have the expected shape (KeyError('missing'))",
    ]


def test_the_shipped_files_say_their_format() -> None:
    shipped = [
        *(REPO / "topologies").glob("*.yaml"),
        *(REPO / "demos").glob("*.yaml"),
        *(REPO / "vm-recipes").glob("*/recipe.yaml"),
        *(REPO / "vm-recipes" / "images").glob("*.yaml"),
    ]
    assert len(shipped) >= 10
    missing = [str(p.relative_to(REPO)) for p in shipped if "\nformat: 1\n" not in "\n" + p.read_text()]
    assert missing == []
