"""labctl.render.render: golden renders of every shipped lab, role waves, template errors,
`foreach`, secrets, determinism, and what the rendered configuration must say about the plan.

Golden renders live in tests/golden/rendered/<topology>/<node>/<role>.txt, one file per role a
node runs (roles without a recipe folder are not rendered, so a new recipe just adds files).
After an intended change to a recipe or to the renderer, rewrite them with one command:

    .venv/bin/pytest tests/unit/render/test_render.py --regen-golden

and review the diff before committing.
"""

from __future__ import annotations

import dataclasses
import hashlib
import ipaddress
import json
import os
import re
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

from labctl.compile.plan import LabPlan, NodePlan
from labctl.errors import LabctlError, RecipeError
from labctl.render.recipe import BASE_ROLE, ReadyProbe, Recipe, load_recipe
from labctl.render.render import RenderedFile, RenderError, RoleStep, context, render_node, render_step, role_order
from tests.unit.render.golden import (
    EXTRA,
    RENDERED,
    REPO,
    SECRETS,
    SHIPPED,
    available_roles,
    cases,
    describe,
    golden_path,
    plan_of,
    recipes_for,
    rendered,
)

CASES = cases()
LABS = SHIPPED + EXTRA


# -- golden renders ---------------------------------------------------------------------------
def test_golden_renders_cover_the_shipped_labs() -> None:
    stems = {topology for topology, _, _ in CASES}
    assert {"ospf-dns", "line", "voip-demo"} <= stems
    for topology in ("ospf-dns", "line"):
        nodes = {node.name for node in plan_of(REPO / "topologies" / f"{topology}.yaml").nodes}
        assert {node for t, node, _ in CASES if t == topology} == nodes
    assert ("ospf-dns", "r1", "router") in CASES
    assert ("ospf-dns", "ns", "dns") in CASES
    assert ("line", "a", "host") in CASES  # a node without roles is a plain host


@pytest.mark.parametrize(("topology", "node", "role"), CASES, ids=["/".join(c) for c in CASES])
def test_render_matches_golden(topology: str, node: str, role: str, regen_golden: bool) -> None:
    step = rendered(REPO / "topologies" / f"{topology}.yaml")[node][role]
    actual = describe(topology, node, step)
    golden = golden_path(topology, node, role)
    if regen_golden:
        golden.parent.mkdir(parents=True, exist_ok=True)
        golden.write_text(actual)
        return
    assert golden.exists(), f"no golden render for {topology}/{node}/{role}; run the regeneration command"
    assert actual == golden.read_text(), f"render of {topology}/{node}/{role} changed; if intended, regenerate"


def test_every_golden_render_has_a_source(regen_golden: bool) -> None:
    """A golden file for a node or role that no longer renders is stale (removed on regeneration)."""
    expected = {golden_path(*case) for case in CASES}
    orphans = sorted(p for p in RENDERED.rglob("*.txt") if p not in expected)
    if regen_golden:
        for path in orphans:
            path.unlink()
        return
    assert [str(p.relative_to(RENDERED)) for p in orphans] == []


def test_roles_are_discovered_from_recipe_folders() -> None:
    roles = available_roles()
    assert {BASE_ROLE, "router", "dns", "host"} <= roles
    assert "images" not in roles  # a folder without recipe.yaml is not a role
    rendered_roles = {role for _, _, role in CASES}
    voip = plan_of(REPO / "topologies" / "voip-demo.yaml")
    wanted = {role for node in voip.nodes for role in node.roles} & roles
    assert wanted <= rendered_roles


# -- role waves -------------------------------------------------------------------------------
def recipe(role: str, after: tuple[str, ...] = ()) -> Recipe:
    return Recipe(
        role=role, description="", after=after, files=(), commands=(), ready=None, skip_when=None, templates={}
    )


def test_base_comes_first_and_independent_roles_share_a_wave() -> None:
    recipes = {r.role: r for r in (recipe(BASE_ROLE), recipe("router"), recipe("dns"))}
    assert role_order(recipes, {"router", "dns"}) == [[BASE_ROLE], ["dns", "router"]]


