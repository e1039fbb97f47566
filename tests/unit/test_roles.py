"""labctl.roles: the catalogue of what each role declares in vm-recipes/<role>/recipe.yaml."""

from __future__ import annotations

import os
import textwrap
from pathlib import Path

import pytest

from labctl.errors import LabctlError, RecipeError
from labctl.render.recipe import load_recipes
from labctl.render.render import role_order
from labctl.roles import BASE, SECTIONS, Catalogue, Requires, Role, Skip, catalogue
from labctl.topology.schema import SECTION_PRESENT

REPO = Path(__file__).resolve().parents[2]


def write(root: Path, role: str, manifest: str) -> Path:
    folder = root / role
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "recipe.yaml"
    path.write_text(textwrap.dedent(manifest))
    return path


def refused(root: Path) -> list[str]:
    with pytest.raises(RecipeError) as caught:
        catalogue(root)
    return [str(p) for p in caught.value.problems]


# -- the shipped roles -----------------------------------------------------------------------------
def test_the_shipped_catalogue() -> None:
    roles = catalogue(REPO / "vm-recipes")
    assert roles.names() == ("desktop", "dns", "freeswitch", "host", "kamailio", "ldap", "phone", "router")
    assert roles.base is not None and roles.base.secrets == ("root_password",)
    assert roles.providers("sip-registrar") == ("freeswitch", "kamailio")
    assert roles.providers("media-relay") == ("freeswitch",)
    assert roles.role("kamailio").requires == Requires(roles=("ldap",), sections=("sip",))
    assert roles.secrets(["router"]) == ("root_password",)
    assert roles.secrets(["kamailio", "ldap"]) == ("ldap_admin", "ldap_reader", "root_password")
    assert {"bird2", "bind9", "slapd", "kamailio", "linphone-cli"} <= set(roles.packages())
    assert roles.services() == ("bird", "kamailio", "named", "slapd")
    assert all(roles.colour(name) for name in roles.names())


def test_the_freeswitch_skip_is_declared_once_and_read_by_the_recipe_and_the_check() -> None:
    skip = catalogue(REPO / "vm-recipes").role("freeswitch").skip
    assert skip is not None and (skip.unless_command, skip.package) == ("freeswitch", "freeswitch")
    assert skip.shell() == (
        "command -v freeswitch >/dev/null 2>&1 && exit 1; echo \"FreeSWITCH is not installed in this node's image: "
        "set LABCTL_FREESWITCH_SRC=/dir of its source tarballs (like ../shared/vendor/freeswitch), "
        "LABCTL_SIGNALWIRE_TOKEN or LABCTL_FREESWITCH_DEBS=/dir/of/debs and rebuild the image "
        '(labctl image build)"'
    )


def test_the_phone_declares_the_guest_paths_its_templates_and_checks_share() -> None:
    phone = catalogue(REPO / "vm-recipes").role("phone")
    assert phone.path("home") == "/var/lib/labctl-phone" and phone.port("media_report") == 5072
    with pytest.raises(LabctlError, match=r"recipe.yaml: unknown path 'hme' in role phone \(did you mean 'home'\?\)"):
        phone.path("hme")
    with pytest.raises(LabctlError, match=r"unknown port 'report' in role phone"):
        phone.port("report")


def test_every_section_a_role_can_require_is_known_to_the_topology() -> None:
    assert set(SECTION_PRESENT) == set(SECTIONS)


# -- a good manifest -------------------------------------------------------------------------------
def test_a_manifest_declares_its_role(tmp_path: Path) -> None:
    write(tmp_path, BASE, "secrets: [root_password]\npackages: [iproute2]\n")
    write(tmp_path, "dir", "description: a directory\n")
    path = write(
        tmp_path,
        "pbx",
        """\
        description: a PBX
        after: [dir, base]
        requires: {roles: [dir], sections: [sip]}
        provides: [sip-registrar]
        packages: [asterisk, ldap-utils]
        services: [asterisk]
        secrets: [ami_password]
        skip: {unless_command: asterisk, message: Asterisk is missing, hint: rebuild the image}
        colour: "#A0C4FF"
        files: []
        commands: [true]
        """,
    )
    roles = catalogue(tmp_path)
    assert isinstance(roles, Catalogue) and roles.names() == ("dir", "pbx")
    assert roles.role("pbx") == Role(
        name="pbx",
        manifest=path,
        description="a PBX",
        after=("dir", "base"),
        requires=Requires(roles=("dir",), sections=("sip",)),
        provides=("sip-registrar",),
        packages=("asterisk", "ldap-utils"),
        services=("asterisk",),
        secrets=("ami_password",),
        skip=Skip(
            unless_command="asterisk", package="asterisk", message="Asterisk is missing", hint="rebuild the image"
        ),
        colour="#A0C4FF",
    )
    assert roles.role("dir") == Role(name="dir", manifest=tmp_path / "dir" / "recipe.yaml", description="a directory")
    assert roles.packages() == ("asterisk", "iproute2", "ldap-utils")
    assert roles.secrets(["dir"]) == ("root_password",)
    assert roles.secrets() == ("ami_password", "root_password")


