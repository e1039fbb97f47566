"""labctl.topology.schema: what a valid topology becomes, and rules best shown next to a passing case."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from labctl.errors import TopologyError
from labctl.roles import catalogue
from labctl.topology.model import Netem, Topology
from labctl.topology.schema import BUILTIN_MEMORY_MIB, load_topology

TopologyLoader = Callable[[str], Topology]

REPO = Path(__file__).resolve().parents[3]


def problems(topology: TopologyLoader, text: str) -> list[str]:
    with pytest.raises(TopologyError) as caught:
        topology(text)
    return [str(p) for p in caught.value.problems]


@pytest.mark.parametrize("path", sorted((REPO / "topologies").glob("*.yaml")), ids=lambda p: p.stem)
def test_shipped_topologies_are_valid(path: Path) -> None:
    topo = load_topology(path)
    assert topo.name == path.stem
    assert topo.source == path


def test_defaults_apply_and_nodes_override(topology: TopologyLoader) -> None:
    topo = topology(
        """\
        name: lab
        defaults: {memory: 300, image: custom}
        nodes:
          r: {roles: [router], vcpus: 2}
          h: {memory: 128}
        links: [[r, h]]
        """
    )
    r, h = topo.nodes
    assert (r.roles, r.memory, r.vcpus, r.image) == (("router",), 300, 2, "custom")
    assert (h.roles, h.memory, h.vcpus, h.image) == (("host",), 128, 1, "custom")
    assert topo.domain == "lab.lab"
    assert topo.description == ""
    assert topo.sip is None
    assert topo.demo is None


def test_memory_is_the_node_s_then_the_topology_default_then_the_largest_its_roles_declare(tmp_path: Path) -> None:
    declared = {"host": "memory: 200\n", "pbx": "memory: 700\n", "small": "memory: 150\n", "bare": ""}
    for role, manifest in declared.items():
        (tmp_path / role).mkdir()
        (tmp_path / role / "recipe.yaml").write_text("description: d\n" + manifest)
    roles = catalogue(tmp_path)
    nodes = "nodes: {a: {}, b: {roles: [small, pbx]}, c: {roles: [bare]}, d: {roles: [pbx], memory: 128}}\n"
    nodes += "lans: {net: [a, b, c, d]}\n"
    by_roles = load_topology(Path("t.yaml"), "name: lab\n" + nodes, roles)
    assert [n.memory for n in by_roles.nodes] == [200, 700, BUILTIN_MEMORY_MIB, 128]
    by_default = load_topology(Path("t.yaml"), "name: lab\ndefaults: {memory: 300}\n" + nodes, roles)
    assert [n.memory for n in by_default.nodes] == [300, 300, 300, 128]


def test_the_shipped_roles_size_the_voip_demo_from_measurement() -> None:
    topo = load_topology(REPO / "topologies" / "voip-demo.yaml")
    assert {n.name: n.memory for n in topo.nodes} == {
        "r1": 256, "r2": 256, "infra": 256, "proxy": 256, "pbx": 512,
        "alice": 256, "bob": 256, "carol": 256, "dave": 256,
    }  # fmt: skip


def test_link_forms_and_netem(topology: TopologyLoader) -> None:
    topo = topology(
        """\
        name: lab
        nodes: {r: {roles: [router]}, a: {}, b: {}}
        links:
          - [r, a]
          - {endpoints: [r, b], delay: 20ms, jitter: 2ms, loss: 0.1%}
        lans:
          wifi: {nodes: [a, b, r], loss: 100%}
        """
    )
    assert [(link.a, link.b) for link in topo.links] == [("r", "a"), ("r", "b")]
    assert topo.links[0].netem == Netem()
    assert topo.links[1].netem == Netem(delay="20ms", jitter="2ms", loss="0.1%")
    assert topo.lans[0].members == ("a", "b", "r")
    assert topo.lans[0].netem == Netem(loss="100%")


def test_node_names_yaml_reads_as_booleans_keep_their_names(topology: TopologyLoader) -> None:
    topo = topology(
        """\
        name: lab
        nodes: {r: {roles: [router]}, no: {}, on: {}}
        links: [[r, no]]
        lans:
          office: [r, on]
        """
    )
    assert [n.name for n in topo.nodes] == ["r", "no", "on"]
    assert topo.links[0].b == "no"
    assert topo.lans[0].members == ("r", "on")


def test_yaml_merge_shares_node_settings(topology: TopologyLoader) -> None:
    topo = topology(
        """\
        name: lab
        nodes:
          r1: &router {roles: [router], memory: 512}
          r2: {<<: *router, memory: 1024}
        links: [[r1, r2]]
        """
    )
    assert [(n.roles, n.memory) for n in topo.nodes] == [(("router",), 512), (("router",), 1024)]


def test_sip_extensions_keep_their_digits(topology: TopologyLoader) -> None:
    topo = topology(
        """\
        name: lab
        nodes: {dir: {roles: [ldap]}, pbx: {roles: [freeswitch]}}
        links: [[dir, pbx]]
        sip:
          domain: voip.lab
          users:
            a: {password: secret, extension: 0100}
            b: {password: secret, extension: 100}
        """
    )
    assert topo.sip is not None
    assert [u.extension for u in topo.sip.users] == ["0100", "100"]


def lan_of(size: int) -> str:
    hosts = "".join(f"  h{i}: {{}}\n" for i in range(size - 1))
    members = ", ".join(f"h{i}" for i in range(size - 1))
    head = "name: big\naddressing: {loopback: 10.0.0.0/23}\nnodes:\n  r: {roles: [router]}\n"
    return f"{head}{hosts}lans:\n  big: [r, {members}]\n"


def test_a_lan_holds_254_nodes_and_no_more(topology: TopologyLoader) -> None:
    assert len(topology(lan_of(254)).lans[0].members) == 254
    assert problems(topology, lan_of(255)) == ["test.yaml:260: LAN 'big' has 255 nodes; a /24 holds at most 254"]


@pytest.mark.parametrize(
    ("pools", "expected"),
    [
        ("{loopback: 10.0.0.0/24, p2p: 10.0.0.128/25}", "address pool p2p 10.0.0.128/25 overlaps pool loopback"),
        ("{lan: 10.0.0.0/8}", "address pool lan 10.0.0.0/8 overlaps pool loopback 10.0.0.0/24"),
        ("{p2p: 10.1.0.0/24, lan: 10.1.0.0/24}", "address pool lan 10.1.0.0/24 overlaps pool p2p 10.1.0.0/24"),
    ],
)
def test_overlapping_pools_are_refused(topology: TopologyLoader, pools: str, expected: str) -> None:
    text = f"name: lab\nnodes: {{r: {{roles: [router]}}, a: {{}}}}\nlinks: [[r, a]]\naddressing: {pools}\n"
    assert any(expected in problem for problem in problems(topology, text))


def test_adjacent_pools_do_not_overlap(topology: TopologyLoader) -> None:
    topo = topology(
        """\
        name: lab
        nodes: {r: {roles: [router]}, a: {}}
        links: [[r, a]]
        addressing: {loopback: 10.0.0.0/25, p2p: 10.0.0.128/25, lan: 10.0.1.0/24}
        """
    )
    assert topo.addressing.p2p == "10.0.0.128/25"


def test_every_problem_is_reported_in_file_order(topology: TopologyLoader) -> None:
    found = problems(
        topology,
        """\
        name: Lab
        nodes:
          a: {memory: 0, vcpus: 0}
          b: {roles: [rooter]}
        links: [[a, c]]
        """,
    )
    assert found == [
        "test.yaml:1: lab name 'Lab' must be a DNS label: a lowercase letter, then letters, digits or '-'",
        "test.yaml:3: memory (MiB) must be at least 64, not 0",
        "test.yaml:3: vcpus must be at least 1, not 0",
        "test.yaml:4: unknown role 'rooter' (did you mean 'router'?)",
        "test.yaml:5: unknown node 'c' in link (expected one of: a, b)",
    ]


def test_two_hosts_on_one_lan_need_no_router(topology: TopologyLoader) -> None:
    topo = topology("name: lab\nnodes: {a: {}, b: {}}\nlans: {office: [a, b]}\n")
    assert [n.roles for n in topo.nodes] == [("host",), ("host",)]


def test_a_single_node_needs_no_segment(topology: TopologyLoader) -> None:
    assert len(topology("name: lab\nnodes: {solo: {}}\n").nodes) == 1


def test_hosts_do_not_forward(topology: TopologyLoader) -> None:
    (problem,) = problems(topology, "name: lab\nnodes: {a: {}, b: {}, c: {}}\nlinks: [[a, b], [b, c]]\n")
    assert "no router joins that segment to the others" in problem


def test_a_desktop_node_gets_the_desktop_role_image_and_memory(topology: TopologyLoader) -> None:
    topo = topology(
        """\
        name: lab
        defaults: {image: custom}
        nodes:
          a: {roles: [router], desktop: true}
          b: {desktop: {sound: file}, image: mine}
          c: {desktop: false}
        lans: {net: [a, b, c]}
        """
    )
    a, b, c = (topo.node(n) for n in "abc")
    assert a.roles == ("router", "desktop") and a.image == "debian12-desktop" and a.desktop is not None
    assert a.desktop.sound == "spice" and a.memory == 512  # the desktop role's, larger than the router's
    assert b.roles == ("host", "desktop") and b.image == "mine" and b.desktop is not None
    assert b.desktop.sound == "file"
    assert c.desktop is None and c.roles == ("host",) and c.image == "custom"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("yes-please", "desktop of 'a' is true, false or a mapping such as {sound: file}, not 'yes-please'"),
        ("{sound: hdmi}", "unknown sound 'hdmi' (expected one of: file, spice)"),
        ("{sund: file}", "unknown key 'sund' in desktop of 'a' (did you mean 'sound'?)"),
        ("null", "desktop of 'a' is true, false or a mapping such as {sound: file}, not empty"),
    ],
)
def test_a_bad_desktop_is_refused_with_its_line(topology: TopologyLoader, value: str, expected: str) -> None:
    found = problems(topology, f"name: lab\nnodes:\n  a:\n    desktop: {value}\n")
    assert len(found) == 1 and found[0].endswith(f":4: {expected}"), found