def test_after_puts_a_role_in_a_later_wave() -> None:
    recipes = {
        r.role: r
        for r in (
            recipe(BASE_ROLE),
            recipe("router"),
            recipe("ldap"),
            recipe("kamailio", ("ldap", "router")),
            recipe("phone", ("kamailio",)),
        )
    }
    waves = role_order(recipes, {"router", "ldap", "kamailio", "phone"})
    assert waves == [[BASE_ROLE], ["ldap", "router"], ["kamailio"], ["phone"]]


def test_after_a_role_missing_from_the_lab_is_ignored() -> None:
    recipes = {r.role: r for r in (recipe(BASE_ROLE), recipe("phone", ("kamailio", "freeswitch")))}
    assert role_order(recipes, {"phone"}) == [[BASE_ROLE], ["phone"]]


def test_a_cycle_is_refused_naming_it() -> None:
    recipes = {r.role: r for r in (recipe(BASE_ROLE), recipe("ldap", ("kamailio",)), recipe("kamailio", ("ldap",)))}
    with pytest.raises(LabctlError, match="cycle") as caught:
        role_order(recipes, {"ldap", "kamailio"})
    cycle = str(caught.value).split(": ", 1)[1]
    assert cycle in ("ldap -> kamailio -> ldap", "kamailio -> ldap -> kamailio")


def test_shipped_recipes_order_waves_for_voip() -> None:
    plan = plan_of(REPO / "topologies" / "voip-demo.yaml")
    recipes = recipes_for(plan)
    roles = set(recipes) - {BASE_ROLE}
    waves = role_order(recipes, roles)
    assert waves[0] == [BASE_ROLE]
    position = {role: i for i, wave in enumerate(waves) for role in wave}
    for r in recipes.values():
        for dep in r.after:
            if dep in position:
                assert position[dep] < position[r.role], f"{r.role} runs after {dep}"


# -- templates --------------------------------------------------------------------------------
def write_recipe(root: Path, role: str, manifest: str, templates: dict[str, str]) -> None:
    folder = root / role
    folder.mkdir(parents=True)
    (folder / "recipe.yaml").write_text(textwrap.dedent(manifest))
    for name, text in templates.items():
        (folder / name).write_text(text)


@pytest.fixture
def ospf_dns() -> LabPlan:
    return plan_of(REPO / "topologies" / "ospf-dns.yaml")


def render_tmp(root: Path, role: str, plan: LabPlan, node: str, secrets: dict[str, str] | None = None) -> RoleStep:
    return render_step(load_recipe(role, root), context(plan, plan.node(node), secrets or {}))


@pytest.mark.parametrize(
    ("template", "line", "culprit"),
    [
        ("{% for x in interfaces %}\n{{ x.name }}\n", 2, "endfor"),  # unclosed block
        ("{{ node.name }\n", 1, "unexpected '}'"),
        ("a\n{{ node.no_such_field }}\n", 2, "no_such_field"),
        ("a\nb\n{{ nothing_here }}\n", 3, "nothing_here"),
        ("{{ node.name | no_such_filter }}\n", 1, "no_such_filter"),
    ],
)
def test_template_errors_are_recipe_errors_at_file_and_line(
    tmp_path: Path, ospf_dns: LabPlan, template: str, line: int, culprit: str
) -> None:
    write_recipe(tmp_path, "router", "files:\n  - {path: /etc/x, template: broken.j2}\n", {"broken.j2": template})
    with pytest.raises(RecipeError) as caught:
        render_tmp(tmp_path, "router", ospf_dns, "r1")
    message = str(caught.value)
    assert message.startswith(f"{tmp_path}/router/broken.j2:{line}: "), message
    assert culprit in message
    assert "\n" not in message