def test_folders_that_are_not_roles(tmp_path: Path) -> None:
    (tmp_path / "images").mkdir()
    (tmp_path / "images" / "debian.yaml").write_text("suite: bookworm\n")
    (tmp_path / ".git").mkdir()
    (tmp_path / "__pycache__").mkdir()
    (tmp_path / "README").write_text("not a folder\n")
    write(tmp_path, "host", "description: plain\n")
    roles = catalogue(tmp_path)
    assert (roles.names(), roles.base) == (("host",), None)
    assert catalogue(tmp_path / "nowhere").names() == ()


def test_a_role_folder_without_a_manifest_is_refused(tmp_path: Path) -> None:
    (tmp_path / "asterisk").mkdir()
    (tmp_path / "asterisk" / "recipe.yml").write_text("description: typo\n")
    assert refused(tmp_path) == [
        f"{tmp_path}/asterisk/recipe.yaml:1: missing: every folder under {tmp_path.name}/ but images/ is a role"
    ]


def test_a_role_folder_with_a_bad_name_is_refused(tmp_path: Path) -> None:
    (tmp_path / "My Role").mkdir()
    assert refused(tmp_path) == [
        f"{tmp_path}/My Role:1: role name 'My Role' is not valid "
        "(a lowercase letter, then up to 31 lowercase letters, digits or '-')"
    ]


# -- what is refused, at its line ------------------------------------------------------------------
@pytest.mark.parametrize(
    ("manifest", "expected"),
    [
        ("description: x\nprovide: [a]\n", "2: unknown key in recipe 'provide' (did you mean 'provides'?)"),
        ("requires: {role: [dir]}\n", "1: unknown key 'role' in 'requires' (did you mean 'roles'?)"),
        (
            "skip:\n  unless_command: x\n  message: m\n  hnt: h\n",
            "4: unknown key 'hnt' in 'skip' (did you mean 'hint'?)",
        ),
        ("after: dir\n", "1: 'after' must be a list of role names, not 'dir'"),
        ("packages:\n  - ok\n  - two words\n", "3: Debian package 'two words' is not valid (expected a Debian"),
        ("secrets: [ldap-admin]\n", "1: secret name 'ldap-admin' is not valid (expected a lowercase letter, then"),
        ("services: [a, a]\n", "1: service 'a' is listed twice"),
        ("provides: {a: 1}\n", "1: 'provides' must be a list of capabilitys, not a mapping"),
        ("requires: [dir]\n", "1: 'requires' must be a mapping, not a list"),
        ("colour: red\n", "1: colour 'red' is not valid (expected a colour such as '#a0c4ff')"),
        ("description: [a]\n", "1: 'description' must be one line of text, not a list"),
        ("skip: {unless_command: x}\n", "1: 'skip' is a mapping with 'unless_command' and 'message'"),
        ("skip: {unless_command: x, message: 'say \"hi\"'}\n", "1: skip message must be one line of text without '\"'"),
        ("skip: {unless_command: x, message: '$(reboot)'}\n", "1: skip message must be one line of text without '$'"),
        ("skip: {unless_command: 'x; y', message: m}\n", "1: command 'x; y' is not valid (expected a command name"),
        ("- a list\n", "1: a recipe is a mapping of description, after, requires"),
        ("skip: {unless_command: x, package: 'a b', message: m}\n", "1: Debian package 'a b' is not valid"),
        ('skip: {unless_command: x, message: "a\\tb"}\n', "1: skip message must be one line of text without U+0009"),
        ("skip: {unless_command: x, message: m, hint: ''}\n", "1: skip hint must be one line of text, not ''"),
        ("paths: [a]\n", "1: 'paths' must be a mapping of names to values, not a list"),
        ("paths: {home: var/lib/x}\n", "1: guest path 'var/lib/x' is not valid (expected an absolute path"),
        ("paths: {home: /var/../etc}\n", "1: guest path '/var/../etc' is not valid"),
        ("paths: {home: /var//x}\n", "1: guest path '/var//x' is not valid"),
        ("paths: {home: '/x/$(reboot)'}\n", "1: guest path '/x/$(reboot)' is not valid"),
        ("paths: {home: '/x y'}\n", "1: guest path '/x y' is not valid"),
        ("paths: {home: 1}\n", "1: guest path '1' is not valid"),
        ("paths: {Home: /x}\n", "1: name in 'paths' 'Home' is not valid"),
        ("ports: {report: 0}\n", "1: port '0' is not valid (expected a number from 1 to 65535)"),
        ("ports: {report: 65536}\n", "1: port '65536' is not valid"),
        ("ports: {report: '5072'}\n", "1: port '5072' is not valid"),
        ("ports: {report: true}\n", "1: port 'True' is not valid"),
        ("memory: 64\n", "1: memory '64' is not valid (expected MiB from 128 to 65536)"),
        ("memory: 65537\n", "1: memory '65537' is not valid"),
        ("memory: '256'\n", "1: memory '256' is not valid"),
        ("memory: true\n", "1: memory 'True' is not valid"),
        ("memory: 256MiB\n", "1: memory '256MiB' is not valid"),
        ("memory: 2.5e2\n", "1: memory"),
    ],
)
def test_bad_declarations_are_refused_with_their_line(tmp_path: Path, manifest: str, expected: str) -> None:
    write(tmp_path, "dir", "description: d\n")
    path = write(tmp_path, "pbx", manifest)
    problems = refused(tmp_path)
    assert len(problems) == 1
    assert problems[0].startswith(f"{path}:{expected}")


