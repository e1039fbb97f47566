"""Adding a role means adding a folder (issue 9): a toy role that exists only in a copy of vm-recipes,
under a temporary LABCTL_HOME, validates, compiles, renders, orders after what it declares, gets
its packages into the image and its secrets into the lab, and its `requires` are enforced at the
topology's line. Nothing outside vm-recipes/toy/ is edited for it: docs/DESIGN.md, "How to add a role"."""

from __future__ import annotations

import shutil
import subprocess
import textwrap
from pathlib import Path

import pytest

from labctl.compile import compile_topology
from labctl.compile.dot import plan_to_dot
from labctl.demo.checks import sip as sip_checks
from labctl.errors import TopologyError
from labctl.images.recipe import load_image_recipe
from labctl.render.recipe import load_recipes
from labctl.render.render import render_node, role_order
from labctl.roles import catalogue
from labctl.service.runnable import check_runnable
from labctl.topology.schema import load_topology

REPO = Path(__file__).resolve().parents[2]

TOY_MANIFEST = """\
# A toy service: everything generic code knows about it is declared here.
description: a toy daemon that answers on the lab's name servers
after: [dns]
requires: {roles: [dns]}
provides: [toy-service]
packages: [toy-daemon]
services: [toyd]
secrets: [toy_token]
skip: {unless_command: toyd, message: toyd is not installed in this node's image}
colour: "#123456"
paths: {conf: /etc/toy}
ports: {listen: 7777}
files:
  - {path: "{{ paths.conf }}/toy.conf", template: toy.conf.j2, mode: "0600"}
commands:
  - systemctl restart toyd
ready:
  command: pgrep -x toyd
  timeout: 5
"""
TOY_TEMPLATE = """\
# toy on {{ node.name }}
token = {{ secrets.toy_token }}
listen = {{ ports.listen }}
{% for server in dns_servers %}
resolver = {{ server }}
{% endfor %}
"""
TOPOLOGY = """\
name: toys
nodes:
  ns: {roles: [router, dns]}
  t1: {roles: [toy]}
links:
  - [ns, t1]
"""


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of the shipped vm-recipes, plus vm-recipes/toy/ and nothing else."""
    shutil.copytree(REPO / "vm-recipes", tmp_path / "vm-recipes")
    toy = tmp_path / "vm-recipes" / "toy"
    toy.mkdir()
    (toy / "recipe.yaml").write_text(TOY_MANIFEST)
    (toy / "toy.conf.j2").write_text(TOY_TEMPLATE)
    monkeypatch.setenv("LABCTL_HOME", str(tmp_path))
    return tmp_path


def test_a_toy_role_validates_compiles_renders_and_orders(home: Path) -> None:
    topo = load_topology(Path("toys.yaml"), TOPOLOGY)
    plan = compile_topology(topo)
    check_runnable(topo, plan, host=None)  # what `labctl validate` does, but the host's size
    roles = {role for node in plan.nodes for role in node.roles}
    assert roles == {"router", "dns", "toy"}

    recipes = load_recipes(roles)
    waves = role_order(recipes, roles)
    assert waves.index(["toy"]) > next(i for i, wave in enumerate(waves) if "dns" in wave)

    secrets = {name: f"secret-{name}" for name in catalogue().secrets(roles)}
    assert {"toy_token", "root_password"} <= set(secrets)
    steps = render_node(plan, plan.node("t1"), recipes, secrets)
    assert sorted(steps) == ["base", "toy"]
    (conf,) = steps["toy"].files
    ns = plan.node("ns").address
    assert (conf.path, conf.mode, conf.owner) == ("/etc/toy/toy.conf", "0600", "root:root")
    assert conf.content == f"# toy on t1\ntoken = secret-toy_token\nlisten = 7777\nresolver = {ns}\n"
    assert steps["toy"].commands == ("systemctl restart toyd",)
    assert steps["toy"].ready is not None and steps["toy"].ready.command == "pgrep -x toyd"
    assert "toy" not in render_node(plan, plan.node("ns"), recipes, secrets)

    assert 'fillcolor="#123456"' in plan_to_dot(plan)


def test_the_toy_skip_test_runs_in_a_shell(home: Path) -> None:
    skip = load_recipes({"toy"})["toy"].skip_when
    assert skip is not None
    result = subprocess.run(["/bin/sh", "-c", skip], env={"PATH": "/usr/bin:/bin"}, capture_output=True, text=True)
    assert (result.returncode, result.stdout) == (0, "toyd is not installed in this node's image\n")


def test_a_topology_breaking_the_toy_requirement_fails_at_its_line(home: Path) -> None:
    text = textwrap.dedent("""\
        name: toys
        nodes:
          r1: {roles: [router]}
          t1: {roles: [toy]}
        links:
          - [r1, t1]
        """)
    with pytest.raises(TopologyError) as caught:
        load_topology(Path("toys.yaml"), text)
    assert caught.value.lines() == ["toys.yaml:4: toy on 't1' needs a node with the 'dns' role"]


def test_a_misspelt_toy_role_is_suggested(home: Path) -> None:
    with pytest.raises(TopologyError) as caught:
        load_topology(Path("toys.yaml"), TOPOLOGY.replace("[toy]", "[tyo]"))
    assert caught.value.lines() == ["toys.yaml:4: unknown role 'tyo' (did you mean 'toy'?)"]


def test_the_image_installs_the_toy_packages_and_keeps_its_service_disabled(home: Path) -> None:
    image = load_image_recipe("debian12-lab", {})
    assert "toy-daemon" in image.packages
    assert "toyd" in image.disable_services
    assert list(image.packages) == sorted(set(image.packages))
    shutil.rmtree(home / "vm-recipes" / "toy")
    without = load_image_recipe("debian12-lab", {})
    assert "toy-daemon" not in without.packages
    assert without.digest() != image.digest()


TOY_PBX = """\
description: a toy PBX that phones can register with
after: [ldap]
requires: {roles: [ldap], sections: [sip]}
provides: [sip-registrar]
skip: {unless_command: toypbx, message: toypbx is not in this image}
"""
PBX_TOPOLOGY = """\
name: toys
nodes:
  dir: {roles: [ldap]}
  pbx: {roles: [toy-pbx]}
  alice: {roles: [phone], phone: {user: alice, registrar: pbx}}