def test_errors_in_paths_commands_and_ready_probe_name_the_manifest_line(tmp_path: Path, ospf_dns: LabPlan) -> None:
    write_recipe(tmp_path, "router", "files:\n  - {path: '/etc/{{ nope }}', template: t.j2}\n", {"t.j2": ""})
    with pytest.raises(
        RecipeError, match=rf"^{re.escape(str(tmp_path))}/router/recipe\.yaml:2: .*path of t\.j2: .*nope"
    ):
        render_tmp(tmp_path, "router", ospf_dns, "r1")
    write_recipe(tmp_path, "dns", "# a comment\ncommands:\n  - echo ok\n  - 'echo {{ nope }}'\n", {})
    with pytest.raises(RecipeError, match=rf"^{re.escape(str(tmp_path))}/dns/recipe\.yaml:4: .*command: .*nope"):
        render_tmp(tmp_path, "dns", ospf_dns, "ns")
    write_recipe(tmp_path, "host", "\nready: {command: 'test {{ nope }}'}\n", {})
    with pytest.raises(RecipeError, match=rf"^{re.escape(str(tmp_path))}/host/recipe\.yaml:2: .*ready: .*nope"):
        render_tmp(tmp_path, "host", ospf_dns, "h1")


@pytest.mark.parametrize(
    "path",
    [
        "etc/relative",
        "/etc/../../escape",
        "/etc/./x",
        "/etc//x",
        "/etc/x/",
        "/",
        "/etc/a\nb",
        "/etc/" + "x" * 300,
        "/{{ node.name }}/../../x",
    ],
)
def test_a_rendered_path_that_is_not_plainly_absolute_is_refused(tmp_path: Path, ospf_dns: LabPlan, path: str) -> None:
    write_recipe(
        tmp_path, "router", "files:\n  - {path: PATH, template: t.j2}\n".replace("PATH", json.dumps(path)), {"t.j2": ""}
    )
    with pytest.raises(
        RenderError, match=rf"^{re.escape(str(tmp_path))}/router/recipe\.yaml:2: node r1: path of t\.j2: refusing"
    ):
        render_tmp(tmp_path, "router", ospf_dns, "r1")


def test_a_hostile_value_cannot_climb_out_of_a_rendered_path(tmp_path: Path, ospf_dns: LabPlan) -> None:
    write_recipe(tmp_path, "router", "files:\n  - {path: '/etc/{{ secrets.s }}', template: t.j2}\n", {"t.j2": ""})
    with pytest.raises(RenderError, match=re.escape("refusing the file path '/etc/../../root/x'")):
        render_tmp(tmp_path, "router", ospf_dns, "r1", {"s": "../../root/x"})


def test_foreach_repeats_a_file_per_item(tmp_path: Path, ospf_dns: LabPlan) -> None:
    manifest = """\
        files:
          - {path: "/etc/lab/{{ item.name }}.conf", template: iface.j2, foreach: interfaces, mode: "0600"}
          - {path: /etc/lab/all, template: all.j2}
        """
    write_recipe(tmp_path, "router", manifest, {"iface.j2": "{{ item.mac }} {{ node.name }}\n", "all.j2": "x\n"})
    step = render_tmp(tmp_path, "router", ospf_dns, "r1")
    r1 = ospf_dns.node("r1")
    expected = [RenderedFile(f"/etc/lab/{i.name}.conf", f"{i.mac} r1\n", "0600", "root:root") for i in r1.interfaces]
    assert list(step.files) == [*expected, RenderedFile("/etc/lab/all", "x\n", "0644", "root:root")]
    assert len(expected) == 3


def test_foreach_over_an_empty_list_writes_nothing(tmp_path: Path, plan: Callable[[str], LabPlan]) -> None:
    lab = plan("name: solo\nnodes:\n  a: {}\n  b: {}\nlinks:\n  - [a, b]\n")
    lonely = dataclasses.replace(lab, nodes=(dataclasses.replace(lab.nodes[0], interfaces=()),))
    write_recipe(
        tmp_path,
        "host",
        "files:\n  - {path: '/x/{{ item.name }}', template: t.j2, foreach: interfaces}\n",
        {"t.j2": "x\n"},
    )
    assert render_tmp(tmp_path, "host", lonely, "a").files == ()


def test_foreach_over_an_unknown_list_is_a_clear_error(tmp_path: Path, ospf_dns: LabPlan) -> None:
    write_recipe(tmp_path, "router", "files:\n  - {path: /x, template: t.j2, foreach: interfacez}\n", {"t.j2": ""})
    with pytest.raises(RecipeError, match=r"router/recipe\.yaml:2: t\.j2: .*interfacez.*did you mean 'interfaces'"):
        render_tmp(tmp_path, "router", ospf_dns, "r1")