def test_unknown_roles_in_after_and_requires_get_a_suggestion(tmp_path: Path) -> None:
    write(tmp_path, "router", "description: r\n")
    write(tmp_path, "ldap", "description: l\n")
    path = write(tmp_path, "pbx", "after: [ldap, rooter]\nrequires:\n  roles: [ldpa]\n  sections: [sp]\n")
    assert refused(tmp_path) == [
        f"{path}:1: unknown role 'rooter' in 'after' (did you mean 'router'?)",
        f"{path}:3: unknown role 'ldpa' in 'requires' (did you mean 'ldap'?)",
        f"{path}:4: unknown section 'sp' in 'requires' (did you mean 'sip'?)",
    ]


def test_every_bad_manifest_is_reported_at_once(tmp_path: Path) -> None:
    one = write(tmp_path, "one", "colour: red\n")
    two = write(tmp_path, "two", "packges: []\n")
    assert [p.split(": ", 1)[0] for p in refused(tmp_path)] == [f"{one}:1", f"{two}:1"]


def test_the_base_recipe_declares_only_what_applies_to_every_node(tmp_path: Path) -> None:
    path = write(tmp_path, BASE, "after: [router]\n")
    write(tmp_path, "router", "description: r\n")
    (problem,) = refused(tmp_path)
    assert problem.startswith(f"{path}:1: unknown key in recipe 'after'")
    assert problem.endswith(
        "the base recipe runs first on every node, so it declares only description, "
        "packages, services, secrets, files, commands, ready"
    )


def test_base_is_not_a_role_a_node_or_a_requirement_can_name(tmp_path: Path) -> None:
    write(tmp_path, BASE, "description: b\n")
    path = write(tmp_path, "pbx", "requires: {roles: [base]}\n")
    assert refused(tmp_path) == [f"{path}:1: unknown role 'base' in 'requires' (expected one of: pbx)"]
    write(tmp_path, "pbx", "description: p\n")
    with pytest.raises(LabctlError, match="unknown role 'base'"):
        catalogue(tmp_path).role(BASE)


# -- cycles are the render stage's to find (among the roles a lab uses) ------------------------------
def test_a_cycle_in_after_is_still_caught_by_role_order(tmp_path: Path) -> None:
    write(tmp_path, BASE, "description: b\n")
    write(tmp_path, "one", "after: [two]\n")
    write(tmp_path, "two", "after: [one]\n")
    recipes = load_recipes({"one", "two"}, tmp_path)
    with pytest.raises(
        LabctlError, match=r"recipes wait for each other in a cycle: (one -> two -> one|two -> one -> two)"
    ):
        role_order(recipes, {"one", "two"})
    assert role_order(load_recipes({"one"}, tmp_path), {"one"}) == [[BASE], ["one"]]


# -- read once per root, again when a manifest changes -----------------------------------------------
def test_the_catalogue_is_cached_per_root_until_a_manifest_changes(tmp_path: Path) -> None:
    path = write(tmp_path, "host", "description: plain\n")
    first = catalogue(tmp_path)
    assert catalogue(tmp_path) is first
    path.write_text("description: changed\n")
    os.utime(path, ns=(1, 1))
    assert catalogue(tmp_path).role("host").description == "changed"
    write(tmp_path, "router", "description: r\n")
    assert catalogue(tmp_path).names() == ("host", "router")


def test_the_default_root_follows_labctl_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write(tmp_path / "vm-recipes", "toy", "description: t\n")
    monkeypatch.setenv("LABCTL_HOME", str(tmp_path))
    assert catalogue().names() == ("toy",)