lans:
  office: [dir, pbx, alice]
sip:
  domain: toys.lab
  users:
    alice: {password: alice-secret, extension: 1001}
"""


def test_a_toy_registrar_is_a_sip_server_because_it_says_so(home: Path) -> None:
    """`provides: [sip-registrar]` alone makes phones accept it, the plan list it, DNS serve SRV
    records for it, and the SIP checks gate its phones on its own `skip`."""
    folder = home / "vm-recipes" / "toy-pbx"
    folder.mkdir()
    (folder / "recipe.yaml").write_text(TOY_PBX)
    plan = compile_topology(load_topology(Path("toys.yaml"), PBX_TOPOLOGY))
    assert plan.sip is not None and [(s.node, s.kind) for s in plan.sip.servers] == [("pbx", "toy-pbx")]
    assert any(r.type == "SRV" and r.value.endswith(" pbx.toys.lab.") for r in plan.dns.records)
    phone = plan.node("alice").phone
    assert phone is not None and phone.registrar_kind == "toy-pbx"
    gate = sip_checks.registrar_gate(plan, phone)
    assert gate is not None and gate[0] == "pbx" and "SKIP: toypbx is not in this image (pbx)" in gate[1]
    with pytest.raises(TopologyError) as caught:
        load_topology(Path("toys.yaml"), PBX_TOPOLOGY.replace("{roles: [toy-pbx]}", "{roles: [host]}"))
    assert caught.value.lines() == [
        "toys.yaml:5: registrar 'pbx' of phone 'alice' is not a SIP registrar "
        "(a node with role freeswitch, kamailio or toy-pbx)"
    ]