def test_secrets_reach_templates_commands_and_probes(tmp_path: Path, ospf_dns: LabPlan) -> None:
    manifest = """\
        files: [{path: /etc/pw, template: pw.j2, mode: "0600"}]
        commands: ['login --password {{ secrets.admin }}']
        ready: {command: 'check {{ secrets.reader }}', timeout: 5, interval: 0.5}
        """
    write_recipe(tmp_path, "ldap", manifest, {"pw.j2": "{{ secrets.reader -}}"})
    step = render_tmp(tmp_path, "ldap", ospf_dns, "ns", {"admin": "s3cret-A", "reader": "s3cret-R"})
    assert step.files[0].content == "s3cret-R"
    assert step.commands == ("login --password s3cret-A",)
    assert step.ready == ReadyProbe("check s3cret-R", 5, 0.5)


def test_a_missing_secret_is_an_error_not_an_empty_string(tmp_path: Path, ospf_dns: LabPlan) -> None:
    write_recipe(tmp_path, "ldap", "files: [{path: /etc/pw, template: pw.j2}]\n", {"pw.j2": "{{ secrets.reader }}"})
    with pytest.raises(RecipeError, match=r"ldap/pw\.j2:1: node ns: .*reader"):
        render_tmp(tmp_path, "ldap", ospf_dns, "ns")


def test_shipped_secrets_land_in_the_ldap_files() -> None:
    voip = rendered(REPO / "topologies" / "voip-demo.yaml")
    if "ldap" not in voip["infra"]:
        pytest.skip("no ldap recipe yet")
    contents = "".join(f.content for f in voip["infra"]["ldap"].files)
    for name in ("ldap_admin", "ldap_reader"):
        assert SECRETS[name] in contents


def test_blank_commands_are_dropped(tmp_path: Path, ospf_dns: LabPlan) -> None:
    write_recipe(tmp_path, "router", "commands: ['{% if false %}never{% endif %}', '  echo hi  ']\n", {})
    assert render_tmp(tmp_path, "router", ospf_dns, "r1").commands == ("echo hi",)


def test_render_node_runs_base_then_the_node_roles_that_have_recipes(ospf_dns: LabPlan) -> None:
    recipes = recipes_for(ospf_dns)
    assert list(render_node(ospf_dns, ospf_dns.node("r1"), recipes, SECRETS)) == [BASE_ROLE, "router"]
    assert list(render_node(ospf_dns, ospf_dns.node("h1"), recipes, SECRETS)) == [BASE_ROLE, "host"]
    without_router = {k: v for k, v in recipes.items() if k != "router"}
    assert list(render_node(ospf_dns, ospf_dns.node("r1"), without_router, SECRETS)) == [BASE_ROLE]


# -- determinism --------------------------------------------------------------------------------
def digest(paths: list[Path]) -> str:
    text = "".join(
        describe(p.stem, node, step) for p in paths for node, steps in rendered(p).items() for step in steps.values()
    )
    return hashlib.sha256(text.encode()).hexdigest()


def test_rendering_twice_gives_identical_output() -> None:
    for path in LABS:
        plan = plan_of(path)
        recipes = recipes_for(plan)
        for node in plan.nodes:
            assert render_node(plan, node, recipes, SECRETS) == render_node(plan, node, recipes, SECRETS)


def test_rendering_does_not_depend_on_hash_seed() -> None:
    script = (
        "import sys; from pathlib import Path; from tests.unit.render.test_render import digest; "
        "print(digest([Path(p) for p in sys.argv[1:]]))"
    )
    outputs = {
        subprocess.run(
            [sys.executable, "-c", script, *map(str, LABS)],
            env=dict(os.environ, PYTHONHASHSEED=seed),
            cwd=REPO,
            capture_output=True,
            text=True,
            check=True,
            timeout=120,
        ).stdout.strip()
        for seed in ("0", "4242")
    }
    assert outputs == {digest(LABS)}


# -- what the configuration says about the plan ----------------------------------------------------
def files_of(path: Path, node: str, role: str) -> dict[str, str]:
    return {f.path: f.content for f in rendered(path)[node][role].files}


def lab_ids(paths: list[Path]) -> list[str]:
    return [p.stem for p in paths]


def routers(path: Path) -> list[NodePlan]:
    return [n for n in plan_of(path).nodes if n.has("router")]


BIRD_IFACE = re.compile(r'interface "([^"]+)" \{(.*?)\};', re.S)
BIRD_ROUTE = re.compile(r"^\s*route (\S+) via (\S+);$", re.M)


@pytest.mark.parametrize("path", LABS, ids=lab_ids(LABS))
def test_bird_runs_ospf_on_every_interface_with_the_right_type(path: Path) -> None:
    plan = plan_of(path)
    for router in routers(path):
        bird = files_of(path, router.name, "router")["/etc/bird/bird.conf"]
        assert f"router id {router.router_id};" in bird
        blocks = dict(BIRD_IFACE.findall(bird))
        assert set(blocks) == {"lab0"} | {i.name for i in router.interfaces}, router.name
        assert "stub yes;" in blocks["lab0"]
        for iface in router.interfaces:
            body = blocks[iface.name]
            wanted = "ptp" if iface.kind == "p2p" else "broadcast"
            assert f"type {wanted};" in body, f"{router.name}/{iface.name}"
            others = [
                n
                for n in plan.nodes
                if n.has("router") and n.name != router.name and any(j.segment == iface.segment for j in n.interfaces)
            ]
            assert ("stub yes;" in body) == (not others), f"{router.name}/{iface.name} stub"


@pytest.mark.parametrize("path", LABS, ids=lab_ids(LABS))
def test_bird_announces_the_loopbacks_of_hosts_it_serves(path: Path) -> None:
    plan = plan_of(path)
    for router in routers(path):
        bird = files_of(path, router.name, "router")["/etc/bird/bird.conf"]
        mine = {i.ip: i for i in router.interfaces}
        expected = set()
        for host in plan.nodes:
            if host.has("router") or host.gateway not in mine:
                continue
            subnet = ipaddress.ip_interface(mine[host.gateway].address).network
            via = next(i.ip for i in host.interfaces if ipaddress.ip_address(i.ip) in subnet)
            expected.add((host.loopback, via))
        assert set(BIRD_ROUTE.findall(bird)) == expected, router.name
        assert ("protocol static" in bird) == bool(expected)


def test_the_line_router_treats_both_host_links_as_stubs() -> None:
    bird = files_of(REPO / "topologies" / "line.yaml", "r", "router")["/etc/bird/bird.conf"]
    blocks = dict(BIRD_IFACE.findall(bird))
    assert set(blocks) == {"lab0", "a", "b"}
    assert all("type ptp;" in blocks[i] and "stub yes;" in blocks[i] for i in ("a", "b"))
    assert len(BIRD_ROUTE.findall(bird)) == 2


DNS_LABS = [p for p in LABS if plan_of(p).dns.servers]


@pytest.mark.parametrize("path", DNS_LABS, ids=lab_ids(DNS_LABS))
def test_zone_file_has_every_record_of_the_plan(path: Path) -> None:
    plan = plan_of(path)
    for server in plan.dns.servers:
        zone = files_of(path, server, "dns")[f"/etc/bind/db.{plan.dns.zone}"]
        lines = [line.split("\t") for line in zone.splitlines() if line and not line.startswith((";", "$"))]
        records = {(name, kind, value) for name, _, kind, value in (parts for parts in lines if parts[0] != "@")}
        assert records == {(r.name, r.type, r.value) for r in plan.dns.records}
        for node in plan.nodes:
            assert (node.name, "A", node.address) in records
            for iface in node.interfaces:
                assert (iface.dns_name, "A", iface.ip) in records
        ns = {parts[3] for parts in lines if parts[0] == "@" and parts[2] == "NS"}
        assert ns == {f"{s}.{plan.dns.zone}." for s in plan.dns.servers}


def ini(text: str) -> dict[str, list[str]]:
    """key -> values of a systemd unit file (sections ignored)."""
    values: dict[str, list[str]] = {}
    for line in text.splitlines():
        if "=" in line and not line.startswith(("#", "[")):
            key, value = line.split("=", 1)
            values.setdefault(key, []).append(value)
    return values


@pytest.mark.parametrize("path", LABS, ids=lab_ids(LABS))
def test_networkd_matches_every_interface_by_mac(path: Path) -> None:
    for node in plan_of(path).nodes:
        files = files_of(path, node.name, BASE_ROLE)
        for iface in node.interfaces:
            link = ini(files[f"/etc/systemd/network/10-lab-{iface.name}.link"])
            network = ini(files[f"/etc/systemd/network/10-lab-{iface.name}.network"])
            assert link["MACAddress"] == [iface.mac] and link["Name"] == [iface.name]
            assert network["MACAddress"] == [iface.mac] and network["Address"] == [iface.address]
        assert ini(files["/etc/systemd/network/05-lab0.network"])["Address"] == [node.loopback]
        unit_files = [p for p in files if p.startswith("/etc/systemd/network/10-lab-")]
        assert len(unit_files) == 2 * len(node.interfaces)
        macs = [ini(files[p])["MACAddress"][0] for p in unit_files if p.endswith(".link")]
        assert len(set(macs)) == len(macs)


@pytest.mark.parametrize("path", LABS, ids=lab_ids(LABS))
def test_only_the_interface_facing_the_gateway_gets_one(path: Path) -> None:
    for node in plan_of(path).nodes:
        files = files_of(path, node.name, BASE_ROLE)
        gateways = {
            iface.name: ini(files[f"/etc/systemd/network/10-lab-{iface.name}.network"]).get("Gateway", [])
            for iface in node.interfaces
        }
        if node.has("router") or node.gateway is None:
            assert all(g == [] for g in gateways.values()), node.name
            continue
        facing = [
            i.name
            for i in node.interfaces
            if ipaddress.ip_address(node.gateway) in ipaddress.ip_interface(i.address).network
        ]
        assert len(facing) == 1
        assert gateways == {name: ([node.gateway] if name in facing else []) for name in gateways}, node.name


def test_a_multi_homed_host_gets_its_gateway_on_one_lan_only() -> None:
    campus = REPO / "tests" / "golden" / "inputs" / "campus.yaml"
    backup = plan_of(campus).node("backup")
    assert len(backup.interfaces) == 2 and backup.gateway is not None
    files = files_of(campus, "backup", BASE_ROLE)
    assert "Gateway=" in files["/etc/systemd/network/10-lab-servers.network"]
    assert "Gateway=" not in files["/etc/systemd/network/10-lab-storage.network"]


@pytest.mark.parametrize("path", LABS, ids=lab_ids(LABS))
def test_resolv_conf_and_hosts_follow_the_plan(path: Path) -> None:
    plan = plan_of(path)
    for node in plan.nodes:
        files = files_of(path, node.name, BASE_ROLE)
        resolv = files["/etc/resolv.conf"]
        assert re.findall(r"^nameserver (\S+)$", resolv, re.M) == list(plan.dns.server_addresses)
        assert f"search {plan.domain}\n" in resolv
        hosts = files["/etc/hosts"]
        assert f"{node.address}\t{node.fqdn} {node.name}\n" in hosts
        listed = {line.split("\t")[1].split()[-1] for line in hosts.splitlines() if line and line[0].isdigit()}
        if plan.dns.servers:
            assert listed == {"localhost", node.name}
        else:
            assert listed == {"localhost", *(n.name for n in plan.nodes)}
        assert files["/etc/hostname"] == node.name + "\n"


@pytest.mark.parametrize("path", LABS, ids=lab_ids(LABS))
def test_base_ready_probe_checks_every_planned_address(path: Path) -> None:
    for node in plan_of(path).nodes:
        ready = rendered(path)[node.name][BASE_ROLE].ready
        assert ready is not None
        for iface in node.interfaces:
            assert f"dev {iface.name} | grep -q 'inet {iface.address} '" in ready.command
        assert f"'inet {node.loopback} '" in ready.command
